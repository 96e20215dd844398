package dev.underpass.gateway.consumer;

import dev.underpass.gateway.observe.GatewayLog;
import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The most live connections one consumer account holds through each kind of entrance: one
 * tenant's runaway job cannot take every socket of the gateway. The forward proxy, which
 * authenticates, and the entrances that do not (endpoint ports, the TLS listener) have a budget
 * each, so that whoever can reach an endpoint port cannot spend the account's proxy budget. A
 * connection holds its slot from admission until its socket closes; asking again for the same
 * socket (the proxy admits it, then hands it to an endpoint listener) holds no second one.
 */
public final class ConsumerLimit {
    /** Where a connection came in; each has its own budget per account. */
    public enum Entrance {
        PROXY("the forward proxy"),
        NETWORK("endpoint ports and the TLS listener"),
        AGENT("agent listeners");

        private final String text;

        Entrance(String text) {
            this.text = text;
        }
    }

    /** At most one refusal line per account per this many milliseconds; the others are counted into it. */
    static final long LOG_INTERVAL_MILLIS = 10_000;

    private static final AttributeKey<String> HELD = AttributeKey.valueOf("underpass.consumer-slot");

    private final int max;
    private final ConcurrentHashMap<String, Integer> live = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Refusals> refusals = new ConcurrentHashMap<>();

    public ConsumerLimit(int max) {
        this.max = max;
    }

    /**
     * Whether {@code socket} of {@code account} may go on: true when it holds a slot (now or
     * already); false, with the refusal logged sparingly, when the account is at its limit.
     */
    public boolean admit(Channel socket, String account, Entrance entrance) {
        if (socket.attr(HELD).get() != null) {
            return true;
        }
        String key = entrance.ordinal() + account;
        boolean[] admitted = new boolean[1];
        live.compute(key, (k, n) -> {
            int held = n == null ? 0 : n;
            admitted[0] = held < max;
            return admitted[0] ? held + 1 : n;
        });
        if (!admitted[0]) {
            refused(key, account, entrance, socket);
            return false;
        }
        socket.attr(HELD).set(key);
        socket.closeFuture().addListener(f -> live.computeIfPresent(key, (k, n) -> n <= 1 ? null : n - 1));
        return true;
    }

    private void refused(String key, String account, Entrance entrance, Channel socket) {
        Refusals r = refusals.computeIfAbsent(key, k -> new Refusals());
        long now = System.currentTimeMillis();
        long suppressed = r.count.incrementAndGet();
        long last = r.loggedAt.get();
        if (now - last >= LOG_INTERVAL_MILLIS && r.loggedAt.compareAndSet(last, now)) {
            r.count.addAndGet(-suppressed);
            GatewayLog.CONNECTIONS.warn(
                    "connection from {} refused: account {} holds {} live connections through {}, "
                            + "its limit (limits.connectionsPerConsumer; {} refused since the last such line)",
                    socket.remoteAddress(),
                    account,
                    max,
                    entrance.text,
                    suppressed);
        }
    }

    /** An account's refusals since its last log line. */
    private static final class Refusals {
        final AtomicLong count = new AtomicLong();
        final AtomicLong loggedAt = new AtomicLong(Long.MIN_VALUE / 2);
    }

    /** Why a consumer of the proxy was refused, as its answer tells it. */
    public String reason(String account) {
        return "account " + account + " already holds " + max + " live connections through " + Entrance.PROXY.text
                + ", its limit; retry when some have ended";
    }
}
