package dev.underpass.e2e;

import dev.underpass.testkit.EchoServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** The consumer tenant matrix ({@link TenantMatrix}) against one gateway and one agent, real processes. */
@SuppressWarnings("BanJNDI") // JNDI's DNS provider is the test's DNS client: address strings, no objects
class ConsumerTenantMatrixTest extends TenantMatrix {
    @Override
    Started start(Path dir, EchoServer echo) throws Exception {
        Tunnel t = Tunnel.start(dir, Map.of("echo", echo.address()));
        return new Started(
                t.api(),
                Files.readString(t.dataDir().resolve("admin-key")).trim(),
                t.acmeKey(),
                t.platformKey(),
                t.endpointDnsName("echo") + ":" + Tunnel.servicePort("echo"),
                List.of(new Entrance("gateway", "127.0.0.1", t.proxyPort(), t.sniPort(), t.dnsPort(), t.gateway())),
                t);
    }
}
