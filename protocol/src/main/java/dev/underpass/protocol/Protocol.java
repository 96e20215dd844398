package dev.underpass.protocol;

import io.netty.util.AsciiString;
import java.util.List;

/**
 * Names and numbers of the wire protocol, in one place. docs/protocol.md explains each.
 */
public final class Protocol {
    /**
     * The newest version this build speaks. Version 2 adds health checks and draining, version 3
     * agent listeners; the agent offers every version it speaks and the gateway answers the
     * highest one both speak.
     */
    public static final int VERSION = 3;
    /** Every version this build speaks, newest first. */
    public static final List<Integer> VERSIONS = List.of(3, 2, 1);

    /** The agent opens one session stream per connection; its bodies carry control messages. */
    public static final String SESSION_PATH = "/underpass/v1/session";
    /** The agent opens one data stream per tunnelled TCP connection. */
    public static final String STREAM_PATH = "/underpass/v1/stream";

    /**
     * A gateway node opens one relay stream on a peer node's agent port per consumer connection
     * that the peer's agents carry (docs/cluster.md); only a node's client certificate may.
     */
    public static final String RELAY_PATH = "/underpass/v1/relay";
    /**
     * Version 3: an agent opens one connect stream per connection accepted on one of its agent
     * listeners, for an endpoint of its own account (bidirectional, docs/protocol.md section 14).
     */
    public static final String CONNECT_PATH = "/underpass/v1/connect";
    /**
     * On a connect request from the agent's forward proxy, instead of an endpoint: the
     * {@code host:port} the client asked for, which the gateway resolves among the names of the
     * session's account's available endpoints, as its own forward proxy does.
     */
    public static final AsciiString HEADER_DESTINATION = AsciiString.cached("underpass-destination");
    /** On a connect request: the address of the client that connected to the agent listener, for the log and audit. */
    public static final AsciiString HEADER_CLIENT = AsciiString.cached("underpass-client");
    /**
     * How an agent listener names its endpoint: the endpoint id ({@code ep-...}), or the service
     * it connects to ({@code provider/service}), which the gateway resolves to the listening
     * account's endpoint to that service.
     */
    public static final java.util.regex.Pattern LISTENER_ENDPOINT = java.util.regex.Pattern.compile(
            "ep-[A-Za-z0-9]{1,64}|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?/[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
    /** Most listeners one agent may declare. */
    public static final int MAX_AGENT_LISTENERS = 256;

    /** On a relay or connect request: the endpoint and its service port the consumer connected to. */
    public static final AsciiString HEADER_ENDPOINT = AsciiString.cached("underpass-endpoint");

    public static final AsciiString HEADER_SERVICE_PORT = AsciiString.cached("underpass-service-port");
    /**
     * On the gateway's answer to a session request: the agent addresses ({@code host:port},
     * comma-separated) of the gateway's live nodes, which an agent keeping several links dials.
     */
    public static final AsciiString HEADER_NODES = AsciiString.cached("underpass-nodes");

    public static final AsciiString HEADER_PROTOCOL = AsciiString.cached("underpass-protocol");
    public static final AsciiString HEADER_AGENT = AsciiString.cached("underpass-agent");
    /**
     * On the session request of an agent authenticating with a JWT instead of an agent token:
     * the agent identity ({@code wid-...}) the JWT is checked against.
     */
    public static final AsciiString HEADER_IDENTITY = AsciiString.cached("underpass-identity");

    public static final AsciiString HEADER_CONNECTION_ID = AsciiString.cached("underpass-connection");
    /** On a data stream request: a standby stream, opened ahead of any connection. */
    public static final AsciiString HEADER_STANDBY = AsciiString.cached("underpass-standby");
    /** On the gateway's answer to a standby stream: the target the agent dials for it. */
    public static final AsciiString HEADER_TARGET = AsciiString.cached("underpass-target");
    /**
     * On the gateway's answer to a session request: the agent's account. On an API request
     * authenticated with a user's OIDC token ({@code authorization: Bearer <JWT>}): the account
     * to log in to, whose user with the JWT's {@code sub} as {@code oidcSubject} the request acts as.
     */
    public static final AsciiString HEADER_ACCOUNT = AsciiString.cached("underpass-account");

    public static final AsciiString HEADER_SESSION = AsciiString.cached("underpass-session");
    public static final AsciiString CONTENT_TYPE_NDJSON = AsciiString.cached("application/x-ndjson");
    public static final AsciiString CONTENT_TYPE_PROBLEM = AsciiString.cached("application/problem+json");

    /** Longest control message line, in bytes; longer lines end the session. */
    public static final int MAX_CONTROL_MESSAGE_BYTES = 64 * 1024;
    /**
     * Standby streams the agent keeps open per session, so that a new connection needs no
     * round trip before its first bytes travel.
     */
    public static final int STANDBY_STREAMS = 8;
    /** Most standby streams the gateway holds for one session; more are refused. */
    public static final int MAX_STANDBY_STREAMS = 64;
    /** Most health checks in one healthChecks message. */
    public static final int MAX_HEALTH_CHECKS = 1024;
    /** Most targets one agent may advertise. */
    public static final int MAX_ADVERTISED_TARGETS = 1024;

    private Protocol() {}
}
