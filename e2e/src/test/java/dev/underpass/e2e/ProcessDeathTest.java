package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.testkit.DataStream;
import dev.underpass.testkit.PacedSourceServer;
import dev.underpass.testkit.UploadSink;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The death of a process in the middle of transfers ({@code kill -9}: no shutdown hook, the
 * kernel closes its sockets) is seen as a reset at both ends of every unfinished transfer, the
 * private target's as well as the consumer's, never as a clean end of short data (issue 12).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ProcessDeathTest {
    private static final int TRANSFERS = 12;
    private static final int HEAD = 64 * 1024;
    private static final long LENGTH = 4L * 1024 * 1024;
    private static final int CHUNK = 16 * 1024;

    @TempDir
    Path dir;

    @Test
    void killingTheAgentMidUploadResetsTheTargetsConnectionsInsteadOfEndingThemShort() throws Exception {
        try (UploadSink sink = new UploadSink(HEAD);
                Tunnel t = Tunnel.start(dir, Map.of("sink", sink.address()))) {
            ExecutorService consumers = Executors.newVirtualThreadPerTaskExecutor();
            try {
                CountDownLatch go = new CountDownLatch(1);
                List<Future<String>> uploads = startUploads(consumers, t.endpointPort("sink"), go);
                ChaosTest.await(
                        "every upload under way at the target",
                        Tunnel.WAIT,
                        () -> sink.pastHead() == TRANSFERS,
                        () -> sink.pastHead() + " of " + TRANSFERS);

                t.agent().kill();
                go.countDown();

                ChaosTest.await(
                        "every upload ended at the target",
                        Duration.ofSeconds(60),
                        () -> sink.uploads().size() == TRANSFERS,
                        () -> sink.uploads().toString());
                assertThat(sink.uploads())
                        .as("how the uploads ended at the target")
                        .allSatisfy(u -> assertThat(u.ending()).as(u.detail()).isEqualTo(UploadSink.Ending.RESET));
                assertThat(outcomes(uploads)).as("what the consumers saw").allMatch(o -> o.startsWith("error"));
            } finally {
                consumers.shutdownNow();
            }
        }
    }

    @Test
    void killingTheGatewayMidTransferResetsConsumersAndTargetsInBothDirections() throws Exception {
        try (UploadSink sink = new UploadSink(HEAD);
                PacedSourceServer source =
                        new PacedSourceServer(HEAD, CHUNK, Duration.ofMillis(50), Duration.ofSeconds(90));
                Tunnel t = Tunnel.start(dir, Map.of("sink", sink.address(), "source", source.address()))) {
            ExecutorService consumers = Executors.newVirtualThreadPerTaskExecutor();
            try {
                CountDownLatch go = new CountDownLatch(1);
                List<Future<String>> uploads = startUploads(consumers, t.endpointPort("sink"), go);
                CountDownLatch heads = new CountDownLatch(TRANSFERS);
                List<Future<String>> downloads = new ArrayList<>();
                for (int i = 0; i < TRANSFERS; i++) {
                    long seed = 100 + i;
                    downloads.add(consumers.submit(() -> download(t.endpointPort("source"), seed, heads)));
                }
                ChaosTest.await(
                        "every upload under way at the target",
                        Tunnel.WAIT,
                        () -> sink.pastHead() == TRANSFERS,
                        () -> sink.pastHead() + " of " + TRANSFERS);
                assertThat(heads.await(Tunnel.WAIT.toSeconds(), TimeUnit.SECONDS))
                        .as("every download under way")
                        .isTrue();
                ChaosTest.await("the source holds every download", Tunnel.WAIT, () -> source.held() == TRANSFERS);

                t.gateway().kill();
                go.countDown();
                source.release();

                List<String> downloaded = outcomes(downloads);
                assertThat(downloaded).as("what the downloading consumers saw").allMatch(o -> o.startsWith("error"));
                assertThat(outcomes(uploads))
                        .as("what the uploading consumers saw")
                        .allMatch(o -> o.startsWith("error"));
                ChaosTest.await(
                        "every upload ended at the target",
                        Duration.ofSeconds(60),
                        () -> sink.uploads().size() == TRANSFERS,
                        () -> sink.uploads().toString());
                assertThat(sink.uploads())
                        .as("how the uploads ended at the target")
                        .allSatisfy(u -> assertThat(u.ending()).as(u.detail()).isEqualTo(UploadSink.Ending.RESET));
            } finally {
                consumers.shutdownNow();
            }
        }
    }

    /** {@link #TRANSFERS} uploads of {@link #LENGTH} bytes each: the head at once, the rest paced once {@code go} opens. */
    private static List<Future<String>> startUploads(ExecutorService consumers, int port, CountDownLatch go) {
        List<Future<String>> uploads = new ArrayList<>();
        for (int i = 0; i < TRANSFERS; i++) {
            long seed = i;
            uploads.add(consumers.submit(() -> upload(port, seed, go)));
        }
        return uploads;
    }

    /** "ok", "short: ..." or "error: ..." as one consumer saw its upload. */
    private static String upload(int port, long seed, CountDownLatch go) {
        try (Socket s = Clients.connect(port)) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            out.writeLong(LENGTH);
            DataStream data = new DataStream(seed);
            byte[] buf = new byte[CHUNK];
            long sent = 0;
            while (sent < LENGTH) {
                if (sent == HEAD && !go.await(90, TimeUnit.SECONDS)) {
                    return "short: the test never said go";
                }
                data.next(buf, CHUNK);
                out.write(buf);
                out.flush();
                sent += CHUNK;
                if (sent > HEAD) {
                    Thread.sleep(5); // pacing the client: the upload is still going when the process dies
                }
            }
            s.shutdownOutput();
            return s.getInputStream().read() == -1 ? "ok" : "ok, with an answer";
        } catch (IOException e) {
            return "error: " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    /** "ok", "short: ..." or "error: ..." as one consumer saw its download of {@link #LENGTH} bytes. */
    private static String download(int port, long seed, CountDownLatch heads) {
        boolean signalled = false;
        long total = 0;
        try (Socket s = Clients.connect(port)) {
            Clients.request(s, LENGTH, seed);
            InputStream in = s.getInputStream();
            byte[] buf = new byte[CHUNK];
            int n;
            while ((n = in.read(buf)) != -1) {
                total += n;
                if (!signalled && total >= HEAD) {
                    heads.countDown();
                    signalled = true;
                }
            }
            return total == LENGTH ? "ok" : "short: clean EOF after " + total + " of " + LENGTH + " bytes";
        } catch (IOException e) {
            return "error: " + e.getMessage();
        } finally {
            if (!signalled) {
                heads.countDown();
            }
        }
    }

    private static List<String> outcomes(List<Future<String>> futures) throws Exception {
        List<String> all = new ArrayList<>();
        for (Future<String> f : futures) {
            all.add(f.get(90, TimeUnit.SECONDS));
        }
        Map<String, Long> counted =
                all.stream().collect(Collectors.groupingBy(Function.identity(), TreeMap::new, Collectors.counting()));
        System.out.println("[process death] " + counted);
        return all;
    }
}
