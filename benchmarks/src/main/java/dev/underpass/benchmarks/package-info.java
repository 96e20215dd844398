/**
 * JMH benchmarks of the data path's hot code (docs/benchmarks.md). They measure code in memory,
 * without TLS, sockets or another process: what one tunnelled connection costs in the agent
 * link's HTTP/2 framing ({@link StreamFramingBenchmark}), a control message
 * ({@link ControlCodecBenchmark}) and a log line's masking ({@link LogMaskingBenchmark}).
 * bench/jmh.sh runs them.
 */
package dev.underpass.benchmarks;
