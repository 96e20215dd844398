package dev.underpass.gateway.consumer.proxy;

import java.time.Duration;
import java.util.concurrent.Executor;

/** The operator's egress policy, how long a direct dial may take, and where names are resolved. */
public record Egress(EgressPolicy policy, Duration dialTimeout, Executor resolver) {}
