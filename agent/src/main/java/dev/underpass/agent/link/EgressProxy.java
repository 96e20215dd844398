package dev.underpass.agent.link;

import dev.underpass.agent.config.AgentConfig;
import io.netty.handler.proxy.HttpProxyHandler;
import java.net.InetSocketAddress;

/** The egress proxy on the way to the gateway, the same for the agent's links and for enrollment. */
final class EgressProxy {
    private EgressProxy() {}

    /** An HTTP CONNECT handler for {@code proxy}, with Basic credentials when it names a user. */
    static HttpProxyHandler handler(AgentConfig.ProxySettings proxy) {
        InetSocketAddress at =
                new InetSocketAddress(proxy.address().host(), proxy.address().port());
        return proxy.username() == null
                ? new HttpProxyHandler(at)
                : new HttpProxyHandler(at, proxy.username(), proxy.password());
    }
}
