package dev.underpass.gateway.audit;

import dev.underpass.controlplane.audit.AuditChain;
import dev.underpass.controlplane.audit.AuditEvents;
import java.time.Duration;
import java.util.Map;
import java.util.StringJoiner;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logs the head (seq and hash) of every account's audit chain in one line, periodically and at
 * shutdown (ADR 0014). Someone with write access to the database can rewrite a whole chain and
 * its hashes; heads shipped to a log outside the database's reach show such a rewrite, since the
 * rewritten chain no longer passes through them.
 */
public final class AuditHeadLog implements AutoCloseable {
    static final Logger log = LoggerFactory.getLogger("underpass.gateway.audit");
    public static final Duration DEFAULT_PERIOD = Duration.ofMinutes(10);

    private final AuditEvents events;
    private final ScheduledExecutorService timer;

    private AuditHeadLog(AuditEvents events) {
        this.events = events;
        this.timer = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().name("underpass-audit-heads").daemon().factory());
    }

    public static AuditHeadLog start(AuditEvents events, Duration period) {
        AuditHeadLog l = new AuditHeadLog(events);
        l.timer.scheduleAtFixedRate(l::logHeads, period.toMillis(), period.toMillis(), TimeUnit.MILLISECONDS);
        return l;
    }

    /** One line: {@code audit heads: account=seq:hash ...}, in order of account creation. */
    void logHeads() {
        try {
            Map<String, AuditChain.Head> heads = events.heads();
            StringJoiner line = new StringJoiner(" ");
            heads.forEach((account, head) -> line.add(account + "=" + head.seq() + ":" + head.hash()));
            log.info("audit heads: {}", line);
        } catch (RuntimeException e) {
            log.warn("audit heads: cannot read them from the store: {}", e.toString());
        }
    }

    /** Stops the timer and logs the heads a last time (after the connection records are written). */
    @Override
    public void close() {
        timer.shutdownNow();
        logHeads();
    }
}
