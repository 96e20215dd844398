package dev.underpass.benchmarks;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.protocol.ControlMessage;
import org.junit.jupiter.api.Test;

/** Each benchmark does the work it claims to measure, untimed, so that a change cannot hollow one out. */
class BenchmarksRunTest {
    @Test
    void everyConnectionOfTheFramingBenchmarkCompletesBothWays() {
        StreamFramingBenchmark framing = new StreamFramingBenchmark();
        framing.link();
        try {
            for (int i = 0; i < 2_000; i++) { // more streams than one batch of stream ids would hide
                assertThat(framing.connection()).isEqualTo(2);
            }
        } finally {
            framing.close();
        }
    }

    @Test
    void theCodecBenchmarkEncodesAndDecodesTheOpenMessage() {
        ControlCodecBenchmark codec = new ControlCodecBenchmark();
        assertThat(codec.encode()).isGreaterThan(20);
        assertThat(codec.decode()).isEqualTo(new ControlMessage.Open(4972, "127.0.0.1:15101"));
    }

    @Test
    void theMaskingBenchmarkMasksOnlyTheLineWithSecrets() {
        LogMaskingBenchmark masking = new LogMaskingBenchmark();
        assertThat(masking.connectionLine()).contains("connection 4972").doesNotContain("****");
        assertThat(masking.lineWithSecrets()).contains("upa_****").doesNotContain("hunter2");
    }
}
