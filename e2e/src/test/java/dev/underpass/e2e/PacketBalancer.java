package dev.underpass.e2e;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * A packet-level load balancer on loopback, built the way kube-proxy builds a Kubernetes Service:
 * an nftables table of its own whose DNAT rule sends each new connection to 127.0.0.1:PORT, round
 * robin, to PORT on one of the ready backends' addresses. It rewrites addresses and keeps no
 * connection of its own, so a backend's reset reaches the consumer as a reset, which a TCP proxy
 * such as haproxy does not pass on once the consumer has half-closed (docs/cluster.md, "haproxy
 * and resets"). Like haproxy in front of the nodes, it checks each backend every 500 ms, takes
 * it out after two failed checks and back after two passed ones. {@link #close()} stops the
 * checks and deletes the table; connections already made keep their translation meanwhile.
 */
final class PacketBalancer implements AutoCloseable {
    private static final Duration INTERVAL = Duration.ofMillis(500);
    private static final int FALL = 2;
    private static final int RISE = 2;
    /** The longest the checks run: far past any test's timeout. */
    private static final Duration LIFETIME = Duration.ofMinutes(30);

    /** One backend: its loopback address and whether its check passes now. */
    record Backend(String host, BooleanSupplier ready) {}

    private final Path dir;
    private final int port;
    private final String table;
    private final List<Backend> backends;
    private final Thread checks;
    private volatile boolean closed;

    private PacketBalancer(Path dir, int port, List<Backend> backends) {
        this.dir = dir;
        this.port = port;
        this.table = "underpass_e2e_" + ProcessHandle.current().pid() + "_" + port;
        this.backends = List.copyOf(backends);
        this.checks = Thread.ofPlatform().daemon().name("balancer-" + port).unstarted(this::check);
    }

    /**
     * Balances 127.0.0.1:{@code port} over {@code backends} (each listening on {@code port} at its
     * own address, nothing on 127.0.0.1), all in at first, as haproxy starts them.
     */
    static PacketBalancer start(Path dir, int port, List<Backend> backends) throws IOException {
        PacketBalancer b = new PacketBalancer(dir, port, backends);
        b.apply(backends);
        b.checks.start();
        return b;
    }

    InetSocketAddress address() {
        return new InetSocketAddress("127.0.0.1", port);
    }

    private void check() {
        int[] passed = new int[backends.size()];
        int[] failed = new int[backends.size()];
        boolean[] in = new boolean[backends.size()];
        java.util.Arrays.fill(in, true);
        long end = System.nanoTime() + LIFETIME.toNanos();
        while (!closed && System.nanoTime() < end) {
            boolean changed = false;
            for (int i = 0; i < backends.size(); i++) {
                boolean ok = backends.get(i).ready().getAsBoolean();
                passed[i] = ok ? passed[i] + 1 : 0;
                failed[i] = ok ? 0 : failed[i] + 1;
                if (in[i] && failed[i] >= FALL || !in[i] && passed[i] >= RISE) {
                    in[i] = !in[i];
                    changed = true;
                }
            }
            if (changed && !closed) {
                List<Backend> ready = new ArrayList<>();
                for (int i = 0; i < backends.size(); i++) {
                    if (in[i]) {
                        ready.add(backends.get(i));
                    }
                }
                try {
                    apply(ready);
                    System.out.printf(
                            "balancer %d: backends now %s%n",
                            port, ready.stream().map(Backend::host).toList());
                } catch (IOException | AssertionError e) {
                    System.out.printf("balancer %d: could not apply its rule: %s%n", port, e);
                }
            }
            try {
                Thread.sleep(INTERVAL);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** Replaces the table in one transaction; with no backend ready, connections are refused. */
    private synchronized void apply(List<Backend> ready) throws IOException {
        StringBuilder rule = new StringBuilder();
        if (!ready.isEmpty()) {
            rule.append("    ip daddr 127.0.0.1 tcp dport ")
                    .append(port)
                    .append(" dnat to numgen inc mod ")
                    .append(ready.size())
                    .append(" map { ");
            for (int i = 0; i < ready.size(); i++) {
                rule.append(i == 0 ? "" : ", ")
                        .append(i)
                        .append(" : ")
                        .append(ready.get(i).host());
            }
            rule.append(" }\n");
        }
        nft("""
                table ip %1$s {}
                delete table ip %1$s
                table ip %1$s {
                  chain out {
                    type nat hook output priority -100; policy accept;
                %2$s  }
                }
                """.formatted(table, rule));
    }

    private void nft(String script) throws IOException {
        Path file = Files.createTempFile(dir, table, ".nft");
        Files.writeString(file, script);
        try {
            Run.of(dir, Map.of(), 30, "nft", "-f", file.toString()).assertOk("nft -f with\n" + script);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running nft", e);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @Override
    public void close() throws Exception {
        closed = true;
        checks.join(Duration.ofSeconds(30).toMillis()); // within a check and a sleep
        synchronized (this) {
            Run.of(dir, Map.of(), 30, "nft", "delete", "table", "ip", table).assertOk("nft delete table " + table);
        }
    }
}
