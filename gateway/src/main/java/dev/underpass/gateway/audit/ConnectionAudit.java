package dev.underpass.gateway.audit;

import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.protocol.StreamRelay;
import dev.underpass.telemetry.SecretMasker;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import java.net.SocketAddress;
import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Audit records of consumer connections (ADR 0014), one when each connection ends: relayed,
 * failed before relaying, or refused. The event loops only put a small record in a bounded
 * queue; one writer thread takes them in batches and appends each batch to the accounts' chains
 * in one transaction. When the queue is full a record is dropped, counted
 * ({@value #DROPPED}) and logged at most every {@link #DROP_LOG_INTERVAL}: the data path never
 * waits for the store. {@link #close()} writes what is queued.
 *
 * <h2>Text from outside</h2>
 * A destination is what the consumer typed (a SOCKS5 name is any bytes), a failure's reason
 * what the agent sent. Before a record is queued its text is made fit: control characters
 * removed (PostgreSQL refuses NUL), keys, tokens and JWTs masked ({@link SecretMasker}), each
 * value cut to a bounded length; so one consumer cannot make the store refuse a batch that
 * holds other accounts' records. Should the store refuse a batch anyway, it is split until
 * the record it refuses is alone, and only that one is dropped ({@code reason="record_refused"}).
 *
 * <h2>Who</h2>
 * A connection through the forward proxy carries the principal that authenticated it as a
 * channel attribute ({@link #consumer}); one on an endpoint port has no principal, and is
 * recorded for the endpoint's consumer account. Refusals before a consumer account is known
 * (no key, a bad key, an unknown TLS server name) belong to no account's chain: they are only
 * logged by the proxy, so that nobody can grow a chain without a key.
 */
public final class ConnectionAudit implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("underpass.gateway.audit");
    static final String DROPPED = "underpass.audit.dropped";
    static final String QUEUED = "underpass.audit.queued";
    public static final int DEFAULT_CAPACITY = 65_536;
    static final int MAX_BATCH = 1_000;
    /** How long the writer lets records gather after the first of a batch (records reach the store this much later). */
    static final Duration BATCH_WINDOW = Duration.ofMillis(200);

    static final Duration DROP_LOG_INTERVAL = Duration.ofSeconds(10);
    /** How long {@link #close()} waits for the writer to write what is queued. */
    static final Duration FLUSH_TIMEOUT = Duration.ofSeconds(15);

    private static final int WRITE_ATTEMPTS = 3;
    /** Longest destination, outcome and provider's reason queued: the target and outcome columns' sizes. */
    static final int MAX_DESTINATION = 300;

    static final int MAX_OUTCOME = 1000;
    static final int MAX_REASON = 1000;
    private static final int MAX_NAME = 200;
    private static final int BOUND_MARGIN = 1024;
    private static final AttributeKey<Consumer> CONSUMER = AttributeKey.valueOf("underpass.audit.consumer");

    /** Records nothing (gateways and tests without a store to write to). */
    public static final ConnectionAudit OFF = new ConnectionAudit();

    /** Who opened a connection and how: set by the proxy or the TLS listener before the tunnel starts. */
    private record Consumer(String account, String keyId, String actor, String via) {}

    /** One connection's end, as the event loop leaves it: small, and no JSON or store work. */
    private record Ended(
            long atMillis,
            String via,
            String consumer,
            String keyId,
            String actor,
            String provider,
            String endpoint,
            String service,
            int port,
            SocketAddress source,
            String destination,
            long toConsumer,
            long toTarget,
            long durationMillis,
            String outcome,
            String end,
            String providerReason) {
        /** This record with the text that came from outside made fit for the store ({@link #fit}). */
        Ended fitted() {
            return new Ended(
                    atMillis,
                    via,
                    consumer,
                    keyId,
                    fit(actor, MAX_NAME),
                    provider,
                    endpoint,
                    service,
                    port,
                    source,
                    fit(destination, MAX_DESTINATION),
                    toConsumer,
                    toTarget,
                    durationMillis,
                    fit(outcome, MAX_OUTCOME),
                    end,
                    fit(providerReason, MAX_REASON));
        }
    }

    /** What the writer does between taking the first record of a batch and the rest. */
    interface BatchWindow {
        void await() throws InterruptedException;
    }

    private final AuditLog audit;
    private final BlockingQueue<Ended> queue;
    private final BatchWindow window;
    private final Thread writer;
    private final Counter droppedFull;
    private final Counter droppedFailed;
    private final Counter droppedRefused;
    private final AtomicLong dropsSinceLog = new AtomicLong();
    private final AtomicLong lastDropLog = new AtomicLong(System.nanoTime() - DROP_LOG_INTERVAL.toNanos());
    private volatile boolean closing;

    private ConnectionAudit() {
        this.audit = null;
        this.queue = null;
        this.window = null;
        this.writer = null;
        this.droppedFull = null;
        this.droppedFailed = null;
        this.droppedRefused = null;
    }

    private ConnectionAudit(AuditLog audit, MeterRegistry registry, int capacity, BatchWindow window) {
        this.audit = audit;
        this.queue = new ArrayBlockingQueue<>(capacity);
        this.window = window;
        this.droppedFull = Counter.builder(DROPPED)
                .tag("reason", "queue_full")
                .description("Connection audit records dropped")
                .register(registry);
        this.droppedFailed = Counter.builder(DROPPED)
                .tag("reason", "write_failed")
                .description("Connection audit records dropped")
                .register(registry);
        this.droppedRefused = Counter.builder(DROPPED)
                .tag("reason", "record_refused")
                .description("Connection audit records dropped")
                .register(registry);
        Gauge.builder(QUEUED, queue, BlockingQueue::size)
                .description("Connection audit records waiting to be written")
                .register(registry);
        this.writer =
                Thread.ofPlatform().name("underpass-audit-writer").daemon().unstarted(this::run);
    }

    /** Starts the writer of records to {@code audit}, with a queue of {@code capacity} records. */
    public static ConnectionAudit start(AuditLog audit, MeterRegistry registry, int capacity) {
        return start(audit, registry, capacity, () -> Thread.sleep(BATCH_WINDOW.toMillis()));
    }

    /**
     * As {@link #start(AuditLog, MeterRegistry, int)}, with the writer waiting on {@code window}
     * before it takes the rest of a batch: tests decide when that is.
     */
    public static ConnectionAudit start(AuditLog audit, MeterRegistry registry, int capacity, BatchWindow window) {
        ConnectionAudit a = new ConnectionAudit(audit, registry, capacity, window);
        a.writer.start();
        return a;
    }

    /** The proxy authenticated {@code p} on {@code socket}; {@code via} names the proxy. */
    public static void consumer(Channel socket, Principal p, String via) {
        socket.attr(CONSUMER).set(new Consumer(p.account(), p.keyId(), p.actor(), via));
    }

    /**
     * {@code stream} is a connection to one of an agent's listeners: {@code account}'s agent,
     * described by {@code actor}, is the consumer (bidirectional).
     */
    public static void agentListener(Channel stream, String account, String actor) {
        stream.attr(CONSUMER).set(new Consumer(account, null, bound(actor, MAX_NAME), "agent listener"));
    }

    /** {@code socket} came through an entrance that authenticates nobody (the TLS listener). */
    public static void via(Channel socket, String via) {
        socket.attr(CONSUMER).set(new Consumer(null, null, null, via));
    }

    /**
     * A relayed connection ended; bytes and duration are the relay's. A failure's detail may name
     * the provider's targets: only the provider's copy of the record carries it (as for the two
     * methods below).
     */
    public void relayed(
            EndpointRoute r, Channel socket, StreamRelay relay, StreamRelay.Outcome outcome, String detail) {
        if (audit == null) {
            return;
        }
        boolean ok = outcome == StreamRelay.Outcome.COMPLETED || outcome == StreamRelay.Outcome.SOCKET_RESET;
        String end = outcome == StreamRelay.Outcome.SOCKET_RESET
                ? "consumerReset"
                : outcome.name().toLowerCase(Locale.ROOT);
        add(
                r,
                socket,
                null,
                relay.bytesFromStream(),
                relay.bytesFromSocket(),
                relay.elapsed().toMillis(),
                ok ? AuditLog.OK : "failed: " + end,
                end,
                ok ? null : detail);
    }

    /** A connection failed before it was relayed (the agent could not dial, timed out, went away). */
    public void failed(EndpointRoute r, Channel socket, long durationMillis, String reason) {
        if (audit != null) {
            add(r, socket, null, 0, 0, durationMillis, "failed: not relayed", null, reason);
        }
    }

    /** A connection to endpoint route {@code r} was refused: {@code kind} is short (no_agent, limit), {@code reason} whole. */
    public void refused(EndpointRoute r, Channel socket, String kind, String reason) {
        if (audit != null) {
            add(r, socket, null, 0, 0, 0, "refused: " + kind, null, reason);
        }
    }

    /** A connection the proxy carried to a public destination itself ({@code egressAllow}) ended. */
    public void egress(Channel socket, String destination, long toConsumer, long toDestination, long durationMillis) {
        if (audit != null && consumer(socket) instanceof Consumer c && c.account() != null) {
            add(null, socket, destination, toConsumer, toDestination, durationMillis, AuditLog.OK, "completed", null);
        }
    }

    /**
     * The proxy refused {@code destination} to the consumer it authenticated on {@code socket};
     * nothing is recorded when it authenticated none (see the class comment).
     */
    public void refused(Channel socket, String destination, String reason) {
        if (audit != null && consumer(socket) instanceof Consumer c && c.account() != null) {
            add(null, socket, destination, 0, 0, 0, "refused: " + reason, null, null);
        }
    }

    private void add(
            EndpointRoute r,
            Channel socket,
            String destination,
            long toConsumer,
            long toTarget,
            long millis,
            String outcome,
            String end,
            String providerReason) {
        Consumer c = consumer(socket);
        String consumer = c != null && c.account() != null ? c.account() : r.consumerAccount();
        Ended e = new Ended(
                System.currentTimeMillis(),
                c == null ? "endpoint port" : c.via(),
                consumer,
                c == null ? null : c.keyId(),
                c == null || c.actor() == null ? "account " + consumer : bound(c.actor(), MAX_NAME),
                r == null ? null : r.providerAccount(),
                r == null ? null : r.endpoint(),
                r == null ? null : r.service(),
                r == null ? 0 : r.servicePort(),
                socket.remoteAddress(),
                bound(destination, MAX_DESTINATION),
                toConsumer,
                toTarget,
                millis,
                bound(outcome, MAX_OUTCOME),
                end,
                bound(providerReason, MAX_REASON));
        if (closing || !queue.offer(e)) {
            dropped(
                    droppedFull,
                    1,
                    closing ? "the gateway is stopping" : "the queue is full (" + queue.size() + " records)");
        }
    }

    /**
     * Text from outside as a record may hold it: printable (control characters first, so that
     * removing them cannot join a token the masking then misses), secrets masked, cut to {@code max}.
     */
    /**
     * Text from outside bounded in length only, as the event loop queues it: the writer makes it
     * {@link #fit} (masking is regular-expression work, kept off the data path). The margin keeps
     * a secret cut at the bound long enough to be recognised and masked.
     */
    private static String bound(String text, int max) {
        return text == null || text.length() <= max + BOUND_MARGIN ? text : text.substring(0, max + BOUND_MARGIN);
    }

    static String fit(String text, int max) {
        return text == null ? null : AuditLog.cut(SecretMasker.mask(AuditLog.printable(text)), max);
    }

    /** Who the proxy authenticated on {@code socket}; {@code hasAttr} first, since {@code attr} would add one. */
    private static Consumer consumer(Channel socket) {
        return socket.hasAttr(CONSUMER) ? socket.attr(CONSUMER).get() : null;
    }

    private void dropped(Counter counter, int n, String why) {
        counter.increment(n);
        long total = dropsSinceLog.addAndGet(n);
        long last = lastDropLog.get();
        long now = System.nanoTime();
        if (now - last >= DROP_LOG_INTERVAL.toNanos() && lastDropLog.compareAndSet(last, now)) {
            dropsSinceLog.addAndGet(-total);
            log.warn("audit: dropped {} connection record(s) since the last warning: {}", total, why);
        }
    }

    private void run() {
        List<Ended> batch = new ArrayList<>(MAX_BATCH);
        while (!closing || !queue.isEmpty()) {
            try {
                Ended first = queue.poll(200, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                if (!closing && queue.size() < MAX_BATCH - 1) {
                    // A transaction costs far more than a record: let a busy gateway's records gather first.
                    window.await();
                }
                queue.drainTo(batch, MAX_BATCH - 1);
                write(batch);
            } catch (InterruptedException e) {
                break; // close() gave up waiting: what is left is counted there
            } finally {
                batch.clear();
            }
        }
    }

    /**
     * Writes one batch in one transaction. When the store is unreachable or busy, tries again a
     * few times (it may be restarting), then drops what is left. When it refuses the records
     * themselves, writes the batch's halves instead, down to single records, so that only a
     * record it refuses alone is dropped.
     */
    private void write(List<Ended> batch) throws InterruptedException {
        List<AuditLog.Named> events = new ArrayList<>(batch.size());
        for (Ended e : batch) {
            events.add(named(e));
        }
        Deque<List<AuditLog.Named>> todo = new ArrayDeque<>();
        todo.push(events);
        int unknown = 0;
        int attempt = 1;
        while (!todo.isEmpty()) {
            List<AuditLog.Named> part = todo.peek();
            try {
                unknown += audit.appendNamed(part);
                todo.pop();
                attempt = 1;
            } catch (RuntimeException e) {
                if (storeUnavailable(e)) {
                    int left = todo.stream().mapToInt(List::size).sum();
                    if (attempt >= WRITE_ATTEMPTS) {
                        log.warn(
                                "audit: cannot write {} connection record(s) after {} attempts, dropped: {}",
                                left,
                                attempt,
                                e.toString());
                        dropped(droppedFailed, left, "the store could not be reached");
                        return;
                    }
                    log.warn(
                            "audit: cannot write {} connection record(s) (attempt {} of {}), retrying in 1s: {}",
                            left,
                            attempt,
                            WRITE_ATTEMPTS,
                            e.toString());
                    attempt++;
                    Thread.sleep(1000);
                    continue;
                }
                todo.pop();
                if (part.size() > 1) { // first half on top: records keep their order in the chains
                    todo.push(part.subList(part.size() / 2, part.size()));
                    todo.push(part.subList(0, part.size() / 2));
                } else {
                    dropped(droppedRefused, 1, "the store refused one (" + reason(e) + ")");
                }
            }
        }
        if (unknown > 0) {
            log.warn("audit: {} connection record(s) named an account that does not exist; not written", unknown);
        }
    }

    /**
     * Whether {@code e} says the store cannot be reached or is busy (a connection, a timeout, a
     * deadlock, a shutdown), which waiting may cure, rather than that it refused these records.
     */
    static boolean storeUnavailable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof org.jdbi.v3.core.ConnectionException
                    || t instanceof SQLTransientException
                    || t instanceof SQLRecoverableException
                    || t instanceof SQLNonTransientConnectionException) {
                return true;
            }
            if (t instanceof SQLException s && s.getSQLState() != null) {
                String state = s.getSQLState();
                // 08 connection, 40 rollback (deadlock, serialization), 53 resources, 57 operator intervention
                // (shutdown), HYT timeout; 22 (data) and 23 (constraints) are about the records.
                return state.startsWith("08")
                        || state.startsWith("40")
                        || state.startsWith("53")
                        || state.startsWith("57")
                        || state.startsWith("HYT");
            }
        }
        return false;
    }

    /** The first line of the deepest cause's message, short and masked: what the log says of a refused record. */
    private static String reason(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage() == null
                ? ""
                : root.getMessage().lines().findFirst().orElse("");
        return root.getClass().getSimpleName() + ": " + fit(message, 200);
    }

    /**
     * The record as both chains keep it: the consumer's copy adds its source, key and destination,
     * the provider's copy the whole reason of a failure (which may name its targets).
     */
    private static AuditLog.Named named(Ended queued) {
        Ended e = queued.fitted();
        Map<String, Object> shared = new LinkedHashMap<>();
        shared.put("via", e.via());
        if (e.endpoint() != null) {
            shared.put("endpoint", e.endpoint());
            shared.put("service", e.service());
            shared.put("port", e.port());
        }
        if (e.endpoint() != null || e.end() != null) { // carried, not refused: direct egress has no endpoint
            shared.put("bytesToConsumer", e.toConsumer());
            shared.put("bytesToTarget", e.toTarget());
            shared.put("durationMillis", e.durationMillis());
        }
        if (e.end() != null) {
            shared.put("end", e.end());
        }
        Map<String, Object> own = new LinkedHashMap<>(shared);
        own.put("source", String.valueOf(e.source()));
        if (e.keyId() != null) {
            own.put("apiKeyId", e.keyId());
        }
        if (e.destination() != null) {
            own.put("destination", e.destination());
        }
        Map<String, Object> theirs = new LinkedHashMap<>(shared);
        if (e.providerReason() != null) {
            theirs.put("reason", e.providerReason());
        }
        String target = e.endpoint() != null ? "endpoint:" + e.endpoint() : "destination:" + e.destination();
        return new AuditLog.Named(
                e.consumer(),
                e.provider(),
                Instant.ofEpochMilli(e.atMillis()),
                e.actor(),
                "account " + e.consumer(),
                "connection",
                target,
                e.outcome(),
                own,
                theirs);
    }

    /** Stops taking records and writes what is queued, waiting up to {@link #FLUSH_TIMEOUT}. */
    @Override
    public void close() throws InterruptedException {
        if (writer == null) {
            return;
        }
        closing = true;
        writer.join(FLUSH_TIMEOUT.toMillis());
        if (writer.isAlive()) {
            writer.interrupt();
            writer.join(1000);
        }
        int left = queue.size();
        if (left > 0) {
            dropped(droppedFailed, left, "the gateway stopped before writing them");
            log.warn("audit: {} connection record(s) not written at shutdown", left);
        } else {
            log.info("audit: connection records written");
        }
    }
}
