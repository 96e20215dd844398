package dev.underpass.gateway.observe;

import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.protocol.StreamRelay;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.DoubleSupplier;
import java.util.function.IntSupplier;

/**
 * The gateway's Prometheus metrics. Connections are labelled by service ({@code provider/name})
 * and endpoint id; the number of distinct values of each label is capped where the registry is
 * made, so a tenant creating endpoints in a loop cannot grow the scrape without bound. Each
 * endpoint's meters are looked up once and kept: a connection only finds them in a map.
 */
public final class GatewayMetrics {
    static final String STREAMS = "underpass.streams";
    static final String STREAMS_ACTIVE = "underpass.streams.active";
    static final String BYTES = "underpass.stream.bytes";
    static final String DIAL_FAILURES = "underpass.dial.failures";
    static final String SETUP = "underpass.stream.setup";
    static final String SESSIONS = "underpass.agent.sessions";
    public static final String TARGET_HEALTHY = "underpass.target.healthy.agents";

    private final MeterRegistry registry;
    private final Map<String, EndpointMeters> endpoints = new ConcurrentHashMap<>();
    /** What each target health gauge reads, by service and target. */
    private final Map<List<String>, AtomicReference<DoubleSupplier>> healthGauges = new ConcurrentHashMap<>();

    /** {@code liveSessions} reads the number of live agent sessions at each scrape. */
    public GatewayMetrics(MeterRegistry registry, IntSupplier liveSessions) {
        this.registry = registry;
        Gauge.builder(SESSIONS, liveSessions, IntSupplier::getAsInt)
                .strongReference(true) // a lambda held by nobody else: a weak reference would be collected (NaN)
                .description("Live agent sessions")
                .register(registry);
    }

    /** The meters of one endpoint of one service. */
    private final class EndpointMeters {
        final AtomicInteger active = new AtomicInteger();
        final Map<StreamRelay.Outcome, Counter> ended = new EnumMap<>(StreamRelay.Outcome.class);
        final Counter toConsumer;
        final Counter toTarget;
        final Timer setup;

        EndpointMeters(String service, String endpoint) {
            Tags tags = Tags.of("service", service, "endpoint", endpoint);
            Gauge.builder(STREAMS_ACTIVE, active, AtomicInteger::get)
                    .tags(tags)
                    .description("Consumer connections being relayed")
                    .register(registry);
            for (StreamRelay.Outcome o : StreamRelay.Outcome.values()) {
                ended.put(
                        o,
                        Counter.builder(STREAMS)
                                .tags(tags)
                                .tag("outcome", o.name().toLowerCase(Locale.ROOT))
                                .description("Consumer connections relayed, by how they ended")
                                .register(registry));
            }
            toConsumer = bytes(tags, "to_consumer");
            toTarget = bytes(tags, "to_target");
            setup = Timer.builder(SETUP)
                    .tags("service", service)
                    .description("From a consumer's accept to its data stream's answer")
                    .publishPercentileHistogram()
                    .minimumExpectedValue(Duration.ofNanos(100_000))
                    .maximumExpectedValue(Duration.ofSeconds(30))
                    .register(registry);
        }

        private Counter bytes(Tags tags, String direction) {
            return Counter.builder(BYTES)
                    .baseUnit("bytes")
                    .tags(tags)
                    .tag("direction", direction)
                    .description("Bytes relayed between consumers and targets")
                    .register(registry);
        }
    }

    private EndpointMeters of(EndpointRoute r) {
        return endpoints.computeIfAbsent(r.endpoint(), e -> new EndpointMeters(r.service(), e));
    }

    /** A connection's data stream was answered: it is relaying from now on. */
    public void started(EndpointRoute r, long acceptedNanos) {
        EndpointMeters m = of(r);
        m.active.incrementAndGet();
        m.setup.record(Duration.ofNanos(System.nanoTime() - acceptedNanos));
    }

    /** A relayed connection ended. */
    public void ended(EndpointRoute r, StreamRelay relay, StreamRelay.Outcome outcome) {
        EndpointMeters m = of(r);
        m.active.decrementAndGet();
        m.ended.get(outcome).increment();
        m.toConsumer.increment(relay.bytesFromStream());
        m.toTarget.increment(relay.bytesFromSocket());
    }

    /**
     * A consumer connection that could not be carried: {@code reason} is a DialError name or one of
     * no_agent, all_unhealthy, draining, gateway_timeout, session_lost (a short, fixed set).
     */
    public void dialFailed(EndpointRoute r, String reason) {
        Counter.builder(DIAL_FAILURES)
                .tags("service", r.service(), "reason", reason)
                .description("Consumer connections that could not reach a target")
                .register(registry)
                .increment();
    }

    /**
     * The gauge of the agents that report a target healthy, read at each scrape: registered once per
     * service and target, and {@code healthyAgents} replaces what it reads, since a target's check
     * (its id) changes with the service (issue 12: a second registration only logged a WARN, and the
     * gauge kept reading the first check).
     */
    public void targetHealth(String service, String target, DoubleSupplier healthyAgents) {
        healthGauges
                .computeIfAbsent(List.of(service, target), key -> {
                    AtomicReference<DoubleSupplier> read = new AtomicReference<>(healthyAgents);
                    Gauge.builder(TARGET_HEALTHY, read, r -> r.get().getAsDouble())
                            .tags("service", service, "target", target)
                            .description("Agent sessions that report the target healthy")
                            .register(registry);
                    return read;
                })
                .set(healthyAgents);
    }
}
