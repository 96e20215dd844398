package dev.underpass.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.PatternLayout;
import ch.qos.logback.classic.spi.LoggingEvent;
import java.io.IOException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@code %mask(...)} in a pattern: message, arguments and exception text, with no unmasked copy. */
class MaskingConverterTest {
    private final LoggerContext context = new LoggerContext();

    @AfterEach
    void stop() {
        context.stop();
    }

    private PatternLayout layout(String pattern) {
        PatternLayout layout = new PatternLayout();
        layout.setContext(context);
        layout.getInstanceConverterMap().put("mask", MaskingConverter::new);
        layout.setPattern(pattern);
        layout.start();
        return layout;
    }

    private LoggingEvent event(String message, Throwable t, Object... args) {
        return new LoggingEvent(MaskingConverterTest.class.getName(), context.getLogger("test"), Level.WARN, message, t, args);
    }

    @Test
    void masksTheMessageItsArgumentsAndTheWholeStackTraceOnce() {
        String key = "upk_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v";
        Exception cause = new IOException("proxy said 407 to Proxy-Authorization: Basic YWxpY2U6czNjcjN0");
        Exception e = new IllegalStateException("login with password=hunter2 failed", cause);

        String line = layout("%-5level %logger{0} - %mask(%msg%n%ex)").doLayout(
                event("key {} refused for {} at {}", e, key, "alice", "http://alice:s3cr3t@gw:8443/v1"));

        assertThat(line).startsWith("WARN  test - key upk_**** refused for alice at http://alice:****@gw:8443/v1"
                + System.lineSeparator() + "java.lang.IllegalStateException: login with password=**** failed");
        assertThat(line).contains("Caused by: java.io.IOException: proxy said 407 to Proxy-Authorization: Basic ****",
                "at dev.underpass.telemetry.MaskingConverterTest");
        assertThat(line).doesNotContain(key.substring(4), "hunter2", "s3cr3t", "YWxpY2U6czNjcjN0");
        // Logback appends an %ex of its own only when the pattern has none: here it must not.
        assertThat(line.split("IllegalStateException", -1)).hasSize(2);
    }

    @Test
    void anOrdinaryLineIsWrittenAsIs() {
        String message = "connection 12 endpoint=ep-0123456789abcdef from=/127.0.0.1:5555 closed: COMPLETED sent=10 "
                + "received=20 duration=3ms";

        String line = layout("%mask(%msg%n%ex)").doLayout(event(message, null));

        assertThat(line).isEqualTo(message + System.lineSeparator());
    }
}
