package dev.underpass.benchmarks;

import dev.underpass.telemetry.ControlCharacters;
import dev.underpass.telemetry.SecretMasker;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What the logging layer's masking costs per line: every line of the gateway and agent goes
 * through {@link SecretMasker} and {@link ControlCharacters} (docs/adr/0011-secret-masking.md),
 * so a tunnelled connection pays it once per side for its closing line.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class LogMaskingBenchmark {
    /** The gateway's line for one tunnelled connection: no secret in it, the common case. */
    private final String connectionLine = "connection 4972 endpoint=ep-c88d5a1d98c07650 port=7 from=/127.0.0.1:49282"
            + " target=127.0.0.1:15101 session=1 closed: COMPLETED sent=1 received=1 duration=2ms";

    /** A line that holds a secret by its format (an agent token) and by its name. */
    private final String secretLine =
            "agent rejected: token upa_Zm9vYmFyYmF6cXV1eDEyMzQ1Njc4OTA from 10.0.0.7," + " password=hunter2hunter2";

    @Benchmark
    public String connectionLine() {
        return ControlCharacters.escape(SecretMasker.mask(connectionLine));
    }

    @Benchmark
    public String lineWithSecrets() {
        return ControlCharacters.escape(SecretMasker.mask(secretLine));
    }
}
