/**
 * Test fixtures: small real servers on port 0 (echo, hashing sink, data source, HTTP CONNECT
 * proxy) and handles on real gateway and agent processes. Each records its own failures.
 */
package dev.underpass.testkit;
