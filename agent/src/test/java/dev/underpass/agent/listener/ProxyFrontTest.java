package dev.underpass.agent.listener;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.agent.config.ListenerSpec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The agent's forward proxy before the gateway is asked: a client that never completes its
 * request is disconnected at the deadline, and one that does is no longer on the clock.
 */
class ProxyFrontTest {
    private static final int SECONDS = 30;
    private final ListenerSpec spec = ListenerSpec.parse("127.0.0.1:3128 -> proxy");
    private final AgentListeners listeners = new AgentListeners(List.of(spec), () -> null, "gateway.test:8443");

    @AfterEach
    void close() {
        listeners.close();
    }

    @Test
    void aClientThatTricklesAnIncompleteRequestIsDisconnectedAtTheDeadline() {
        EmbeddedChannel socket = new EmbeddedChannel(new ProxyFront(listeners, spec, SECONDS));
        socket.writeInbound(ascii("CONNECT db.platform.test:5432 HTTP/1.1\r\n"));
        socket.advanceTimeBy(SECONDS - 1, TimeUnit.SECONDS);
        socket.runScheduledPendingTasks();
        socket.writeInbound(ascii("Host: db.platform.test:5432\r\n")); // still no blank line
        assertThat(socket.isOpen()).as("open before the deadline").isTrue();

        socket.advanceTimeBy(2, TimeUnit.SECONDS);
        socket.runScheduledPendingTasks();
        assertThat(socket.isOpen()).as("closed at the deadline").isFalse();
        assertThat((Object) socket.readOutbound())
                .as("no answer to an incomplete request")
                .isNull();
    }

    @Test
    void aWholeRequestIsAnsweredAndTheDeadlineNoLongerApplies() {
        EmbeddedChannel socket = new EmbeddedChannel(new ProxyFront(listeners, spec, SECONDS));
        socket.writeInbound(ascii("CONNECT db.platform.test:5432 HTTP/1.1\r\nHost: db.platform.test:5432\r\n\r\n"));
        ByteBuf answer = socket.readOutbound();
        assertThat(answer).as("an answer").isNotNull();
        String text = answer.toString(StandardCharsets.US_ASCII);
        answer.release();
        // No session with the gateway: the client is told, in its protocol, and disconnected.
        assertThat(text).startsWith("HTTP/1.1 403 ").contains("no session with the gateway");
        socket.runPendingTasks();
        assertThat(socket.isOpen()).isFalse();
        socket.advanceTimeBy(SECONDS + 1, TimeUnit.SECONDS);
        assertThat(socket.runScheduledPendingTasks()).as("no deadline left").isEqualTo(-1);
    }

    private static ByteBuf ascii(String s) {
        return Unpooled.copiedBuffer(s, StandardCharsets.US_ASCII);
    }
}
