package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import ch.qos.logback.classic.util.ContextInitializer;
import ch.qos.logback.core.status.Status;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shipped logging configuration (src/main/resources/logback.xml, used by gateway, agent and
 * CLI) masks secrets that code logs on purpose: in the message, in its arguments and in exception
 * messages and causes. Reconfigures the process's Logback and puts it back afterwards.
 */
class LogMaskingTest {
    private static final String AGENT_TOKEN = "upa_Q2hhbmdlTWVQbGVhc2UtdGhpcy1pcy1hLXRlc3QtdG9r";
    private static final String API_KEY = "upk_7Yx0-Zq1_Lw2Mv3Nu4Ot5Ps6Qr7Rs8Tt9Uu0Vv1Ww2X";
    private static final String BEARER = "Zm9vYmFyYmF6cXV4LWJlYXJlcg";
    private static final String BASIC = "YWxpY2U6czNjcjN0LXByb3h5";
    private static final String URL_PASSWORD = "Url-Pa55word";
    private static final String PASSWORD = "hunter2-Db-Pa55";
    private static final String JSON_PASSWORD = "json-Pa55word";
    private static final String JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0"
            + ".eyJpc3MiOiJodHRwczovL2lzc3VlciIsInN1YiI6ImFnZW50LTEifQ.c2lnbmF0dXJlLWJ5dGVzLXRoYXQtbG9vay1yYW5kb20";
    private static final String EXCEPTION_TOKEN = "upa_RXhjZXB0aW9uTWVzc2FnZVRva2VuLXNob3VsZC1iZS1t";
    private static final String CAUSE_SECRET = "cause-S3cr3t-value";

    @Test
    void secretsLoggedOnPurposeNeverReachTheOutputButTheRestOfTheLineDoes() throws Exception {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        URL config = LogMaskingTest.class.getClassLoader().getResource("logback.xml");
        assertThat(config).isNotNull();
        assertThat(config.getPath()).endsWith("/classes/logback.xml").doesNotContain("test-classes");
        PrintStream stderr = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        List<Status> errors;
        try {
            context.reset();
            JoranConfigurator configurator = new JoranConfigurator();
            configurator.setContext(context);
            long configuredAt = System.currentTimeMillis();
            configurator.doConfigure(config);
            errors = context.getStatusManager().getCopyOfStatusList().stream()
                    .filter(s -> s.getLevel() == Status.ERROR && s.getTimestamp() >= configuredAt)
                    .toList();
            System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));

            Logger log = LoggerFactory.getLogger("dev.underpass.gateway.MaskingProbe");
            log.info("agent agt-0123456789abcdef authenticated with token " + AGENT_TOKEN);
            log.info("api request with key {} from {}", API_KEY, "/127.0.0.1:5555");
            log.info("headers: Authorization: Bearer " + BEARER);
            log.warn("proxy request refused, {}", "Proxy-Authorization: Basic " + BASIC);
            log.warn("upstream {} unreachable", "http://alice:" + URL_PASSWORD + "@proxy.example:3128");
            log.info("store url=jdbc:postgresql://db:5432/underpass?user=underpass&password={}&ssl=true", PASSWORD);
            log.info("request body {}", "{\"user\":\"bob\",\"password\":\"" + JSON_PASSWORD + "\"}");
            log.info("oidc token {} accepted for agent agt-1", JWT);
            log.info("connection 12 endpoint=ep-0123456789abcdef from=/127.0.0.1:5555 closed: COMPLETED sent=10 "
                    + "received=20 duration=3ms");
            log.error(
                    "agent agt-2 login failed",
                    new IllegalStateException(
                            "token " + EXCEPTION_TOKEN + " revoked",
                            new IOException("secret=" + CAUSE_SECRET + " rejected by store")));
            // Writes out the asynchronous appender's queue: everything above is on stderr after this.
            context.stop();
        } finally {
            System.setErr(stderr);
            restore(context);
        }
        assertThat(errors).as("logback.xml loads without errors").isEmpty();

        String out = captured.toString(StandardCharsets.UTF_8);
        assertThat(out)
                .doesNotContain(
                        AGENT_TOKEN.substring(4),
                        API_KEY.substring(4),
                        BEARER,
                        BASIC,
                        URL_PASSWORD,
                        PASSWORD,
                        JSON_PASSWORD,
                        JWT.substring(3),
                        EXCEPTION_TOKEN.substring(4),
                        CAUSE_SECRET);
        assertThat(out)
                .contains(
                        "INFO  MaskingProbe - agent agt-0123456789abcdef authenticated with token upa_****\n",
                        "INFO  MaskingProbe - api request with key upk_**** from /127.0.0.1:5555\n",
                        "INFO  MaskingProbe - headers: Authorization: Bearer ****\n",
                        "WARN  MaskingProbe - proxy request refused, Proxy-Authorization: Basic ****\n",
                        "WARN  MaskingProbe - upstream http://alice:****@proxy.example:3128 unreachable\n",
                        "INFO  MaskingProbe - store url=jdbc:postgresql://db:5432/underpass?user=underpass&password=****&ssl=true\n",
                        "INFO  MaskingProbe - request body {\"user\":\"bob\",\"password\":\"****\"}\n",
                        "INFO  MaskingProbe - oidc token eyJ**** accepted for agent agt-1\n",
                        "INFO  MaskingProbe - connection 12 endpoint=ep-0123456789abcdef from=/127.0.0.1:5555 closed: COMPLETED "
                                + "sent=10 received=20 duration=3ms\n",
                        "ERROR MaskingProbe - agent agt-2 login failed\njava.lang.IllegalStateException: token upa_**** revoked\n",
                        "Caused by: java.io.IOException: secret=**** rejected by store\n",
                        "at dev.underpass.cli.LogMaskingTest.secretsLoggedOnPurposeNeverReachTheOutputButTheRestOfTheLineDoes");
        // The stack trace is written once, by %ex inside %mask: Logback adds no unmasked one of its own.
        assertThat(out.split("java.lang.IllegalStateException", -1)).hasSize(2);
    }

    /** Back to the configuration the other tests run with, as Logback chose it at start. */
    private static void restore(LoggerContext context) throws Exception {
        context.reset();
        context.start();
        new ContextInitializer(context).autoConfig();
    }
}
