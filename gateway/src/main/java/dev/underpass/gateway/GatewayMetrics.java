package dev.underpass.gateway;

import dev.underpass.protocol.StreamRelay;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.ToDoubleFunction;

/**
 * The gateway's Prometheus metrics. Connections are labelled by service ({@code provider/name})
 * and endpoint id; the number of distinct values of each label is capped where the registry is
 * made, so a tenant creating endpoints in a loop cannot grow the scrape without bound.
 */
final class GatewayMetrics {
    static final String STREAMS = "underpass.streams";
    static final String STREAMS_ACTIVE = "underpass.streams.active";
    static final String BYTES = "underpass.stream.bytes";
    static final String DIAL_FAILURES = "underpass.dial.failures";
    static final String SETUP = "underpass.stream.setup";
    static final String SESSIONS = "underpass.agent.sessions";
    static final String TARGET_HEALTHY = "underpass.target.healthy.agents";

    private final MeterRegistry registry;
    private final Map<Tags, AtomicInteger> active = new ConcurrentHashMap<>();

    GatewayMetrics(MeterRegistry registry, AgentRegistry agents) {
        this.registry = registry;
        Gauge.builder(SESSIONS, agents, a -> a.all().size())
                .description("Live agent sessions")
                .register(registry);
    }

    private static Tags of(EndpointRoute r) {
        return Tags.of("service", r.service(), "endpoint", r.endpoint());
    }

    /** A connection's data stream was answered: it is relaying from now on. */
    void started(EndpointRoute r, long acceptedNanos) {
        Tags tags = of(r);
        active.computeIfAbsent(tags, t -> {
            AtomicInteger n = new AtomicInteger();
            Gauge.builder(STREAMS_ACTIVE, n, AtomicInteger::get).tags(t)
                    .description("Consumer connections being relayed").register(registry);
            return n;
        }).incrementAndGet();
        Timer.builder(SETUP).tags("service", r.service())
                .description("From a consumer's accept to its data stream's answer")
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofNanos(100_000)).maximumExpectedValue(Duration.ofSeconds(30))
                .register(registry).record(Duration.ofNanos(System.nanoTime() - acceptedNanos));
    }

    /** A relayed connection ended. */
    void ended(EndpointRoute r, StreamRelay relay, StreamRelay.Outcome outcome) {
        Tags tags = of(r);
        AtomicInteger n = active.get(tags);
        if (n != null) {
            n.decrementAndGet();
        }
        Counter.builder(STREAMS).tags(tags).tag("outcome", outcome.name().toLowerCase(java.util.Locale.ROOT))
                .description("Consumer connections relayed, by how they ended").register(registry).increment();
        bytes(tags, "to_consumer", relay.bytesFromStream());
        bytes(tags, "to_target", relay.bytesFromSocket());
    }

    private void bytes(Tags tags, String direction, long n) {
        Counter.builder(BYTES).baseUnit("bytes").tags(tags).tag("direction", direction)
                .description("Bytes relayed between consumers and targets").register(registry).increment(n);
    }

    /**
     * A consumer connection that could not be carried: {@code reason} is a DialError name or one of
     * no_agent, all_unhealthy, gateway_timeout, session_lost (a short, fixed set).
     */
    void dialFailed(EndpointRoute r, String reason) {
        Counter.builder(DIAL_FAILURES).tags("service", r.service(), "reason", reason)
                .description("Consumer connections that could not reach a target").register(registry).increment();
    }

    /** A gauge of the agents that report a target healthy, read at each scrape. */
    <T> void targetHealth(String service, String target, T source, ToDoubleFunction<T> healthyAgents) {
        Gauge.builder(TARGET_HEALTHY, source, healthyAgents).tags("service", service, "target", target)
                .description("Agent sessions that report the target healthy").register(registry);
    }
}
