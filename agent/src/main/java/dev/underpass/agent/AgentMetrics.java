package dev.underpass.agent;

import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.DialError;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.StreamRelay;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;

/**
 * The agent's Prometheus metrics, labelled by target: the allowlist bounds their number, so no
 * label can grow with traffic.
 */
final class AgentMetrics implements HealthChecker.Listener {
    private final MeterRegistry registry;
    private final AtomicInteger sessions = new AtomicInteger();
    /** Per check id: 1 healthy, 0 unhealthy; removed while initial or stopped. */
    private final Map<String, AtomicInteger> health = new ConcurrentHashMap<>();

    AgentMetrics(MeterRegistry registry, IntSupplier activeStreams) {
        this.registry = registry;
        Gauge.builder("underpass.agent.sessions", sessions, AtomicInteger::get)
                .description("1 while a session with the gateway is established").register(registry);
        Gauge.builder("underpass.agent.streams.active", activeStreams, IntSupplier::getAsInt)
                .strongReference(true) // a method reference held by nobody else: a weak one would be collected
                .description("Connections being dialled or relayed").register(registry);
    }

    void sessionUp(boolean up) {
        sessions.set(up ? 1 : 0);
    }

    void dialled(HostAndPort target, long nanos) {
        Timer.builder("underpass.agent.dial").tag("target", target.toString())
                .description("Time to connect to a target (stream set-up on the agent)")
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofNanos(50_000)).maximumExpectedValue(Duration.ofSeconds(30))
                .register(registry).record(Duration.ofNanos(nanos));
    }

    void dialFailed(HostAndPort target, DialError error) {
        Counter.builder("underpass.agent.dial.failures").tags("target", target.toString(), "reason", error.name())
                .description("Dials that failed, by reason").register(registry).increment();
    }

    void ended(HostAndPort target, StreamRelay relay, StreamRelay.Outcome outcome) {
        Counter.builder("underpass.agent.streams").tags("target", target.toString(),
                        "outcome", outcome.name().toLowerCase(Locale.ROOT))
                .description("Connections relayed, by how they ended").register(registry).increment();
        Counter.builder("underpass.agent.stream.bytes").baseUnit("bytes")
                .tags("target", target.toString(), "direction", "to_target")
                .register(registry).increment(relay.bytesFromStream());
        Counter.builder("underpass.agent.stream.bytes").baseUnit("bytes")
                .tags("target", target.toString(), "direction", "to_gateway")
                .register(registry).increment(relay.bytesFromSocket());
    }

    @Override
    public void verdict(ControlMessage.Check check, Boolean healthy) {
        if (healthy == null) {
            AtomicInteger gone = health.remove(check.id());
            if (gone != null) {
                registry.find("underpass.agent.target.healthy").tag("check", check.id()).meters()
                        .forEach(registry::remove);
            }
            return;
        }
        health.computeIfAbsent(check.id(), id -> {
            AtomicInteger v = new AtomicInteger();
            Gauge.builder("underpass.agent.target.healthy", v, AtomicInteger::get)
                    .tags("check", id, "target", check.target())
                    .description("1 when the target passes its health check, 0 when it fails").register(registry);
            return v;
        }).set(healthy ? 1 : 0);
    }
}
