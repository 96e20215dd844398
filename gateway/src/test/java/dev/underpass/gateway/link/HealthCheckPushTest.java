package dev.underpass.gateway.link;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.gateway.observe.GatewayMetrics;
import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.Protocol;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.http2.Http2DataFrame;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The health checks sent to one agent always fit one control message line. */
class HealthCheckPushTest {
    private static List<ControlMessage.Check> checks(int n, String path) {
        List<ControlMessage.Check> checks = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            checks.add(new ControlMessage.Check(
                    "service-" + i + ":443/target-" + i + ".corp.example:443",
                    "target-" + i + ".corp.example:443",
                    "https",
                    path,
                    "200-399",
                    10_000,
                    5_000,
                    3,
                    2));
        }
        return checks;
    }

    @Test
    void checksWithLongPathsAreCutAtTheLineLimitAndTheRestStillDecodes() {
        List<ControlMessage.Check> sent = HealthCheckPush.fitting(checks(256, "/" + "p".repeat(1023)));
        assertThat(sent).hasSizeBetween(40, 255);
        Http2DataFrame frame = ControlCodec.frame(ByteBufAllocator.DEFAULT, new ControlMessage.HealthChecks(sent));
        try {
            int line = frame.content().readableBytes() - 1;
            assertThat(line).isLessThanOrEqualTo(Protocol.MAX_CONTROL_MESSAGE_BYTES);
            ControlMessage decoded =
                    ControlCodec.decode(frame.content().slice(frame.content().readerIndex(), line));
            assertThat(decoded).isEqualTo(new ControlMessage.HealthChecks(sent));
        } finally {
            frame.release();
        }
    }

    @Test
    void aFewChecksGoAsTheyAre() {
        List<ControlMessage.Check> few = checks(3, "/healthz");
        assertThat(HealthCheckPush.fitting(few)).isEqualTo(few);
        assertThat(HealthCheckPush.fitting(List.of())).isEmpty();
    }

    @Test
    void aTargetsHealthGaugeIsRegisteredOnceAndReadsTheLatestCheck() {
        // Issue 12: each agent connection logged "This Gauge has been already registered", and the
        // gauge went on reading the check it was first registered with.
        var registry = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        GatewayMetrics metrics = new GatewayMetrics(registry, () -> 0);

        metrics.targetHealth("acme/git", "git.corp:443", () -> 1);
        metrics.targetHealth("acme/git", "git.corp:443", () -> 2); // the service's check changed

        var gauges = registry.find(GatewayMetrics.TARGET_HEALTHY).gauges();
        assertThat(gauges).hasSize(1);
        assertThat(gauges.iterator().next().value()).isEqualTo(2.0);
    }
}
