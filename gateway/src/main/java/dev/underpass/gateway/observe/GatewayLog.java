package dev.underpass.gateway.observe;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Named loggers, so operators can filter agent sessions, consumer connections and the proxy apart. */
public final class GatewayLog {
    public static final Logger SESSIONS = LoggerFactory.getLogger("underpass.gateway.sessions");
    public static final Logger CONNECTIONS = LoggerFactory.getLogger("underpass.gateway.connections");
    /** The forward proxy and the TLS listener: the consumers' entrances that are not endpoint ports. */
    public static final Logger PROXY = LoggerFactory.getLogger("underpass.gateway.proxy");

    private GatewayLog() {}
}
