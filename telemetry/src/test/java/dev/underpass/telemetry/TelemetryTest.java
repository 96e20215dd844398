package dev.underpass.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import io.micrometer.core.instrument.Counter;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class TelemetryTest {
    @Test
    void bindsJvmAndProcessMeters() {
        try (Telemetry telemetry = Telemetry.create()) {
            String scrape = telemetry.registry().scrape();
            assertThat(scrape)
                    .contains(
                            "jvm_memory_used_bytes{",
                            "jvm_buffer_memory_used_bytes{",
                            "jvm_gc_",
                            "jvm_threads_live_threads ",
                            "process_cpu_usage ",
                            "process_uptime_seconds ",
                            "process_files_open_files ",
                            "process_files_max_files ");
        }
    }

    @Test
    void limitsDistinctTagValuesAndWarnsOnce() {
        try (LogCapture log = new LogCapture(Telemetry.class.getName());
                Telemetry telemetry = Telemetry.create(Telemetry.limitTagValues("underpass.endpoint.", "service", 3))) {
            for (int i = 1; i <= 10; i++) {
                Counter.builder("underpass.endpoint.connections")
                        .tag("service", "svc-" + i)
                        .register(telemetry.registry())
                        .increment(i);
                // The limit counts values across every meter under the prefix.
                Counter.builder("underpass.endpoint.refused")
                        .tag("service", "svc-" + i)
                        .register(telemetry.registry())
                        .increment();
            }
            // An admitted value keeps working, also for a meter registered later.
            Counter.builder("underpass.endpoint.connections")
                    .tag("service", "svc-2")
                    .register(telemetry.registry())
                    .increment(5);
            // Not under the prefix: not limited.
            for (int i = 1; i <= 5; i++) {
                Counter.builder("underpass.agent.dials")
                        .tag("service", "svc-" + i)
                        .register(telemetry.registry())
                        .increment();
            }

            List<String> series = lines(telemetry.registry().scrape(), "underpass_endpoint_connections_total{");
            assertThat(series)
                    .containsExactlyInAnyOrder(
                            "underpass_endpoint_connections_total{service=\"svc-1\"} 1.0",
                            "underpass_endpoint_connections_total{service=\"svc-2\"} 7.0",
                            "underpass_endpoint_connections_total{service=\"svc-3\"} 3.0");
            assertThat(lines(telemetry.registry().scrape(), "underpass_endpoint_refused_total{"))
                    .hasSize(3);
            assertThat(lines(telemetry.registry().scrape(), "underpass_agent_dials_total{"))
                    .hasSize(5);

            List<ILoggingEvent> warnings = log.events().stream()
                    .filter(e -> e.getLevel() == Level.WARN)
                    .toList();
            assertThat(warnings).hasSize(1);
            assertThat(warnings.get(0).getFormattedMessage())
                    .contains("meter underpass.endpoint.connections", "tag service", "limit of 3");
        }
    }

    @Test
    void metersWithoutTheTagAreNotLimited() {
        try (Telemetry telemetry = Telemetry.create(Telemetry.limitTagValues("underpass.", "service", 1))) {
            Counter.builder("underpass.streams")
                    .tag("service", "a")
                    .register(telemetry.registry())
                    .increment();
            Counter.builder("underpass.streams")
                    .tag("service", "b")
                    .register(telemetry.registry())
                    .increment();
            Counter.builder("underpass.sessions").register(telemetry.registry()).increment();
            String scrape = telemetry.registry().scrape();
            assertThat(lines(scrape, "underpass_streams_total{")).hasSize(1);
            assertThat(scrape).contains("underpass_sessions_total 1.0");
        }
    }

    @Test
    void rejectsNonsenseLimits() {
        assertThatThrownBy(() -> Telemetry.limitTagValues("x", "service", 0))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Telemetry.limitTagValues("x", " ", 5)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Telemetry.limitTagValues(null, "service", 5)).isInstanceOf(NullPointerException.class);
    }

    static List<String> lines(String scrape, String prefix) {
        return Arrays.stream(scrape.split("\n"))
                .filter(l -> l.startsWith(prefix))
                .toList();
    }
}
