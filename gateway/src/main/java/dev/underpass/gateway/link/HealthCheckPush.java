package dev.underpass.gateway.link;

import dev.underpass.controlplane.service.HealthCheck;
import dev.underpass.controlplane.service.HealthReports;
import dev.underpass.controlplane.service.HealthState;
import dev.underpass.controlplane.service.Services;
import dev.underpass.gateway.observe.GatewayMetrics;
import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Protocol;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gives every agent session the health checks of the targets it serves: when it advertises, when
 * services change, and every few seconds (another gateway may have changed them). Reads the store
 * on its own thread, never on an event loop. Also answers the API's questions about target health.
 */
public final class HealthCheckPush implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("underpass.gateway.health");
    static final Duration POLL_INTERVAL = Duration.ofSeconds(5);
    /** {@code {"type":"healthChecks","checks":[]}}: what a message holds besides its checks. */
    private static final int MESSAGE_OVERHEAD = 64;

    private final Function<String, List<Services.TargetCheck>> checksOf;
    private final AgentRegistry registry;
    private final GatewayMetrics metrics;
    private final AtomicBoolean queued = new AtomicBoolean();
    private final ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("underpass-health-checks").daemon().factory());

    public HealthCheckPush(
            Function<String, List<Services.TargetCheck>> checksOf, AgentRegistry registry, GatewayMetrics metrics) {
        this.metrics = metrics;
        this.checksOf = checksOf;
        this.registry = registry;
    }

    public void start() {
        thread.scheduleWithFixedDelay(
                this::pushAll, POLL_INTERVAL.toMillis(), POLL_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** A session advertised its targets: send it its checks soon. */
    public void advertised(AgentSession session) {
        if (session.version() >= 2) {
            submit(() -> safely(() -> push(session, checksOf.apply(session.account()))));
        }
    }

    /** Services changed: every session gets its checks again (changes folded together). */
    public void changed() {
        if (queued.compareAndSet(false, true)) {
            submit(() -> {
                queued.set(false);
                pushAll();
            });
        }
    }

    private void submit(Runnable task) {
        try {
            thread.execute(task);
        } catch (RejectedExecutionException stopping) {
            // the gateway is stopping: its sessions end with it
        }
    }

    private void pushAll() {
        safely(() -> {
            Map<String, List<Services.TargetCheck>> byAccount = new HashMap<>();
            for (AgentSession s : registry.all()) {
                if (s.version() >= 2) {
                    push(s, byAccount.computeIfAbsent(s.account(), checksOf));
                }
            }
        });
    }

    private static void safely(Runnable pass) {
        try {
            pass.run();
        } catch (RuntimeException e) {
            log.warn(
                    "sending health checks to agents failed, retried in {}s: {}",
                    POLL_INTERVAL.toSeconds(),
                    e.toString());
        }
    }

    private void push(AgentSession s, List<Services.TargetCheck> checks) {
        List<ControlMessage.Check> served = new ArrayList<>();
        for (Services.TargetCheck c : checks) {
            if (s.serves(HostAndPort.parse(c.target()))) {
                served.add(message(c));
                String account = s.account();
                metrics.targetHealth(
                        account + "/" + c.service(),
                        c.target(),
                        () -> registry.sessionsOf(account).stream()
                                .filter(x -> x.healthy(c.id()))
                                .count());
            }
        }
        List<ControlMessage.Check> sent = fitting(served);
        if (sent.size() < served.size()) {
            log.warn(
                    "{} serves {} checked targets, more than one healthChecks message holds; {} are not checked",
                    s,
                    served.size(),
                    served.size() - sent.size());
        }
        Map<String, ControlMessage.Check> wanted = new LinkedHashMap<>();
        sent.forEach(c -> wanted.put(c.id(), c));
        s.link().eventLoop().execute(() -> s.healthChecks(wanted));
    }

    /**
     * The first checks that fit one healthChecks message: at most {@link Protocol#MAX_HEALTH_CHECKS},
     * and a line the agent accepts ({@link Protocol#MAX_CONTROL_MESSAGE_BYTES}).
     */
    static List<ControlMessage.Check> fitting(List<ControlMessage.Check> checks) {
        int bytes = MESSAGE_OVERHEAD;
        int n = 0;
        for (ControlMessage.Check c : checks) {
            bytes += ControlCodec.encodedLength(c) + 1;
            if (n == Protocol.MAX_HEALTH_CHECKS || bytes > Protocol.MAX_CONTROL_MESSAGE_BYTES) {
                break;
            }
            n++;
        }
        return checks.subList(0, n);
    }

    private static ControlMessage.Check message(Services.TargetCheck c) {
        HealthCheck h = c.check();
        return new ControlMessage.Check(
                c.id(),
                c.target(),
                h.protocol(),
                h.path(),
                h.matcher(),
                h.intervalSeconds() * 1000L,
                h.timeoutSeconds() * 1000L,
                h.healthyThreshold(),
                h.unhealthyThreshold());
    }

    /** What the live sessions of an account say about one check's target, for the API. */
    /** What {@code registry}'s live sessions report about the targets they check. */
    public static HealthReports reports(AgentRegistry registry) {
        return (account, checkId) -> {
            HostAndPort target = HostAndPort.parse(checkId.substring(checkId.indexOf('/') + 1));
            return registry.sessionsOf(account).stream()
                    .filter(s -> s.link().isActive() && s.serves(target))
                    .map(s -> report(s, checkId))
                    .toList();
        };
    }

    private static HealthReports.Report report(AgentSession s, String checkId) {
        AgentSession.TargetHealth h = s.health(checkId);
        HealthState state;
        String reason;
        if (s.draining()) {
            state = HealthState.DRAINING;
            reason = "the agent is shutting down";
        } else if (!s.checks(checkId)) {
            state = HealthState.INITIAL;
            reason = s.version() < 2 ? "the agent speaks protocol version 1, without health checks" : "not checked yet";
        } else if (h == null) {
            state = HealthState.INITIAL;
            reason = "not checked yet";
        } else {
            state = h.healthy() ? HealthState.HEALTHY : HealthState.UNHEALTHY;
            reason = h.reason();
        }
        return new HealthReports.Report(s.agentName(), s.id(), state, reason, h == null ? s.since() : h.since());
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
