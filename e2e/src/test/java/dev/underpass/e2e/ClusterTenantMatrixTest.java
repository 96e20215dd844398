package dev.underpass.e2e;

import dev.underpass.testkit.EchoServer;
import java.nio.file.Path;
import java.util.List;

/**
 * The consumer tenant matrix ({@link TenantMatrix}) on every node of a two-node cluster
 * (docs/cluster.md), with the agent linked to node B only: on node A, the refusals hold and the
 * owner's connections are carried through B.
 */
@SuppressWarnings("BanJNDI") // JNDI's DNS provider is the test's DNS client: address strings, no objects
class ClusterTenantMatrixTest extends TenantMatrix {
    @Override
    Started start(Path dir, EchoServer echo) throws Exception {
        GatewayCluster c = GatewayCluster.start(dir, 2, 0, echo.address(), 0);
        try {
            GatewayCluster.Node a = c.nodes().get(0);
            GatewayCluster.Node b = c.nodes().get(1);
            c.startAgent("agent", b.host + ":" + c.nodeAgentPort(), echo.address(), "--links", "1");
            b.process.awaitLog("advertised", GatewayCluster.WAIT);
            GatewayCluster.await("an echo through node A", () -> GatewayCluster.echoesOnce(a.endpoint()));
            return new Started(
                    c.api(),
                    c.operatorKey(),
                    c.acmeKey(),
                    c.platformKey(),
                    c.endpointDnsName() + ":" + GatewayCluster.SERVICE_PORT,
                    List.of(entrance(c, a), entrance(c, b)),
                    c);
        } catch (Exception | AssertionError e) {
            c.close();
            throw e;
        }
    }

    private static Entrance entrance(GatewayCluster c, GatewayCluster.Node n) {
        return new Entrance("node " + n.name, n.host, c.nodeProxyPort(), c.nodeSniPort(), c.nodeDnsPort(), n.process);
    }
}
