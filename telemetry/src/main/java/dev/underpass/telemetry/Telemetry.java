package dev.underpass.telemetry;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.config.MeterFilterReply;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A process's metrics: one Prometheus registry, with no common tags (Prometheus adds the
 * instance and job labels itself), and the JVM and process meters an operator looks at first:
 * heap and direct buffers, GC pauses, threads, CPU, uptime and open file descriptors (a relay
 * running out of descriptors is the classic silent failure).
 *
 * <p>Filters are given to {@link #create} because Micrometer wants every filter in place before
 * the first meter (it warns about late ones, and meters already handed out keep what they were
 * registered with): a cardinality limit must see every meter it bounds.
 */
public final class Telemetry implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Telemetry.class);

    private final PrometheusMeterRegistry registry;
    private final JvmGcMetrics gc;

    private Telemetry(PrometheusMeterRegistry registry, JvmGcMetrics gc) {
        this.registry = registry;
        this.gc = gc;
    }

    /**
     * A new registry with {@code filters} installed (in order, before any meter) and the JVM and
     * process meters bound.
     */
    public static Telemetry create(MeterFilter... filters) {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        for (MeterFilter filter : filters) {
            registry.config().meterFilter(Objects.requireNonNull(filter, "filter"));
        }
        new JvmMemoryMetrics().bindTo(registry);
        JvmGcMetrics gc = new JvmGcMetrics();
        gc.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
        return new Telemetry(registry, gc);
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    /**
     * Bounds the number of distinct values of tag {@code tagKey} on meters whose name starts with
     * {@code meterNamePrefix}, so that a label taken from outside (a service, an endpoint, a
     * target) cannot grow the registry and every scrape without bound.
     *
     * <p>Semantics (Micrometer's {@link MeterFilter#maximumAllowableTags}):
     * <ul>
     * <li>The first {@code max} distinct values seen are admitted, for good: a value is counted
     *     across all meters under the prefix, and removing a meter does not free its value.</li>
     * <li>A new meter with any further value is denied: the caller gets a no-op meter, so its
     *     recordings are dropped and it never appears in a scrape. Meters with admitted values
     *     keep working. Meters without the tag, or not under the prefix, are not affected.</li>
     * <li>The first denial writes one WARN line naming the meter and the tag; later ones are
     *     silent. Denied meters are looked up again on every registration call, so hot paths
     *     should keep meter references, as they should anyway.</li>
     * </ul>
     * Admission happens under the registry's lock, so the limit is exact. Use one filter
     * instance per registry: the admitted values live in the filter.
     *
     * @param max at least 1
     */
    public static MeterFilter limitTagValues(String meterNamePrefix, String tagKey, int max) {
        Objects.requireNonNull(meterNamePrefix, "meterNamePrefix");
        if (tagKey == null || tagKey.isBlank()) {
            throw new IllegalArgumentException("tagKey: expected a tag name, got " + tagKey);
        }
        if (max < 1) {
            throw new IllegalArgumentException("max: " + max + " (expected: 1 or more)");
        }
        AtomicBoolean warned = new AtomicBoolean();
        MeterFilter onMaxReached = new MeterFilter() {
            @Override
            public MeterFilterReply accept(Meter.Id id) {
                if (warned.compareAndSet(false, true)) {
                    log.warn(
                            "meter {}: tag {} reached its limit of {} distinct values (meters named {}*);"
                                    + " meters with further values are not recorded",
                            id.getName(),
                            tagKey,
                            max,
                            meterNamePrefix);
                }
                return MeterFilterReply.DENY;
            }
        };
        return MeterFilter.maximumAllowableTags(meterNamePrefix, tagKey, max, onMaxReached);
    }

    /** Unregisters the GC listeners and closes the registry. */
    @Override
    public void close() {
        gc.close();
        registry.close();
    }
}
