package dev.underpass.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A Linux network namespace made with {@code ip netns add}: one host of a test's network, with
 * its own interfaces, addresses, routes and ports. Processes run in it through
 * {@code ip netns exec NAME command...}, which execs the command, so a handle on the started
 * process is the command itself. Files under {@code /etc/netns/NAME/} replace the host's
 * {@code /etc} files of the same name for those processes ({@code hosts}, {@code resolv.conf}).
 * {@link #close()} deletes the namespace (its veth ends with it) and those files.
 */
final class NetworkNamespace implements AutoCloseable {
    static final long IP_TIMEOUT_SECONDS = 30;

    private final String ip;
    private final String name;
    private final Path workDir;

    private NetworkNamespace(String ip, String name, Path workDir) {
        this.ip = ip;
        this.name = name;
        this.workDir = workDir;
    }

    /**
     * Creates namespace {@code name} with its loopback up; {@code ip} is the path of the
     * {@code ip} command. Returns the failed command's output instead when the kernel or the
     * container refuses namespaces ({@link Created#failure()}).
     */
    static Created create(String ip, String name, Path workDir) throws IOException, InterruptedException {
        Run add = Run.of(workDir, Map.of(), IP_TIMEOUT_SECONDS, ip, "netns", "add", name);
        if (add.exitCode() != 0) {
            return new Created(
                    null, "ip netns add " + name + " failed: " + add.output().trim());
        }
        NetworkNamespace ns = new NetworkNamespace(ip, name, workDir);
        try {
            ns.ip("-n", name, "link", "set", "lo", "up");
        } catch (AssertionError e) {
            ns.close();
            throw e;
        }
        return new Created(ns, null);
    }

    /** The namespace, or why it could not be made. */
    record Created(NetworkNamespace namespace, String failure) {}

    String name() {
        return name;
    }

    /**
     * Links this namespace and {@code peer} with a veth pair: interface {@code ifname} here with
     * address {@code cidr}, {@code peerIfname} there with {@code peerCidr}, both up. Each end
     * is made directly in its namespace, so the names cannot clash with another run's.
     */
    void link(String ifname, String cidr, NetworkNamespace peer, String peerIfname, String peerCidr) {
        ip("link", "add", ifname, "netns", name, "type", "veth", "peer", "name", peerIfname, "netns", peer.name);
        ip("-n", name, "addr", "add", cidr, "dev", ifname);
        ip("-n", peer.name, "addr", "add", peerCidr, "dev", peerIfname);
        ip("-n", name, "link", "set", ifname, "up");
        ip("-n", peer.name, "link", "set", peerIfname, "up");
    }

    /** {@code command} run in this namespace: {@code ip netns exec NAME command...}. */
    String[] exec(String... command) {
        List<String> all = new ArrayList<>(prefix());
        all.addAll(List.of(command));
        return all.toArray(String[]::new);
    }

    /** The prefix that runs a command in this namespace. */
    List<String> prefix() {
        return List.of(ip, "netns", "exec", name);
    }

    /** Writes {@code /etc/netns/NAME/file}, which processes in this namespace see as {@code /etc/file}. */
    void etcFile(String file, String content) throws IOException {
        Path f = etcDir().resolve(file);
        Files.createDirectories(f.getParent());
        Files.writeString(f, content, StandardCharsets.UTF_8);
    }

    private Path etcDir() {
        return Path.of("/etc/netns", name);
    }

    /** Runs {@code ip args...} (in the test's own namespace; {@code -n NAME} reaches into another); must succeed. */
    private void ip(String... args) {
        List<String> cmd = new ArrayList<>(List.of(ip));
        cmd.addAll(List.of(args));
        try {
            Run r = Run.of(workDir, Map.of(), IP_TIMEOUT_SECONDS, cmd.toArray(String[]::new));
            if (r.exitCode() != 0) {
                throw new AssertionError(String.join(" ", cmd) + " exited with " + r.exitCode() + ": "
                        + r.output().trim());
            }
        } catch (IOException e) {
            throw new AssertionError(String.join(" ", cmd) + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(String.join(" ", cmd) + " interrupted", e);
        }
    }

    /** Deletes the namespace and its {@code /etc/netns} files; stop the processes in it first. */
    @Override
    public void close() {
        try {
            Run.of(workDir, Map.of(), IP_TIMEOUT_SECONDS, ip, "netns", "delete", name);
        } catch (IOException | InterruptedException | AssertionError e) {
            // Best effort: a namespace left behind has a unique name and holds no process of ours.
        }
        Path etc = etcDir();
        if (Files.isDirectory(etc)) {
            try (Stream<Path> files = Files.walk(etc)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            } catch (IOException e) {
                // Best effort, as above.
            }
        }
    }
}
