package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.testkit.DataStream;
import dev.underpass.testkit.EchoServer;
import dev.underpass.testkit.HashServer;
import dev.underpass.testkit.HoldServer;
import dev.underpass.testkit.SourceServer;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bytes arrive exactly through a real gateway and agent: large transfers both ways with
 * matching SHA-256, half-close, many concurrent streams, and a stalled reader that stops its
 * own writer without slowing the others.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class DataPathTest {
    static final long GIB = 1L << 30;

    @TempDir
    static Path dir;

    static EchoServer echo;
    static HashServer hash;
    static SourceServer source;
    static HoldServer hold;
    static Tunnel tunnel;

    @BeforeAll
    static void start() throws Exception {
        echo = new EchoServer();
        hash = new HashServer();
        source = new SourceServer();
        hold = new HoldServer();
        tunnel = Tunnel.start(
                dir,
                Map.of(
                        "echo",
                        echo.address(),
                        "hash",
                        hash.address(),
                        "source",
                        source.address(),
                        "hold",
                        hold.address()));
    }

    @AfterAll
    static void stop() throws Exception {
        tunnel.close();
        echo.close();
        hash.close();
        source.close();
        hold.close();
        assertThat(echo.failures()).isEmpty();
        assertThat(hash.failures()).isEmpty();
    }

    @Test
    void oneGibibyteUploadArrivesWithTheSameSha256() throws Exception {
        String answer = Clients.upload(tunnel.endpointPort("hash"), GIB, 7);
        assertThat(answer).isEqualTo(DataStream.sha256(7, GIB, Clients.CHUNK) + " " + GIB);
    }

    @Test
    void oneGibibyteDownloadArrivesWithTheSameSha256() throws Exception {
        Clients.Download d = Clients.download(tunnel.endpointPort("source"), GIB, 11);
        assertThat(d.bytes()).isEqualTo(GIB);
        assertThat(d.sha256()).isEqualTo(DataStream.sha256(11, GIB, Clients.CHUNK));
    }

    @Test
    void halfCloseLetsTheClientReadTheWholeReplyAfterItsFin() throws Exception {
        byte[] payload = new byte[3 * 1024 * 1024 + 17];
        new Random(3).nextBytes(payload);
        byte[] back = Clients.echo(tunnel.endpointPort("echo"), payload);
        assertThat(back).hasSize(payload.length);
        assertThat(Arrays.equals(back, payload)).isTrue();
    }

    @Test
    void serverFinReachesTheClientWhileTheClientCanStillWrite() throws Exception {
        // The source answers and sends its FIN; the client then still writes, and reads EOF cleanly.
        try (Socket s = Clients.connect(tunnel.endpointPort("source"))) {
            Clients.request(s, 1000, 5);
            Clients.Download d = Clients.drain(s.getInputStream());
            assertThat(d.bytes()).isEqualTo(1000);
            s.getOutputStream().write("still open\n".getBytes(StandardCharsets.US_ASCII));
        }
    }

    @Test
    void twoHundredConcurrentStreamsEachGetTheirOwnBytes() throws Exception {
        int streams = 200;
        int size = 256 * 1024;
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int i = 0; i < streams; i++) {
                int seed = i;
                results.add(pool.submit(() -> {
                    byte[] payload = new byte[size];
                    new Random(seed).nextBytes(payload);
                    return Arrays.equals(Clients.echo(tunnel.endpointPort("echo"), payload), payload);
                }));
            }
            int ok = 0;
            for (Future<Boolean> f : results) {
                if (f.get(5, TimeUnit.MINUTES)) {
                    ok++;
                }
            }
            assertThat(ok).isEqualTo(streams);
        }
    }

    @Test
    void stalledReadersStopTheirWritersAndDoNotSlowOtherStreams() throws Exception {
        // More stalled streams than a modest connection window could absorb (32 x 1 MiB): each
        // holds its own stream window, and must not block the link for the others.
        int stalledCount = 40;
        List<Socket> stalled = new ArrayList<>();
        try {
            long before = source.written();
            for (int i = 0; i < stalledCount; i++) {
                Socket s = Clients.connect(tunnel.endpointPort("source"));
                stalled.add(s);
                Clients.request(s, 4 * GIB, 1000 + i); // never read
            }
            // Other streams keep their speed: 64 MiB downloads complete while the readers are stalled.
            for (int i = 0; i < 4; i++) {
                Clients.Download d = Clients.download(tunnel.endpointPort("source"), 64L << 20, 100 + i);
                assertThat(d.sha256()).isEqualTo(DataStream.sha256(100 + i, 64L << 20, Clients.CHUNK));
            }
            // Each stalled writer is held back by flow control: it wrote at most its stream window
            // and the socket buffers along the path (a few MiB), not the gigabytes it was asked for.
            long perStalled = (source.written() - before - 4 * (64L << 20)) / stalledCount;
            assertThat(perStalled).isLessThan(16L << 20);
            Thread.sleep(1000); // and stays held back
            assertThat((source.written() - before - 4 * (64L << 20)) / stalledCount)
                    .isLessThan(16L << 20);
            assertThat(tunnel.gateway().isAlive()).isTrue();
            assertThat(tunnel.agent().isAlive()).isTrue();
        } finally {
            for (Socket s : stalled) {
                s.close();
            }
        }
    }

    @Test
    void manyTargetsThatStopReadingHoldOnlyTheirOwnStreams() throws Exception {
        // 100 uploads into targets that never read: each fills its own window and socket buffers
        // in the agent (as run by the launcher, with its memory limits); the link stays usable.
        int count = 100;
        int acceptedBefore = hold.accepted();
        List<Socket> uploads = new ArrayList<>();
        try (ExecutorService writers = Executors.newVirtualThreadPerTaskExecutor()) {
            try {
                for (int i = 0; i < count; i++) {
                    Socket s = Clients.connect(tunnel.endpointPort("hold"));
                    uploads.add(s);
                    writers.submit(() -> {
                        byte[] chunk = new byte[64 * 1024];
                        for (int k = 0; k < 64; k++) { // 4 MiB each, more than the path can buffer
                            s.getOutputStream().write(chunk);
                        }
                        return null;
                    });
                }
                long deadline = System.nanoTime() + Tunnel.WAIT.toNanos();
                while (hold.accepted() - acceptedBefore < count && System.nanoTime() < deadline) {
                    Thread.sleep(20); // waiting for a condition, bounded by the deadline
                }
                // At least: the agent's health check connects to the target too, now and then.
                assertThat(hold.accepted() - acceptedBefore).isGreaterThanOrEqualTo(count);
                byte[] payload = new byte[1 << 20];
                new Random(5).nextBytes(payload);
                assertThat(Clients.echo(tunnel.endpointPort("echo"), payload)).isEqualTo(payload);
                Clients.Download d = Clients.download(tunnel.endpointPort("source"), 64L << 20, 77);
                assertThat(d.sha256()).isEqualTo(DataStream.sha256(77, 64L << 20, Clients.CHUNK));
                assertThat(tunnel.agent().isAlive()).isTrue();
                assertThat(tunnel.agent().output())
                        .doesNotContain("OutOfDirectMemoryError")
                        .doesNotContain("link error");
            } finally {
                for (Socket s : uploads) {
                    s.close(); // unblocks the writers
                }
            }
        }
    }
}
