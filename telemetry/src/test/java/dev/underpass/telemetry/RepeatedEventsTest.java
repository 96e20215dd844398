package dev.underpass.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** A flood of one kind of event costs one line per key and interval, and the count still reaches the log. */
class RepeatedEventsTest {
    private static final String LOGGER = "test.repeated";
    private final AtomicLong now = new AtomicLong(1_000_000_000L);

    private RepeatedEvents events(int maxKeys) {
        return new RepeatedEvents(LoggerFactory.getLogger(LOGGER), Duration.ofSeconds(10), maxKeys, now::get, null);
    }

    @Test
    void aFloodFromOneSourceIsOneLineAtOnceAndOneWithTheCountAtTheFlush() {
        try (LogCapture log = new LogCapture(LOGGER)) {
            RepeatedEvents events = events(100);
            for (int i = 0; i < 3000; i++) {
                events.warn(
                        "198.18.0.9",
                        "agent link from {} refused: TLS handshake failed ({})",
                        "198.18.0.9:" + (40000 + i),
                        i);
            }
            assertThat(log.messages())
                    .containsExactly("agent link from 198.18.0.9:40000 refused: TLS handshake failed (0)");

            now.addAndGet(Duration.ofSeconds(10).toNanos());
            events.flush();

            assertThat(log.messages())
                    .hasSize(2)
                    .last()
                    .isEqualTo(
                            "agent link from 198.18.0.9:42999 refused: TLS handshake failed (2999) (2999 times in the last 10 s)");
            // A quiet key is forgotten after its interval; its next event is logged at once again.
            now.addAndGet(Duration.ofSeconds(10).toNanos());
            events.flush();
            events.warn("198.18.0.9", "again");
            assertThat(log.messages()).hasSize(3).last().isEqualTo("again");
        }
    }

    @Test
    void keysAreApartAndTheirNumberAndTheLinesPerIntervalAreBounded() {
        try (LogCapture log = new LogCapture(LOGGER)) {
            RepeatedEvents events = events(50);
            for (int i = 0; i < 500; i++) {
                events.warn("source-" + i, "refused {}", i);
                events.warn("source-" + i, "refused {}", i + 1000);
            }
            assertThat(log.messages()).hasSize(RepeatedEvents.LINES_PER_INTERVAL);

            now.addAndGet(Duration.ofSeconds(10).toNanos());
            events.flush();

            // The 50 keys remembered get a line each (2 events apiece); the 800 events of forgotten keys one line in
            // all.
            assertThat(log.messages()).hasSize(RepeatedEvents.LINES_PER_INTERVAL + 51);
            assertThat(log.messages().getLast())
                    .isEqualTo("800 more such event(s) in the last 10 s were not logged one by one");
        }
    }

    @Test
    void theSourceKeyIsTheAddressWithoutThePort() {
        assertThat(RepeatedEvents.source(new InetSocketAddress("127.0.0.1", 4000)))
                .isEqualTo(RepeatedEvents.source(new InetSocketAddress("127.0.0.1", 5000)))
                .isEqualTo("127.0.0.1");
    }

    @Test
    void eventsOfAnotherKindFromTheSameSourceAreLoggedApart() {
        try (LogCapture log = new LogCapture(LOGGER)) {
            RepeatedEvents events = events(100);
            events.info("127.0.0.1", "proxy request from {} refused: {}", "a", "403");
            events.info("127.0.0.1", "proxy request from {} refused: {}", "b", "403");
            events.warn("127.0.0.1", "agent link from {} refused: {}", "c", "no agent token");

            assertThat(log.messages())
                    .containsExactly("proxy request from a refused: 403", "agent link from c refused: no agent token");
            assertThat(log.events().getFirst().getLevel()).hasToString("INFO");
        }
    }
}
