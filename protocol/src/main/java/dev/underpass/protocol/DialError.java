package dev.underpass.protocol;

import io.netty.channel.ConnectTimeoutException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.UnknownHostException;

/** Why an agent could not reach a target; sent in {@link ControlMessage.DialFailed}. */
public enum DialError {
    /** The target is not in the agent's local allowlist. */
    NOT_ALLOWED,
    /** The target actively refused the TCP connection. */
    REFUSED,
    /** No route to the target's host or network. */
    UNREACHABLE,
    /** The target did not answer the TCP handshake in time. */
    TIMEOUT,
    /** The target's host name did not resolve. */
    UNKNOWN_HOST,
    /** The agent is draining or overloaded and takes no new streams. */
    UNAVAILABLE,
    /** Anything else; the detail says what. */
    ERROR;

    /** Maps a connect failure to its error. */
    public static DialError of(Throwable cause) {
        Throwable c = cause;
        while (c != null) {
            if (c instanceof ConnectTimeoutException) {
                return TIMEOUT;
            }
            if (c instanceof UnknownHostException) {
                return UNKNOWN_HOST;
            }
            if (c instanceof NoRouteToHostException) {
                return UNREACHABLE;
            }
            if (c instanceof ConnectException) {
                String m = String.valueOf(c.getMessage()).toLowerCase(java.util.Locale.ROOT);
                if (m.contains("unreachable") || m.contains("no route")) {
                    return UNREACHABLE;
                }
                return m.contains("timed out") ? TIMEOUT : REFUSED;
            }
            c = c.getCause();
        }
        return ERROR;
    }
}
