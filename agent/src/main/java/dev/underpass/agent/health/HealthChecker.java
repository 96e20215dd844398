package dev.underpass.agent.health;

import dev.underpass.agent.target.TargetAddresses;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.HostAndPort;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the health checks the gateway asked for, each on its own schedule, and reports every
 * change of verdict. A target starts out initial and turns healthy on its first pass; from then
 * on it turns unhealthy after {@code unhealthyThreshold} failures in a row and healthy again after
 * {@code healthyThreshold} passes in a row. Targets outside the allowlist are never probed.
 */
public final class HealthChecker implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("underpass.agent.health");
    /** However often the gateway asks, a target is probed at most this often. */
    static final long MIN_INTERVAL_MILLIS = 1000;
    /** What a request path may hold: it goes into the request line as it is. */
    private static final Pattern VISIBLE_ASCII = Pattern.compile("/[\\x21-\\x7e]*");

    private final Set<HostAndPort> allowed;
    private final TargetAddresses addresses;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("underpass-health").daemon().factory());
    private final ExecutorService probes = Executors.newVirtualThreadPerTaskExecutor();
    /** The running checks by id; touched only on {@link #timer}. */
    private final Map<String, Running> running = new HashMap<>();

    private final Verdicts verdicts;

    /**
     * Told of every verdict, for metrics: a callback, not a listener (in this product's words a
     * listener is an endpoint service's port).
     */
    @FunctionalInterface
    public interface Verdicts {
        /** {@code healthy} is null when the check is stopped. */
        void verdict(ControlMessage.Check check, Boolean healthy);
    }

    public HealthChecker(Set<HostAndPort> allowed, TargetAddresses addresses, Verdicts verdicts) {
        this.addresses = addresses;
        this.allowed = Set.copyOf(allowed);
        this.verdicts = verdicts;
    }

    /**
     * Runs {@code checks} from now on, reporting to {@code report}: a check whose definition did
     * not change keeps its state, the others start over, the rest stop.
     */
    public void replace(List<ControlMessage.Check> checks, Consumer<ControlMessage.Health> report) {
        onTimer(() -> {
            Map<String, ControlMessage.Check> wanted = new HashMap<>();
            checks.forEach(c -> wanted.put(c.id(), c));
            running.values().removeIf(r -> {
                boolean keep = r.check.equals(wanted.get(r.check.id()));
                if (!keep) {
                    r.stop();
                }
                return !keep;
            });
            running.values().forEach(r -> r.report = report);
            for (ControlMessage.Check c : checks) {
                running.computeIfAbsent(c.id(), id -> start(c, report));
            }
            log.info("running {} health check(s)", running.size());
        });
    }

    /** Stops every check (the session ended: the next one brings its own). */
    public void stopAll() {
        onTimer(() -> {
            running.values().forEach(Running::stop);
            running.clear();
        });
    }

    /** Runs {@code task} on the timer thread, unless the checker is closed (the agent stops). */
    private void onTimer(Runnable task) {
        try {
            timer.execute(task);
        } catch (RejectedExecutionException closed) {
            // stopping: no check runs any more
        }
    }

    private Running start(ControlMessage.Check c, Consumer<ControlMessage.Health> report) {
        Running r = new Running(c, report);
        HostAndPort target;
        try {
            target = HostAndPort.parse(c.target());
        } catch (IllegalArgumentException e) {
            target = null;
        }
        if (target == null || !allowed.contains(target)) {
            r.verdict(false, "target " + c.target() + " is not in this agent's allowlist: not checked");
            return r;
        }
        if (c.path() != null && !VISIBLE_ASCII.matcher(c.path()).matches()) {
            r.verdict(false, "path is not a request path of visible characters: not checked");
            return r;
        }
        r.target = target;
        r.schedule(0);
        return r;
    }

    /** One check's schedule and counters; its fields change only on {@link #timer}. */
    private final class Running {
        private final ControlMessage.Check check;
        private final StatusMatcher matcher;
        private volatile Consumer<ControlMessage.Health> report;
        private HostAndPort target;
        private Boolean healthy; // null: initial
        private int passes;
        private int failures;
        private boolean stopped;

        Running(ControlMessage.Check check, Consumer<ControlMessage.Health> report) {
            this.check = check;
            this.report = report;
            StatusMatcher m;
            try {
                m = StatusMatcher.parse(check.matcher());
            } catch (IllegalArgumentException e) {
                m = StatusMatcher.DEFAULT;
                log.warn("health check {}: {}; using {}", check.id(), e.getMessage(), m.text());
            }
            this.matcher = m;
        }

        void schedule(long delayMillis) {
            try {
                timer.schedule(
                        () -> {
                            if (!stopped) {
                                probes.execute(this::probe);
                            }
                        },
                        delayMillis,
                        TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException closed) {
                // stopping
            }
        }

        private void probe() {
            int timeout = (int) Math.max(1, Math.min(check.timeoutMillis(), Integer.MAX_VALUE));
            HealthProbe.Result r = HealthProbe.run(
                    check.protocol(), target, check.path() == null ? "/" : check.path(), matcher, timeout, addresses);
            onTimer(() -> {
                if (stopped) {
                    return;
                }
                record(r);
                schedule(Math.max(MIN_INTERVAL_MILLIS, check.intervalMillis()));
            });
        }

        private void record(HealthProbe.Result r) {
            if (r.passed()) {
                passes++;
                failures = 0;
                // From initial one pass is enough: the target was routable meanwhile anyway.
                if (healthy == null || !healthy && passes >= check.healthyThreshold()) {
                    verdict(true, r.reason());
                }
            } else {
                failures++;
                passes = 0;
                if (!Boolean.FALSE.equals(healthy) && failures >= check.unhealthyThreshold()) {
                    verdict(false, r.reason());
                }
            }
        }

        void verdict(boolean now, String reason) {
            healthy = now;
            log.info("target {} ({}) is {}: {}", check.target(), check.id(), now ? "healthy" : "unhealthy", reason);
            verdicts.verdict(check, now);
            report.accept(new ControlMessage.Health(check.id(), now, reason));
        }

        void stop() {
            stopped = true;
            verdicts.verdict(check, null);
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
        probes.shutdownNow();
    }
}
