package dev.underpass.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.PatternLayout;
import ch.qos.logback.classic.spi.LoggingEvent;
import java.io.IOException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@code %mask(%msg){}%n%maskedEx}, the production pattern's end (cli's logback.xml): message,
 * arguments and exception text masked and escaped, with no unmasked copy of the stack trace.
 */
class MaskingConverterTest {
    static final String PATTERN = "%-5level %logger{0} - %mask(%msg){}%n%maskedEx";
    private final LoggerContext context = new LoggerContext();

    @AfterEach
    void stop() {
        context.stop();
    }

    private PatternLayout layout(String pattern) {
        PatternLayout layout = new PatternLayout();
        layout.setContext(context);
        layout.getInstanceConverterMap().put("mask", MaskingConverter::new);
        layout.getInstanceConverterMap().put("maskedEx", MaskingThrowableConverter::new);
        layout.setPattern(pattern);
        layout.start();
        return layout;
    }

    private LoggingEvent event(String message, Throwable t, Object... args) {
        return new LoggingEvent(
                MaskingConverterTest.class.getName(), context.getLogger("test"), Level.WARN, message, t, args);
    }

    @Test
    void masksTheMessageItsArgumentsAndTheWholeStackTraceOnce() {
        String key = "upk_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v";
        Exception cause = new IOException("proxy said 407 to Proxy-Authorization: Basic YWxpY2U6czNjcjN0");
        Exception e = new IllegalStateException("login with password=hunter2 failed", cause);

        String line = layout(PATTERN)
                .doLayout(event("key {} refused for {} at {}", e, key, "alice", "http://alice:s3cr3t@gw:8443/v1"));

        assertThat(line)
                .startsWith("WARN  test - key upk_**** refused for alice at http://alice:****@gw:8443/v1"
                        + System.lineSeparator() + "java.lang.IllegalStateException: login with password=**** failed");
        assertThat(line)
                .contains(
                        "Caused by: java.io.IOException: proxy said 407 to Proxy-Authorization: Basic ****",
                        "at dev.underpass.telemetry.MaskingConverterTest");
        assertThat(line).doesNotContain(key.substring(4), "hunter2", "s3cr3t", "YWxpY2U6czNjcjN0");
        // Logback appends an %ex of its own only when the pattern has none: here it must not.
        assertThat(line.split("IllegalStateException", -1)).hasSize(2);
    }

    @Test
    void anOrdinaryLineIsWrittenAsIs() {
        String message = "connection 12 endpoint=ep-0123456789abcdef from=/127.0.0.1:5555 closed: COMPLETED sent=10 "
                + "received=20 duration=3ms";

        String line = layout("%mask(%msg){}%n%maskedEx").doLayout(event(message, null));

        assertThat(line).isEqualTo(message + System.lineSeparator());
    }

    @Test
    void aValueFromOutsideCannotStartAForgedLine() {
        // GET /v1/x%0a2026-...Z INFO  api - UNAUTH-FORGED-LINE%0a, as the API logs the decoded path (issue 12).
        String path = "/v1/x\n2026-12-07T05:00:00.000Z INFO  api - UNAUTH-FORGED-LINE\n";

        String line = layout(PATTERN).doLayout(event("GET {} 404 from {}", null, path, "/198.18.0.9:40000"));

        assertThat(line.lines()).hasSize(1);
        assertThat(line)
                .isEqualTo("WARN  test - GET /v1/x\\n2026-12-07T05:00:00.000Z INFO  api - UNAUTH-FORGED-LINE\\n "
                        + "404 from /198.18.0.9:40000" + System.lineSeparator());
    }

    @Test
    void everyControlCharacterIsEscapedInMessagesAndExceptionMessages() {
        String hostile = "a\u0000b\rc\td\u001b[31me\u007ff\u0085g\u2028h\u202ei";
        Exception e = new IllegalArgumentException("bad target " + hostile, new IOException("cause\n" + hostile));

        String line = layout(PATTERN).doLayout(event("proxy target {}", e, hostile));

        String escaped = "a\\x00b\\rc\\td\\x1b[31me\\x7ff\\x85g\\u2028h\\u202ei";
        assertThat(line)
                .startsWith("WARN  test - proxy target " + escaped + System.lineSeparator()
                        + "java.lang.IllegalArgumentException: bad target " + escaped + System.lineSeparator());
        assertThat(line).contains("Caused by: java.io.IOException: cause\\n" + escaped + System.lineSeparator());
        // Every line after the first belongs to the stack trace: it cannot pass for an event of its own.
        assertThat(line.lines().skip(1))
                .allMatch(l -> l.startsWith("\t")
                        || l.startsWith("java.lang.IllegalArgumentException")
                        || l.startsWith("Caused by: "));
        assertThat(line).doesNotContainPattern("[\\x00-\\x08\\x0b-\\x1f\\x7f\\x85\\u2028\\u202e]");
    }
}
