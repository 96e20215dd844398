package dev.underpass.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.ConnectTimeoutException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

class DialErrorTest {

    @Test
    void connectionRefusedIsRefused() {
        assertThat(DialError.of(new ConnectException("Connection refused"))).isEqualTo(DialError.REFUSED);
        assertThat(DialError.of(new ConnectException(null))).isEqualTo(DialError.REFUSED);
    }

    @Test
    void connectTimeoutIsTimeout() {
        // Netty's ConnectTimeoutException is a ConnectException: it must not be taken for a refusal.
        assertThat(DialError.of(new ConnectTimeoutException("connection timed out after 10000 ms: db/10.0.0.1:5432")))
                .isEqualTo(DialError.TIMEOUT);
        assertThat(DialError.of(new ConnectException("Connection timed out"))).isEqualTo(DialError.TIMEOUT);
    }

    @Test
    void unknownHostIsUnknownHost() {
        assertThat(DialError.of(new UnknownHostException("db.internal"))).isEqualTo(DialError.UNKNOWN_HOST);
    }

    @Test
    void noRouteIsUnreachable() {
        assertThat(DialError.of(new NoRouteToHostException("No route to host"))).isEqualTo(DialError.UNREACHABLE);
        assertThat(DialError.of(new ConnectException("Network is unreachable"))).isEqualTo(DialError.UNREACHABLE);
        assertThat(DialError.of(new ConnectException("connect(..) failed: No route to host")))
                .isEqualTo(DialError.UNREACHABLE);
    }

    @Test
    void looksThroughWrappingExceptions() {
        assertThat(DialError.of(new IOException("dial failed", new ConnectException("Connection refused"))))
                .isEqualTo(DialError.REFUSED);
        assertThat(DialError.of(new CompletionException(new UncheckedIOException(new UnknownHostException("x")))))
                .isEqualTo(DialError.UNKNOWN_HOST);
        assertThat(DialError.of(new RuntimeException(new IOException(new ConnectTimeoutException("t")))))
                .isEqualTo(DialError.TIMEOUT);
        assertThat(DialError.of(new IOException(new ConnectException("Network is unreachable"))))
                .isEqualTo(DialError.UNREACHABLE);
    }

    @Test
    void anythingElseIsError() {
        assertThat(DialError.of(new IOException("Too many open files"))).isEqualTo(DialError.ERROR);
        assertThat(DialError.of(new SocketTimeoutException("Read timed out"))).isEqualTo(DialError.ERROR);
        assertThat(DialError.of(new IllegalStateException("boom", new RuntimeException())))
                .isEqualTo(DialError.ERROR);
        assertThat(DialError.of(null)).isEqualTo(DialError.ERROR);
    }
}
