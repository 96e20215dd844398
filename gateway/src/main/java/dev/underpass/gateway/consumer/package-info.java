/** Where consumers come in: endpoint ports and their provisioner, consumer routes and limits, and the TLS listener that routes by server name; each connection is handed to the agent link. */
package dev.underpass.gateway.consumer;
