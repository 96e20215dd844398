/** The gateway's keys and certificates: its server certificate (generated or the operator's) and the CA that signs enrolled agents' client certificates. */
package dev.underpass.gateway.pki;
