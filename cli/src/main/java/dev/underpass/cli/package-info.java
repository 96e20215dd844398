/** The {@code underpass} command line: gateway, agent and demo, and the control-plane commands, clients of the REST API. */
package dev.underpass.cli;
