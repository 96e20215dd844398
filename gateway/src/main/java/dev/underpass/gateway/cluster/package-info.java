/**
 * The gateway cluster (docs/cluster.md): this node's heartbeat in the shared store and its view of
 * the other nodes, the relay of consumer connections to peer nodes whose agents carry them, and
 * changes made on one node reaching the others.
 */
package dev.underpass.gateway.cluster;
