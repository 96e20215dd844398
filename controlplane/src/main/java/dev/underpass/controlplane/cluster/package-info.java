/**
 * The gateway cluster's shared state: the nodes that share the store, their heartbeats and what
 * their agents serve (docs/cluster.md).
 */
package dev.underpass.controlplane.cluster;
