package dev.underpass.protocol;

import io.netty.util.AsciiString;

/**
 * Names and numbers of the wire protocol, in one place. docs/protocol.md explains each.
 */
public final class Protocol {
    /** Version this build speaks; sent by the agent, checked by the gateway. */
    public static final int VERSION = 1;

    /** The agent opens one session stream per connection; its bodies carry control messages. */
    public static final String SESSION_PATH = "/underpass/v1/session";
    /** The agent opens one data stream per tunnelled TCP connection. */
    public static final String STREAM_PATH = "/underpass/v1/stream";

    public static final AsciiString HEADER_PROTOCOL = AsciiString.cached("underpass-protocol");
    public static final AsciiString HEADER_AGENT = AsciiString.cached("underpass-agent");
    public static final AsciiString HEADER_CONNECTION_ID = AsciiString.cached("underpass-connection");
    public static final AsciiString HEADER_ACCOUNT = AsciiString.cached("underpass-account");
    public static final AsciiString HEADER_SESSION = AsciiString.cached("underpass-session");
    public static final AsciiString CONTENT_TYPE_NDJSON = AsciiString.cached("application/x-ndjson");
    public static final AsciiString CONTENT_TYPE_PROBLEM = AsciiString.cached("application/problem+json");

    /** Longest control message line, in bytes; longer lines end the session. */
    public static final int MAX_CONTROL_MESSAGE_BYTES = 64 * 1024;
    /** Most targets one agent may advertise. */
    public static final int MAX_ADVERTISED_TARGETS = 1024;

    private Protocol() {
    }
}
