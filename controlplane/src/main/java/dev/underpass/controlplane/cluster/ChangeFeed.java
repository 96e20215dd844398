package dev.underpass.controlplane.cluster;

import dev.underpass.controlplane.store.Store;
import java.sql.SQLException;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import org.jdbi.v3.core.Handle;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Changes made on one node reaching the other nodes of the cluster within a second, through
 * PostgreSQL's LISTEN/NOTIFY: endpoint changes (which open and close ports) and revoked agent
 * credentials (which end sessions). Each node also re-reads the store every few seconds, so a
 * notification lost while a node reconnects costs that much delay, never a missed change. On the
 * embedded store (one node only) it does nothing.
 */
public final class ChangeFeed implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("underpass.gateway.cluster");
    static final String CHANNEL = "underpass_changes";
    private static final String ENDPOINTS = "endpoints";
    private static final String REVOKED = "revoked:";
    private static final int WAIT_MILLIS = 1000;

    /** What the other nodes' changes mean for this one. */
    public interface Listener {
        void endpointsChanged();

        void credentialRevoked(String id);
    }

    private final Store store;
    private final String node;
    private final Listener listener;
    private final ExecutorService publisher = Executors.newSingleThreadExecutor(
            Thread.ofPlatform().name("underpass-changes-out").daemon().factory());
    private volatile boolean closed;
    private Thread receiver;

    private ChangeFeed(Store store, String node, Listener listener) {
        this.store = store;
        this.node = node;
        this.listener = listener;
    }

    /** Listens for the other nodes' changes (PostgreSQL only) and returns the feed to publish this node's. */
    public static ChangeFeed start(Store store, String node, Listener listener) {
        ChangeFeed feed = new ChangeFeed(
                Objects.requireNonNull(store, "store"),
                Objects.requireNonNull(node, "node"),
                Objects.requireNonNull(listener, "listener"));
        if (feed.postgres()) {
            feed.receiver =
                    Thread.ofPlatform().name("underpass-changes-in").daemon().start(feed::receive);
        }
        return feed;
    }

    private boolean postgres() {
        return store.config().url().startsWith("jdbc:postgresql:");
    }

    /** Tells the other nodes that endpoints changed (after the change was committed). */
    public void endpointsChanged() {
        publish(ENDPOINTS);
    }

    /** Tells the other nodes that agent credential {@code id} no longer holds. */
    public void credentialRevoked(String id) {
        publish(REVOKED + id);
    }

    private void publish(String what) {
        if (!postgres() || closed) {
            return;
        }
        try {
            publisher.execute(() -> {
                try {
                    store.jdbi()
                            .useHandle(h -> h.createQuery("select pg_notify(:c, :p)")
                                    .bind("c", CHANNEL)
                                    .bind("p", node + " " + what)
                                    .mapTo(String.class)
                                    .one());
                } catch (RuntimeException e) {
                    log.warn(
                            "could not tell the other nodes ({}); they see it within seconds anyway: {}",
                            what,
                            e.toString());
                }
            });
        } catch (RejectedExecutionException stopping) {
            // the node stops: the others re-read the store on their own
        }
    }

    private void receive() {
        boolean first = true;
        while (!closed) {
            try (Handle h = store.jdbi().open()) {
                h.execute("listen " + CHANNEL);
                PGConnection pg = h.getConnection().unwrap(PGConnection.class);
                if (!first) {
                    log.info("listening for the other nodes' changes again");
                    listener.endpointsChanged(); // whatever was missed meanwhile
                }
                first = false;
                while (!closed) {
                    PGNotification[] received = pg.getNotifications(WAIT_MILLIS);
                    if (received != null) {
                        for (PGNotification n : received) {
                            deliver(n.getParameter());
                        }
                    }
                }
            } catch (SQLException | RuntimeException e) {
                if (closed) {
                    return;
                }
                log.warn("lost the other nodes' changes, listening again in 1s: {}", e.toString());
                try {
                    Thread.sleep(WAIT_MILLIS);
                } catch (InterruptedException stop) {
                    return;
                }
            }
        }
    }

    private void deliver(String payload) {
        int space = payload.indexOf(' ');
        if (space < 0 || payload.substring(0, space).equals(node)) {
            return; // this node's own change, already acted on
        }
        String what = payload.substring(space + 1);
        try {
            if (what.equals(ENDPOINTS)) {
                listener.endpointsChanged();
            } else if (what.startsWith(REVOKED)) {
                listener.credentialRevoked(what.substring(REVOKED.length()));
            }
        } catch (RuntimeException e) {
            log.warn("acting on another node's change ({}) failed: {}", what, e.toString());
        }
    }

    @Override
    public void close() {
        closed = true;
        publisher.shutdown();
        if (receiver != null) {
            receiver.interrupt();
            try {
                receiver.join(WAIT_MILLIS * 3L);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
