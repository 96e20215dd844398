/** The control plane's database: connection, schema migrations, query access. */
package dev.underpass.controlplane.store;
