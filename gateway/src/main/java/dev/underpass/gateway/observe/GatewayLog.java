package dev.underpass.gateway.observe;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Named loggers, so operators can filter agent sessions and consumer connections apart. */
public final class GatewayLog {
 public static final Logger SESSIONS = LoggerFactory.getLogger("underpass.gateway.sessions");
 public static final Logger CONNECTIONS = LoggerFactory.getLogger("underpass.gateway.connections");

    private GatewayLog() {
    }
}
