package dev.underpass.agent.metrics;

import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.DialError;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.StreamRelay;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;

/**
 * The agent's Prometheus metrics, labelled by target: the allowlist bounds their number, so no
 * label can grow with traffic.
 */
public final class AgentMetrics {
    private final MeterRegistry registry;
    private final AtomicInteger sessions = new AtomicInteger();
    /** Per check id: 1 healthy, 0 unhealthy; removed while initial or stopped. */
    private final Map<String, AtomicInteger> health = new ConcurrentHashMap<>();

    private final Map<HostAndPort, TargetMeters> targets = new ConcurrentHashMap<>();

    public AgentMetrics(MeterRegistry registry) {
        this.registry = registry;
        Gauge.builder("underpass.agent.sessions", sessions, AtomicInteger::get)
                .description("Sessions established with the gateway's nodes (one per link)")
                .register(registry);
    }

    /**
     * Registers the gauge of connections being dialled or relayed; the dialer, which counts them
     * (a draining agent waits for that count), calls it once as it is built.
     */
    public void registerActiveStreams(IntSupplier activeStreams) {
        Gauge.builder("underpass.agent.streams.active", activeStreams, IntSupplier::getAsInt)
                .strongReference(true) // a method reference held by nobody else: a weak one would be collected
                .description("Connections being dialled or relayed")
                .register(registry);
    }

    /** A link's session started ({@code up}) or ended. */
    public void sessionUp(boolean up) {
        if (up) {
            sessions.incrementAndGet();
        } else {
            sessions.decrementAndGet();
        }
    }

    /** The meters of one target, looked up once: a connection only finds them in a map. */
    private final class TargetMeters {
        final Timer dial;
        final Map<StreamRelay.Outcome, Counter> ended = new EnumMap<>(StreamRelay.Outcome.class);
        final Counter toTarget;
        final Counter toGateway;

        TargetMeters(String target) {
            dial = Timer.builder("underpass.agent.dial")
                    .tag("target", target)
                    .description("Time to connect to a target (stream set-up on the agent)")
                    .publishPercentileHistogram()
                    .minimumExpectedValue(Duration.ofNanos(50_000))
                    .maximumExpectedValue(Duration.ofSeconds(30))
                    .register(registry);
            for (StreamRelay.Outcome o : StreamRelay.Outcome.values()) {
                ended.put(
                        o,
                        Counter.builder("underpass.agent.streams")
                                .tags("target", target, "outcome", o.name().toLowerCase(Locale.ROOT))
                                .description("Connections relayed, by how they ended")
                                .register(registry));
            }
            toTarget = bytes(target, "to_target");
            toGateway = bytes(target, "to_gateway");
        }

        private Counter bytes(String target, String direction) {
            return Counter.builder("underpass.agent.stream.bytes")
                    .baseUnit("bytes")
                    .tags("target", target, "direction", direction)
                    .description("Bytes relayed between the gateway and targets")
                    .register(registry);
        }
    }

    private TargetMeters of(HostAndPort target) {
        return targets.computeIfAbsent(target, t -> new TargetMeters(t.toString()));
    }

    public void dialled(HostAndPort target, long nanos) {
        of(target).dial.record(Duration.ofNanos(nanos));
    }

    public void dialFailed(HostAndPort target, DialError error) {
        Counter.builder("underpass.agent.dial.failures")
                .tags("target", target.toString(), "reason", error.name())
                .description("Dials that failed, by reason")
                .register(registry)
                .increment();
    }

    public void ended(HostAndPort target, StreamRelay relay, StreamRelay.Outcome outcome) {
        TargetMeters m = of(target);
        m.ended.get(outcome).increment();
        m.toTarget.increment(relay.bytesFromStream());
        m.toGateway.increment(relay.bytesFromSocket());
    }

    /** A health check's verdict: healthy, unhealthy, or null once it is initial again or stopped. */
    public void verdict(ControlMessage.Check check, Boolean healthy) {
        if (healthy == null) {
            AtomicInteger gone = health.remove(check.id());
            if (gone != null) {
                registry.find("underpass.agent.target.healthy")
                        .tag("check", check.id())
                        .meters()
                        .forEach(registry::remove);
            }
            return;
        }
        health.computeIfAbsent(check.id(), id -> {
                    AtomicInteger v = new AtomicInteger();
                    Gauge.builder("underpass.agent.target.healthy", v, AtomicInteger::get)
                            .tags("check", id, "target", check.target())
                            .description("1 when the target passes its health check, 0 when it fails")
                            .register(registry);
                    return v;
                })
                .set(healthy ? 1 : 0);
    }
}
