package dev.underpass.telemetry;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.event.Level;
import org.slf4j.helpers.MessageFormatter;

/**
 * One log line per key and interval for events that come in floods: refusals from one source
 * (junk on the agent port, a client retrying a bad request) or on one endpoint (consumers while
 * no agent is connected). A key is the source together with the kind of event (its message
 * format). The first event of a key is logged at once; the next ones within the interval are
 * counted, and {@link #flush()} (run every interval) writes one line per key with the count and
 * the last of them. So a flood costs a few lines, and the count is never lost.
 *
 * <p>Memory is bounded: at most {@code maxKeys} keys are remembered (the least recently seen is
 * forgotten, its count going into the next summary), and at most {@value #LINES_PER_INTERVAL}
 * lines are written per interval in all; events past that budget are counted in one summary line.
 */
public final class RepeatedEvents implements AutoCloseable {
    /** Lines written per interval over every key; a flood from many sources cannot flood the log either. */
    static final int LINES_PER_INTERVAL = 100;

    public static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(10);
    public static final int DEFAULT_MAX_KEYS = 10_000;

    private final Logger log;
    private final long interval;
    private final int maxKeys;
    private final LongSupplier nanoTime;
    private final LinkedHashMap<String, Entry> entries;
    private final ScheduledFuture<?> flushing;
    private long budgetStart;
    private int linesInBudget;
    /** Events of keys forgotten or over the line budget, not yet in any line. */
    private long unlogged;

    private static final class Entry {
        long loggedAt;
        long counted;
        String last;
        Level level;
    }

    /** Logs to {@code log} at WARN; flushes every {@code interval} on {@code scheduler}. */
    public RepeatedEvents(Logger log, Duration interval, int maxKeys, ScheduledExecutorService scheduler) {
        this(log, interval, maxKeys, System::nanoTime, scheduler);
    }

    /** With a clock; a null {@code scheduler} leaves {@link #flush()} to the caller (tests). */
    RepeatedEvents(
            Logger log, Duration interval, int maxKeys, LongSupplier nanoTime, ScheduledExecutorService scheduler) {
        this.log = Objects.requireNonNull(log, "log");
        this.interval = interval.toNanos();
        this.maxKeys = maxKeys;
        this.nanoTime = nanoTime;
        this.entries = new LinkedHashMap<>(16, 0.75f, true);
        this.budgetStart = nanoTime.getAsLong();
        this.flushing = scheduler == null
                ? null
                : scheduler.scheduleAtFixedRate(
                        this::flush, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The key of a peer's address: its IP address without the port (an IPv6 address as written). */
    public static String source(SocketAddress address) {
        if (address instanceof InetSocketAddress isa) {
            return isa.getAddress() != null ? isa.getAddress().getHostAddress() : isa.getHostString();
        }
        return String.valueOf(address);
    }

    /** A WARN line as SLF4J formats {@code format} with {@code args}, unless {@code key} had one within the interval. */
    public void warn(String key, String format, Object... args) {
        log(Level.WARN, key, format, args);
    }

    /** As {@link #warn} at INFO: for refusals that are the client's business (a wrong name, a slow client). */
    public void info(String key, String format, Object... args) {
        log(Level.INFO, key, format, args);
    }

    private void log(Level level, String source, String format, Object... args) {
        // Events repeat when they come from the same source and are of the same kind (the same message format).
        String key = source + '\u0000' + format;
        String line = MessageFormatter.arrayFormat(format, args).getMessage();
        long now = nanoTime.getAsLong();
        boolean write;
        synchronized (this) {
            Entry e = entries.get(key);
            if (e == null) {
                e = new Entry();
                e.loggedAt = now - interval;
                entries.put(key, e);
                trim();
            }
            write = now - e.loggedAt >= interval && e.counted == 0 && takeBudget(now);
            if (write) {
                e.loggedAt = now;
            } else {
                e.counted++;
                e.last = line;
                e.level = level;
            }
        }
        if (write) {
            log.atLevel(level).log("{}", line);
        }
    }

    /**
     * Writes one line per key with events counted since its last line ("... and N more like it in
     * the last 10 s"), then forgets keys that had none.
     */
    public void flush() {
        long now = nanoTime.getAsLong();
        List<Map.Entry<Level, String>> lines = new ArrayList<>();
        long over;
        synchronized (this) {
            Iterator<Map.Entry<String, Entry>> it = entries.entrySet().iterator();
            while (it.hasNext()) {
                Entry e = it.next().getValue();
                if (e.counted == 0) {
                    if (now - e.loggedAt >= interval) {
                        it.remove();
                    }
                    continue;
                }
                if (!takeBudget(now)) {
                    unlogged += e.counted;
                } else {
                    lines.add(Map.entry(
                            e.level,
                            e.last + " (" + (e.counted == 1 ? "once" : e.counted + " times") + " in the last "
                                    + Duration.ofNanos(interval).toSeconds() + " s)"));
                }
                e.counted = 0;
                e.last = null;
                e.loggedAt = now;
            }
            over = unlogged;
            unlogged = 0;
        }
        lines.forEach(l -> log.atLevel(l.getKey()).log("{}", l.getValue()));
        if (over > 0) {
            log.warn(
                    "{} more such event(s) in the last {} s were not logged one by one",
                    over,
                    Duration.ofNanos(interval).toSeconds());
        }
    }

    private boolean takeBudget(long now) {
        if (now - budgetStart >= interval) {
            budgetStart = now;
            linesInBudget = 0;
        }
        if (linesInBudget >= LINES_PER_INTERVAL) {
            return false;
        }
        linesInBudget++;
        return true;
    }

    private void trim() {
        Iterator<Entry> it = entries.values().iterator();
        while (entries.size() > maxKeys && it.hasNext()) {
            unlogged += it.next().counted;
            it.remove();
        }
    }

    @Override
    public void close() {
        if (flushing != null) {
            flushing.cancel(false);
        }
        flush();
    }
}
