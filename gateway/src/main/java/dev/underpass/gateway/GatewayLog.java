package dev.underpass.gateway;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Named loggers, so operators can filter agent sessions and consumer connections apart. */
final class GatewayLog {
    static final Logger SESSIONS = LoggerFactory.getLogger("underpass.gateway.sessions");
    static final Logger CONNECTIONS = LoggerFactory.getLogger("underpass.gateway.connections");

    private GatewayLog() {
    }
}
