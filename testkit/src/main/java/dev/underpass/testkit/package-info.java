/**
 * Test fixtures: small real servers on port 0 (echo, hashing sink, data source, a paced source
 * held at a gate, an HTTP target with a switchable health endpoint, HTTP CONNECT proxy, a TCP
 * relay that can freeze) and handles on real gateway and agent processes. Each records its own failures.
 * And the API's contract check ({@link dev.underpass.testkit.ApiContract}), which every API test's exchange passes.
 */
package dev.underpass.testkit;
