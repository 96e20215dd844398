package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.protocol.Protocol;
import dev.underpass.testkit.DataStream;
import dev.underpass.testkit.EchoServer;
import dev.underpass.testkit.FreezableRelay;
import dev.underpass.testkit.HttpTarget;
import dev.underpass.testkit.PacedSourceServer;
import dev.underpass.testkit.Sha256;
import dev.underpass.testkit.UnderpassProcess;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * High availability under real faults, with real gateway and agent processes: an agent killed
 * with SIGKILL in the middle of 100 transfers, the gateway restarted under load, a target whose
 * health check flaps, an agent link that goes silent without closing, and a rolling restart of
 * two agents. A consumer may see a failure only as an error, never as short data; what the fault
 * does not touch must keep working.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ChaosTest {
    /** The gateway's heartbeat timeout as the {@link Tunnel} harness configures it. */
    static final Duration GATEWAY_HEARTBEAT_TIMEOUT = Duration.ofSeconds(6);

    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    @TempDir
    Path dir;

    // ---------------------------------------------------------------------------------------------
    // 1. kill -9 one of two agents during 100 concurrent transfers

    @Test
    void killingOneOfTwoAgentsFailsExactlyItsStreamsLoudlyAndTheOtherAgentCarriesOn() throws Exception {
        int transfers = 100;
        int head = 64 * 1024;
        int length = 512 * 1024; // the rest after the gate: 28 chunks of 16 KiB, 100 ms apart, about 3 s
        try (PacedSourceServer source =
                        new PacedSourceServer(head, 16 * 1024, Duration.ofMillis(100), Duration.ofSeconds(90));
                Tunnel t = Tunnel.startWithoutAgent(dir)) {
            int port = t.publish("source", List.of(listener(1, source.address())));
            String gateway = "localhost:" + t.agentPort();
            UnderpassProcess a =
                    startAgent(t, "agent-a", gateway, List.of(source.address()), "metricsListen: \"127.0.0.1:0\"\n");
            UnderpassProcess b =
                    startAgent(t, "agent-b", gateway, List.of(source.address()), "metricsListen: \"127.0.0.1:0\"\n");
            int opsA = opsPort(a);
            int opsB = opsPort(b);
            assertThat(metric(opsA, "underpass_agent_sessions")).isEqualTo(1);
            assertThat(metric(opsB, "underpass_agent_sessions")).isEqualTo(1);
            assertThat(metric(opsA, "underpass_agent_streams_active") + metric(opsB, "underpass_agent_streams_active"))
                    .isZero();

            ExecutorService consumers = Executors.newVirtualThreadPerTaskExecutor();
            try {
                CountDownLatch heads = new CountDownLatch(transfers);
                List<Future<Outcome>> futures = new ArrayList<>();
                for (int i = 0; i < transfers; i++) {
                    int index = i;
                    futures.add(consumers.submit(() -> transfer(port, index, length, 1000 + index, head, heads)));
                }
                // Every transfer is under way and held in the middle: none can end before the kill.
                assertThat(heads.await(Tunnel.WAIT.toSeconds(), TimeUnit.SECONDS))
                        .as("every consumer received the first %d bytes", head)
                        .isTrue();
                await(
                        "the source holds all " + transfers + " transfers at its gate",
                        Tunnel.WAIT,
                        () -> source.held() == transfers);
                long[] gauges = new long[2];
                await(
                        "the agents' underpass_agent_streams_active add up to " + transfers,
                        Duration.ofSeconds(30),
                        () -> {
                            gauges[0] = metric(opsA, "underpass_agent_streams_active");
                            gauges[1] = metric(opsB, "underpass_agent_streams_active");
                            return gauges[0] + gauges[1] == transfers;
                        },
                        () -> "agent-a " + gauges[0] + ", agent-b " + gauges[1]);
                long killedStreams = metric(opsA, "underpass_agent_streams_active");
                assertThat(killedStreams)
                        .as("streams on the agent to be killed (least outstanding spreads them)")
                        .isBetween(1L, transfers - 1L);

                long killedAt = System.nanoTime();
                a.kill(); // SIGKILL: no drain, no goodbye to the gateway
                source.release();
                List<Outcome> outcomes = new ArrayList<>();
                long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
                for (Future<Outcome> f : futures) {
                    outcomes.add(f.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
                }
                long settledMillis = (System.nanoTime() - killedAt) / 1_000_000;

                Map<Kind, List<Outcome>> byKind = new TreeMap<>();
                outcomes.forEach(o ->
                        byKind.computeIfAbsent(o.kind(), k -> new ArrayList<>()).add(o));
                Map<String, Integer> errors = new TreeMap<>();
                byKind.getOrDefault(Kind.ERROR, List.of()).forEach(o -> errors.merge(o.detail(), 1, Integer::sum));
                long lastErrorMillis = byKind.getOrDefault(Kind.ERROR, List.of()).stream()
                        .mapToLong(o -> (o.endNanos() - killedAt) / 1_000_000)
                        .max()
                        .orElse(-1);
                System.out.printf(
                        "[chaos] kill -9 of agent-a with %d of %d streams: %s; errors %s, the last %d ms after the kill;"
                                + " all settled %d ms after the kill%n",
                        killedStreams, transfers, counts(byKind), errors, lastErrorMillis, settledMillis);

                assertThat(byKind.getOrDefault(Kind.SHORT, List.of()))
                        .as("silently short data (a clean EOF before the end)")
                        .isEmpty();
                assertThat(byKind.getOrDefault(Kind.CORRUPT, List.of()))
                        .as("wrong bytes")
                        .isEmpty();
                assertThat(byKind.getOrDefault(Kind.HUNG, List.of()))
                        .as("reads that hung")
                        .isEmpty();
                assertThat(byKind.getOrDefault(Kind.ERROR, List.of()))
                        .as("transfers that failed with an error: exactly " + "those the killed agent carried")
                        .hasSize((int) killedStreams);
                assertThat(byKind.getOrDefault(Kind.OK, List.of()))
                        .as("transfers complete with the right SHA-256")
                        .hasSize(transfers - (int) killedStreams);
                // The consumers learn at once (the link closes), not after a heartbeat timeout or more.
                assertThat(lastErrorMillis)
                        .as("ms from the kill to the last consumer's error")
                        .isLessThanOrEqualTo(
                                GATEWAY_HEARTBEAT_TIMEOUT.plusSeconds(5).toMillis());
            } finally {
                consumers.shutdownNow();
            }

            // New connections all go through the surviving agent.
            assertThat(b.isAlive()).isTrue();
            for (int i = 0; i < 20; i++) {
                Clients.Download d = Clients.download(port, 32 * 1024, 5000 + i);
                assertThat(d.bytes()).isEqualTo(32 * 1024);
                assertThat(d.sha256()).isEqualTo(DataStream.sha256(5000 + i, 32 * 1024, Clients.CHUNK));
            }
            await(
                    "agent-b's underpass_agent_streams_active back to 0",
                    Tunnel.WAIT,
                    () -> metric(opsB, "underpass_agent_streams_active") == 0);
            assertThat(t.gateway().isAlive()).isTrue();
        }
    }

    enum Kind {
        OK,
        ERROR,
        SHORT,
        CORRUPT,
        HUNG
    }

    record Outcome(int index, Kind kind, long bytes, String detail, long endNanos) {
        Outcome(int index, Kind kind, long bytes, String detail) {
            this(index, kind, bytes, detail, System.nanoTime());
        }
    }

    /**
     * One consumer: asks for {@code length} bytes, counts down {@code heads} once it has the first
     * {@code head} bytes (or has failed before), reads to the end and classifies what it got.
     */
    private static Outcome transfer(int port, int index, long length, long seed, int head, CountDownLatch heads) {
        boolean signalled = false;
        long total = 0;
        try (Socket s = Clients.connect(port)) {
            Clients.request(s, length, seed);
            InputStream in = s.getInputStream();
            Sha256 sha = new Sha256();
            byte[] buf = new byte[16 * 1024];
            int n;
            while ((n = in.read(buf)) != -1) {
                sha.update(buf, 0, n);
                total += n;
                if (!signalled && total >= head) {
                    heads.countDown();
                    signalled = true;
                }
            }
            if (total < length) {
                return new Outcome(index, Kind.SHORT, total, "clean EOF after " + total + " of " + length + " bytes");
            }
            if (total > length || !sha.hex().equals(DataStream.sha256(seed, length, Clients.CHUNK))) {
                return new Outcome(index, Kind.CORRUPT, total, total + " bytes, SHA-256 " + sha.hex());
            }
            return new Outcome(index, Kind.OK, total, null);
        } catch (SocketTimeoutException e) {
            return new Outcome(index, Kind.HUNG, total, "no byte for " + Clients.READ_TIMEOUT.toSeconds() + " s");
        } catch (IOException e) {
            return new Outcome(index, Kind.ERROR, total, e.getClass().getSimpleName() + ": " + e.getMessage());
        } finally {
            if (!signalled) {
                heads.countDown();
            }
        }
    }

    private static Map<Kind, Integer> counts(Map<Kind, List<Outcome>> byKind) {
        Map<Kind, Integer> c = new TreeMap<>();
        byKind.forEach((k, v) -> c.put(k, v.size()));
        return c;
    }

    // ---------------------------------------------------------------------------------------------
    // 2. restart the gateway under load

    @Test
    void theGatewayRestartedUnderLoadServesAgainThroughTheSameAgentsWithinAMinute() throws Exception {
        try (EchoServer echo = new EchoServer();
                Tunnel t = Tunnel.start(dir, Map.of("echo", echo.address()))) {
            int port = t.endpointPort("echo");
            long agentPid = t.agent().pid();
            try (ConnectionLoop loop =
                    ConnectionLoop.start(port, 20_000, Duration.ofSeconds(100), Duration.ofMillis(10))) {
                loop.awaitSuccesses(20, Tunnel.WAIT);
                long stoppedAt = System.nanoTime();
                t.gateway().close(); // SIGTERM; the gateway drains and exits
                long exitedAt = System.nanoTime();
                t.startGateway(); // on the same agent, API and endpoint ports, with the same data dir
                long upMillis = (System.nanoTime() - stoppedAt) / 1_000_000;
                assertThat(t.endpointPort("echo"))
                        .as("the endpoint's port after the restart")
                        .isEqualTo(port);
                t.gateway().awaitLog("agent=test-agent\\) advertised", Tunnel.WAIT);

                // The first connection through the new gateway process.
                ConnectionLoop.Attempt first = loop.awaitAttempt(
                        a -> a.ok() && a.startNanos() > exitedAt,
                        Duration.ofSeconds(60).minusNanos(System.nanoTime() - stoppedAt));
                long resumedMillis = (first.endNanos() - stoppedAt) / 1_000_000;
                assertThat(resumedMillis)
                        .as("service resumed after the gateway's stop")
                        .isLessThanOrEqualTo(60_000);
                // Once it has resumed, it stays up: the next connections all succeed.
                List<ConnectionLoop.Attempt> after = loop.awaitAttemptsAfter(first, 20, Tunnel.WAIT);
                assertThat(after).as("connections after the first success").allMatch(ConnectionLoop.Attempt::ok);
                long failed = loop.attempts().stream().filter(a -> !a.ok()).count();
                // How long after the new gateway opened its agent port the agent was back (issue 12: 3-5 s).
                long agentBackMillis = Duration.between(
                                logTime(t.gateway(), "agent port listening"), logTime(t.gateway(), "advertised"))
                        .toMillis();
                System.out.printf(
                        "[chaos] gateway restart: exited %d ms after SIGTERM, up again after %d ms, the agent back %d ms"
                                + " after the agent port opened, service resumed %d ms after the stop; %d failed connections during the"
                                + " outage, %d succeeded in all; first failure: %s%n",
                        (exitedAt - stoppedAt) / 1_000_000,
                        upMillis,
                        agentBackMillis,
                        resumedMillis,
                        failed,
                        loop.successes(),
                        loop.firstFailure());
            }
            // The same agent process reconnected by itself.
            assertThat(t.agent().pid()).isEqualTo(agentPid);
            assertThat(t.agent().isAlive()).isTrue();
            t.agent().awaitLog("reconnecting in", Tunnel.WAIT);
            t.agent().awaitLog("session \\d+ established", 2, Tunnel.WAIT);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // 3. a flapping target

    @Test
    void aTargetFailingItsHttpHealthCheckGetsNoConnectionsUntilItIsHealthyAgain() throws Exception {
        try (HttpTarget t1 = new HttpTarget("t1");
                HttpTarget t2 = new HttpTarget("t2");
                Tunnel t = Tunnel.startWithoutAgent(dir)) {
            Map<String, Object> check = Map.of(
                    "protocol",
                    "http",
                    "path",
                    "/healthz",
                    "intervalSeconds",
                    1,
                    "timeoutSeconds",
                    1,
                    "healthyThreshold",
                    2,
                    "unhealthyThreshold",
                    2);
            Map<String, Object> web = new LinkedHashMap<>(listener(80, t1.address(), t2.address()));
            web.put("healthCheck", check);
            int port = t.publish("web", List.of(web));
            startAgent(t, "web-agent", "localhost:" + t.agentPort(), List.of(t1.address(), t2.address()), "");

            awaitHealth(t, "web", Map.of(t1.address(), "healthy", t2.address(), "healthy"));
            assertThat(get(port, 20))
                    .as("servers reached while both are healthy")
                    .containsKeys("t1", "t2");

            t1.healthStatus(503);
            long flipped = System.nanoTime();
            awaitHealth(t, "web", Map.of(t1.address(), "unhealthy", t2.address(), "healthy"));
            long unhealthyMillis = (System.nanoTime() - flipped) / 1_000_000;
            int t1Hits = t1.hits();
            Map<String, Integer> whileUnhealthy = get(port, 20);
            assertThat(whileUnhealthy)
                    .as("servers reached while t1 is unhealthy")
                    .isEqualTo(Map.of("t2", 20));
            assertThat(t1.hits()).as("t1's hits other than /healthz").isEqualTo(t1Hits);

            t1.healthStatus(200);
            flipped = System.nanoTime();
            awaitHealth(t, "web", Map.of(t1.address(), "healthy", t2.address(), "healthy"));
            long healthyMillis = (System.nanoTime() - flipped) / 1_000_000;
            Map<String, Integer> again = get(port, 20);
            assertThat(again).as("servers reached once t1 is healthy again").containsKeys("t1", "t2");
            System.out.printf(
                    "[chaos] flapping target: unhealthy after %d ms, healthy again after %d ms; %s, then %s%n",
                    unhealthyMillis, healthyMillis, whileUnhealthy, again);

            // The CLI shows the same health.
            Path key = Files.writeString(dir.resolve("acme.key"), t.acmeKey() + "\n");
            Cli cli = new Cli(dir, "acme");
            cli.run(
                            "login",
                            "--gateway",
                            "https://localhost:" + t.apiPort(),
                            "--ca-file",
                            t.caFile().toString(),
                            "--key-file",
                            key.toString())
                    .ok("login");
            JsonNode health = cli.json("service", "health", "web");
            assertThat(states(health)).isEqualTo(Map.of(t1.address(), "healthy", t2.address(), "healthy"));
            assertThat(t1.failures()).isEmpty();
            assertThat(t2.failures()).isEmpty();
        }
    }

    /** Waits until {@code GET /v1/services/{service}/health} shows exactly {@code expected} (target to state). */
    private static void awaitHealth(Tunnel t, String service, Map<String, String> expected) throws Exception {
        JsonNode[] last = new JsonNode[1];
        await(
                "service " + service + " health " + expected,
                Duration.ofSeconds(30),
                () -> {
                    last[0] = t.getAsProvider("/v1/services/" + service + "/health");
                    return states(last[0]).equals(expected);
                },
                () -> String.valueOf(last[0]));
    }

    private static Map<String, String> states(JsonNode health) {
        Map<String, String> states = new TreeMap<>();
        health.get("targets")
                .forEach(
                        x -> states.put(x.get("target").asText(), x.get("state").asText()));
        return states;
    }

    /** {@code count} HTTP requests, each on its own connection; how many each server answered. */
    private static Map<String, Integer> get(int port, int count) throws IOException {
        Map<String, Integer> seen = new TreeMap<>();
        for (int i = 0; i < count; i++) {
            try (Socket s = Clients.connect(port)) {
                s.getOutputStream()
                        .write(("GET /hit/" + i + " HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
                                .getBytes(StandardCharsets.US_ASCII));
                String response = new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
                assertThat(response).startsWith("HTTP/1.1 200 ");
                seen.merge(response.substring(response.indexOf("\r\n\r\n") + 4), 1, Integer::sum);
            }
        }
        return seen;
    }

    // ---------------------------------------------------------------------------------------------
    // 4. the agent's link cut without closing

    @Test
    void aSilentAgentLinkIsDetectedWithinTheHeartbeatTimeoutAndTheAgentComesBack() throws Exception {
        try (EchoServer echo = new EchoServer();
                Tunnel t = Tunnel.startWithoutAgent(dir);
                FreezableRelay relay = new FreezableRelay("127.0.0.1", t.agentPort())) {
            int port = t.publish("echo", List.of(listener(1, echo.address())));
            UnderpassProcess agent = startAgent(t, "relayed", "localhost:" + relay.port(), List.of(echo.address()), "");
            assertThat(Clients.echo(port, "before".getBytes())).isEqualTo("before".getBytes());

            long cut = System.nanoTime();
            relay.freeze(); // no byte moves either way; every socket stays open
            t.gateway()
                    .awaitLog(
                            "agent=relayed\\): no frame from the agent within the heartbeat timeout, closing the link",
                            Tunnel.WAIT);
            long detectedMillis = (System.nanoTime() - cut) / 1_000_000;
            assertThat(detectedMillis)
                    .as("ms from the freeze to the gateway's heartbeat timeout")
                    .isLessThanOrEqualTo(
                            GATEWAY_HEARTBEAT_TIMEOUT.plusSeconds(5).toMillis());
            agent.awaitLog("no frame from the gateway within the heartbeat timeout", Tunnel.WAIT);

            relay.thaw();
            long thawed = System.nanoTime();
            t.gateway().awaitLog("agent=relayed\\) advertised", 2, Tunnel.WAIT);
            long backMillis = (System.nanoTime() - thawed) / 1_000_000;
            assertThat(Clients.echo(port, "after".getBytes())).isEqualTo("after".getBytes());
            assertThat(agent.isAlive()).isTrue();
            assertThat(relay.connections()).as("links through the relay").isGreaterThanOrEqualTo(2);
            System.out.printf(
                    "[chaos] frozen link: the gateway gave up after %d ms; the agent was back %d ms after the thaw%n",
                    detectedMillis, backMillis);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // 5. rolling restart of two agents

    @Test
    void aRollingRestartOfTwoAgentsFailsNoConnection() throws Exception {
        try (EchoServer echo = new EchoServer();
                Tunnel t = Tunnel.startWithoutAgent(dir)) {
            int port = t.publish("echo", List.of(listener(1, echo.address())));
            String gateway = "localhost:" + t.agentPort();
            String extra = "drainTimeoutSeconds: 20\nmetricsListen: \"127.0.0.1:0\"\n";
            List<String> names = List.of("agent-a", "agent-b");
            Map<String, UnderpassProcess> agents = new LinkedHashMap<>();
            Map<String, Integer> ops = new LinkedHashMap<>();
            for (String name : names) {
                agents.put(name, startAgent(t, name, gateway, List.of(echo.address()), extra));
                ops.put(name, opsPort(agents.get(name)));
            }
            // One long-lived connection on each agent (a clone in progress), opened while nothing else
            // runs, so that the agents' gauges tell which agent carries which.
            Map<String, LongEcho> longLived = new LinkedHashMap<>();
            try {
                for (int i = 0; i < names.size(); i++) {
                    LongEcho c = new LongEcho(port);
                    c.roundTrip("hello " + i + "\n");
                    int opened = i + 1;
                    long[] g = new long[names.size()];
                    await(
                            opened + " long-lived connection(s) on the agents",
                            Duration.ofSeconds(30),
                            () -> {
                                for (int k = 0; k < names.size(); k++) {
                                    g[k] = metric(ops.get(names.get(k)), "underpass_agent_streams_active");
                                }
                                return Arrays.stream(g).sum() == opened;
                            },
                            () -> Arrays.toString(g));
                    for (int k = 0; k < names.size(); k++) {
                        if (g[k] == 1 && !longLived.containsKey(names.get(k))) {
                            longLived.put(names.get(k), c);
                        }
                    }
                    assertThat(longLived)
                            .as("the long-lived connections, by agent (least outstanding: one each)")
                            .hasSize(opened);
                }

                List<String> timings = new ArrayList<>();
                try (ConnectionLoop loop =
                        ConnectionLoop.start(port, 20_000, Duration.ofSeconds(100), Duration.ofMillis(10))) {
                    loop.awaitSuccesses(20, Tunnel.WAIT);
                    for (String name : names) {
                        UnderpassProcess old = agents.get(name);
                        long stopping = System.nanoTime();
                        old.terminate(); // SIGTERM: the agent drains, then exits by itself
                        old.awaitLog("draining: the gateway routes no new connection here", Tunnel.WAIT);
                        t.gateway().awaitLog("agent=" + Pattern.quote(name) + "\\) draining", Tunnel.WAIT);
                        // Its live connection goes on while it drains, and the agent waits for it.
                        LongEcho live = longLived.get(name);
                        live.roundTrip("while " + name + " drains\n");
                        assertThat(old.isAlive())
                                .as(name + " waits for its live connection")
                                .isTrue();
                        live.finish("bye from " + name + "\n");
                        assertThat(old.awaitExit(Duration.ofSeconds(30)))
                                .as(name + " exits once drained")
                                .isTrue();
                        long exitedMillis = (System.nanoTime() - stopping) / 1_000_000;
                        old.awaitLog("agent drained in \\d+ ms: every connection finished", Tunnel.WAIT);

                        long starting = System.nanoTime();
                        agents.put(name, startAgent(t, name, gateway, List.of(echo.address()), extra));
                        long advertised = System.nanoTime();
                        assertThat(loop.attempts())
                                .as("connections that succeeded while " + name + " was away")
                                .anyMatch(a -> a.ok() && a.startNanos() > stopping && a.endNanos() < advertised);
                        loop.awaitSuccesses(loop.successes() + 20, Tunnel.WAIT); // traffic flows with the new session
                        timings.add(name + " exited " + exitedMillis + " ms after SIGTERM, advertised again "
                                + (advertised - starting) / 1_000_000 + " ms after its start");
                    }
                    loop.awaitSuccesses(loop.successes() + 20, Tunnel.WAIT);
                    loop.stop();
                    System.out.printf(
                            "[chaos] rolling restart: %s; %d connections, %d failed%n",
                            timings, loop.attempts().size(), loop.attempts().size() - loop.successes());
                    assertThat(loop.failures())
                            .as("failed connections during the rolling restart")
                            .isEmpty();
                    assertThat(loop.successes())
                            .as("connections that kept flowing")
                            .isGreaterThanOrEqualTo(80);
                }
            } finally {
                for (LongEcho c : longLived.values()) {
                    c.close();
                }
            }
            assertThat(echo.failures()).isEmpty();
        }
    }

    /** A connection to an echo service kept open across a fault: round trips, then a clean end. */
    static final class LongEcho implements AutoCloseable {
        private final Socket socket;

        LongEcho(int port) throws IOException {
            socket = Clients.connect(port);
        }

        /** Sends {@code text} and reads exactly its echo. */
        void roundTrip(String text) throws IOException {
            byte[] b = text.getBytes(StandardCharsets.UTF_8);
            socket.getOutputStream().write(b);
            assertThat(socket.getInputStream().readNBytes(b.length))
                    .as("echo of " + text.trim())
                    .isEqualTo(b);
        }

        /** Sends {@code text}, half-closes and reads the rest: exactly its echo, then a clean end. */
        void finish(String text) throws IOException {
            byte[] b = text.getBytes(StandardCharsets.UTF_8);
            socket.getOutputStream().write(b);
            socket.shutdownOutput();
            assertThat(socket.getInputStream().readAllBytes())
                    .as("echo of " + text.trim() + ", then EOF")
                    .isEqualTo(b);
            socket.close();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    // ---------------------------------------------------------------------------------------------
    // helpers

    /** A listener of a service, as the REST API takes it. */
    private static Map<String, Object> listener(int port, String... targets) {
        return Map.of("port", port, "targets", List.of(targets));
    }

    /**
     * Starts an agent of acme from a YAML configuration (as {@code agent --config FILE}) and waits
     * until the gateway has its session and its advertised targets.
     */
    private static UnderpassProcess startAgent(
            Tunnel t, String name, String gateway, List<String> targets, String extraYaml) throws Exception {
        StringBuilder y = new StringBuilder()
                .append("gateway: ")
                .append(q(gateway))
                .append('\n')
                .append("name: ")
                .append(q(name))
                .append('\n')
                .append("tokenFile: ")
                .append(q(t.tokenFile().toString()))
                .append('\n')
                .append("caFile: ")
                .append(q(t.caFile().toString()))
                .append('\n')
                .append("targets:\n");
        targets.forEach(x -> y.append("  - ").append(q(x)).append('\n'));
        y.append(extraYaml);
        Path config = Files.writeString(t.dir().resolve(name + ".yaml"), y.toString());
        String advertised = "agent=" + Pattern.quote(name) + "\\) advertised";
        int before = Tunnel.countLog(t.gateway(), "agent=" + name + ") advertised");
        UnderpassProcess p = t.startAgentProcess(List.of("agent", "--config", config.toString()));
        t.gateway().awaitLog(advertised, before + 1, Tunnel.WAIT);
        t.gateway()
                .awaitLog(
                        "agent=" + Pattern.quote(name) + "\\) established from \\S+ \\(protocol version "
                                + Protocol.VERSION + "\\)",
                        before + 1,
                        Tunnel.WAIT);
        p.awaitLog("session \\d+ established", Tunnel.WAIT);
        return p;
    }

    private static String q(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    /** The agent's ops port (/metrics, /healthz, /readyz), from its log. */
    private static int opsPort(UnderpassProcess p) throws InterruptedException {
        return Integer.parseInt(
                p.awaitLog("ops server listening on \\S+:(\\d+) \\(/metrics, /healthz, /readyz\\)", Tunnel.WAIT)
                        .group(1));
    }

    /** The sum of every series of {@code name} on the ops port's /metrics (Prometheus text format). */
    static long metric(int opsPort, String name) throws IOException, InterruptedException {
        HttpResponse<String> r = HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + opsPort + "/metrics"))
                        .timeout(Duration.ofSeconds(10))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as("GET /metrics").isEqualTo(200);
        double sum = 0;
        boolean found = false;
        for (String line : r.body().split("\n")) {
            if (line.startsWith("#") || !line.startsWith(name)) {
                continue;
            }
            String rest = line.substring(name.length());
            if (!(rest.startsWith(" ") || rest.startsWith("{"))) {
                continue; // another metric whose name starts with this one
            }
            String[] fields = (rest.startsWith("{") ? rest.substring(rest.lastIndexOf('}') + 1) : rest)
                    .trim()
                    .split("\\s+");
            sum += Double.parseDouble(fields[0]);
            found = true;
        }
        if (!found) {
            throw new AssertionError("no metric " + name + " on port " + opsPort + ":\n" + r.body());
        }
        return Math.round(sum);
    }

    /** When the first log line of {@code p} containing {@code text} was written (the line's own timestamp). */
    static java.time.Instant logTime(UnderpassProcess p, String text) {
        String line = p.output()
                .lines()
                .filter(l -> l.contains(text))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no log line with '" + text + "'"));
        return java.time.OffsetDateTime.parse(line.substring(0, line.indexOf(' ')))
                .toInstant();
    }

    @FunctionalInterface
    interface Condition {
        boolean holds() throws Exception;
    }

    static void await(String what, Duration timeout, Condition c) throws Exception {
        await(what, timeout, c, () -> "");
    }

    /** Polls {@code c} every 100 ms until it holds, failing after {@code timeout} with {@code state}. */
    static void await(String what, Duration timeout, Condition c, java.util.function.Supplier<String> state)
            throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!c.holds()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(
                        "not within " + timeout.toSeconds() + " s: " + what + "; last seen: " + state.get());
            }
            Thread.sleep(100); // polling a condition, bounded by the deadline
        }
    }

    /**
     * A client opening connections in a loop on its own thread, one at a time: connect, echo a
     * short message, close. Bounded in count and time; records every attempt.
     */
    static final class ConnectionLoop implements AutoCloseable {
        record Attempt(int index, long startNanos, long endNanos, boolean ok, String error) {}

        private final int port;
        private final int maxAttempts;
        private final long deadline;
        private final Duration pause;
        private final List<Attempt> attempts = new CopyOnWriteArrayList<>();
        private final Thread thread;
        private volatile boolean stopped;

        private ConnectionLoop(int port, int maxAttempts, Duration maxTime, Duration pause) {
            this.port = port;
            this.maxAttempts = maxAttempts;
            this.deadline = System.nanoTime() + maxTime.toNanos();
            this.pause = pause;
            this.thread = Thread.ofPlatform().name("connection-loop").daemon().unstarted(this::run);
        }

        static ConnectionLoop start(int port, int maxAttempts, Duration maxTime, Duration pause) {
            ConnectionLoop l = new ConnectionLoop(port, maxAttempts, maxTime, pause);
            l.thread.start();
            return l;
        }

        private void run() {
            for (int i = 0; i < maxAttempts && !stopped && System.nanoTime() < deadline; i++) {
                long start = System.nanoTime();
                byte[] payload = ("ping " + i + "\n").getBytes(StandardCharsets.US_ASCII);
                String error = null;
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
                    s.setSoTimeout(10_000);
                    s.setTcpNoDelay(true);
                    OutputStream out = s.getOutputStream();
                    out.write(payload);
                    s.shutdownOutput();
                    byte[] back = s.getInputStream().readAllBytes();
                    if (!Arrays.equals(back, payload)) {
                        error = "echoed " + back.length + " bytes instead of " + payload.length;
                    }
                } catch (IOException e) {
                    error = e.getClass().getSimpleName() + ": " + e.getMessage();
                }
                attempts.add(new Attempt(i, start, System.nanoTime(), error == null, error));
                try {
                    Thread.sleep(pause); // pacing the client, not synchronisation
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        List<Attempt> attempts() {
            return List.copyOf(attempts);
        }

        int successes() {
            return (int) attempts.stream().filter(Attempt::ok).count();
        }

        List<Attempt> failures() {
            return attempts.stream().filter(a -> !a.ok()).toList();
        }

        String firstFailure() {
            return attempts.stream()
                    .filter(a -> !a.ok())
                    .map(Attempt::error)
                    .findFirst()
                    .orElse("none");
        }

        void awaitSuccesses(int n, Duration timeout) throws Exception {
            await(
                    n + " successful connections",
                    timeout,
                    () -> {
                        assertThat(thread.isAlive() || successes() >= n)
                                .as("the connection loop is still running")
                                .isTrue();
                        return successes() >= n;
                    },
                    () -> successes() + " successes, " + failures().size() + " failures, last: "
                            + (attempts.isEmpty() ? "none" : attempts.get(attempts.size() - 1)));
        }

        Attempt awaitAttempt(Predicate<Attempt> p, Duration timeout) throws Exception {
            Attempt[] found = new Attempt[1];
            await(
                    "a connection attempt as expected",
                    timeout,
                    () -> {
                        found[0] = attempts.stream().filter(p).findFirst().orElse(null);
                        return found[0] != null;
                    },
                    () -> attempts.size() + " attempts, last: "
                            + (attempts.isEmpty() ? "none" : attempts.get(attempts.size() - 1)));
            return found[0];
        }

        /** The {@code n} attempts that follow {@code a}, once they are done. */
        List<Attempt> awaitAttemptsAfter(Attempt a, int n, Duration timeout) throws Exception {
            await(n + " attempts after attempt " + a.index(), timeout, () -> attempts.size() > a.index() + n);
            return attempts().subList(a.index() + 1, a.index() + 1 + n);
        }

        void stop() throws InterruptedException, TimeoutException {
            stopped = true;
            thread.join(Duration.ofSeconds(30));
            if (thread.isAlive()) {
                thread.interrupt();
                throw new TimeoutException("the connection loop did not stop within 30 s");
            }
        }

        @Override
        public void close() {
            stopped = true;
            thread.interrupt();
            try {
                thread.join(Duration.ofSeconds(30));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
