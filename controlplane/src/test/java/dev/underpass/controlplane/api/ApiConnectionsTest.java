package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * API connections spoken to with raw TLS sockets: pipelined requests beyond the bound get an
 * answer rather than a silent close, and slow clients cannot hold a connection open by
 * trickling bytes, while an idle keep-alive connection has its own, longer, time.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ApiConnectionsTest {
    /** Short deadlines, so that the test is quick: handshake, request, idle. */
    static final ApiServer.Timeouts SHORT =
            new ApiServer.Timeouts(Duration.ofSeconds(2), Duration.ofSeconds(3), Duration.ofSeconds(6));

    @TempDir
    Path dir;

    ApiFixture api;
    ListAppender<ILoggingEvent> logged;
    Logger apiLog;

    void start(ApiServer.Timeouts timeouts) throws Exception {
        api = ApiFixture.start(dir, timeouts);
        apiLog = (Logger) LoggerFactory.getLogger("underpass.api");
        logged = new ListAppender<>();
        logged.start();
        apiLog.addAppender(logged);
    }

    @AfterEach
    void stop() {
        if (api != null) {
            apiLog.detachAppender(logged);
            api.close();
        }
    }

    @Test
    void pipelinedRequestsBeyondTheBoundAreAnswered429AndTheConnectionClosedAfterIt() throws Exception {
        start(ApiServer.Timeouts.DEFAULTS);
        try (SSLSocket s = tls()) {
            // Written at once: the server reads them far faster than it answers them (each asks the store).
            String request =
                    "GET /v1/whoami HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer " + api.cp.operatorKey + "\r\n\r\n";
            s.getOutputStream().write(request.repeat(300).getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            List<Answer> answers = readAll(s.getInputStream());

            // Those answered while the server read on count too: more than the bound may be answered, never fewer.
            assertThat(answers).as("answers before the close").hasSizeBetween(ApiHandler.MAX_PIPELINED + 1, 299);
            assertThat(answers.subList(0, answers.size() - 1))
                    .allSatisfy(a -> assertThat(a.status()).isEqualTo(200));
            Answer refused = answers.getLast();
            assertThat(refused.status()).isEqualTo(429);
            assertThat(refused.head()).contains("content-type: application/problem+json", "connection: close");
            assertThat(refused.body())
                    .contains(
                            "more than " + ApiHandler.MAX_PIPELINED + " requests were sent ahead of their answers",
                            "send the rest again on a new connection");
        }
    }

    @Test
    void aRequestHeadTrickledAByteASecondIsClosedByItsDeadlineAndLoggedOncePerSource() throws Exception {
        start(SHORT);
        byte[] head = "GET /v1/openapi.yaml HTTP/1.1\r\nHost: api\r\nX-Slow: 1234567890\r\n\r\n"
                .getBytes(StandardCharsets.US_ASCII);
        try (SSLSocket first = tls();
                SSLSocket second = tls()) {
            long start = System.nanoTime();
            boolean firstOpen = true;
            boolean secondOpen = true;
            for (int i = 0; i < head.length && (firstOpen || secondOpen); i++) {
                firstOpen = firstOpen && trickle(first, head[i]);
                secondOpen = secondOpen && trickle(second, head[i]);
            }
            long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
            assertThat(firstOpen || secondOpen)
                    .as("closed before the head (%s bytes) was complete", head.length)
                    .isFalse();
            assertThat(seconds).as("seconds until both were closed").isBetween(2L, 10L);
        }
        assertThat(lines())
                .filteredOn(l -> l.contains("its request was not complete within 3 s of its first byte"))
                .as("two connections from one source, one line")
                .hasSize(1);
    }

    @Test
    void aConnectionWithoutATlsHandshakeIsClosedByItsDeadline() throws Exception {
        start(SHORT);
        try (Socket s = new Socket("127.0.0.1", api.base.getPort())) {
            s.setSoTimeout(30_000);
            long start = System.nanoTime();
            s.getOutputStream().write(22); // the first byte of a TLS record, and nothing more
            assertThat(s.getInputStream().read()).isEqualTo(-1);
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isBetween(1_500L, 10_000L);
        }
        assertThat(lines()).anySatisfy(l -> assertThat(l).contains("its TLS handshake did not finish within 2 s"));
    }

    @Test
    void anIdleKeepAliveConnectionOutlivesTheRequestDeadlineThenClosesAfterItsIdleTime() throws Exception {
        start(SHORT);
        try (SSLSocket s = tls()) {
            String request =
                    "GET /v1/whoami HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer " + api.cp.operatorKey + "\r\n\r\n";
            InputStream in = s.getInputStream();
            s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            assertThat(readAnswer(in).status()).isEqualTo(200);
            Thread.sleep(SHORT.request().plusSeconds(1).toMillis());
            s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            assertThat(readAnswer(in).status())
                    .as("still open after more than the request deadline")
                    .isEqualTo(200);
            long start = System.nanoTime();
            assertThat(in.read()).isEqualTo(-1);
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start))
                    .as("closed as idle")
                    .isBetween(SHORT.idle().toMillis() - 500, SHORT.idle().toMillis() + 5_000);
        }
    }

    /** Writes one byte, then waits a second for the server to close; false once it has. */
    private static boolean trickle(SSLSocket s, byte b) throws IOException {
        try {
            s.getOutputStream().write(b);
            s.getOutputStream().flush();
            s.setSoTimeout(500);
            return s.getInputStream().read() != -1;
        } catch (SocketTimeoutException stillOpen) {
            return true;
        } catch (IOException closed) {
            return false;
        }
    }

    private SSLSocket tls() throws IOException {
        SSLSocket s =
                (SSLSocket) api.http.sslContext().getSocketFactory().createSocket("127.0.0.1", api.base.getPort());
        s.setSoTimeout(30_000);
        s.startHandshake();
        return s;
    }

    private List<String> lines() {
        return logged.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    }

    /** One HTTP/1.1 answer: status, head (lower case) and body. */
    record Answer(int status, String head, String body) {}

    private static List<Answer> readAll(InputStream in) throws IOException {
        List<Answer> answers = new ArrayList<>();
        for (Answer a = readAnswer(in); a != null; a = readAnswer(in)) {
            answers.add(a);
        }
        return answers;
    }

    /** The next answer, or null at the end of the stream; bodies have a content-length. */
    private static Answer readAnswer(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b == -1) {
                assertThat(head.size()).as("a partial answer: %s", head).isZero();
                return null;
            }
            head.write(b);
        }
        String text = head.toString(StandardCharsets.ISO_8859_1).toLowerCase(Locale.ROOT);
        int length = 0;
        for (String line : text.split("\r\n")) {
            if (line.startsWith("content-length:")) {
                length = Integer.parseInt(
                        line.substring("content-length:".length()).strip());
            }
        }
        String body = new String(in.readNBytes(length), StandardCharsets.UTF_8);
        return new Answer(Integer.parseInt(text.substring(9, 12)), text, body);
    }
}
