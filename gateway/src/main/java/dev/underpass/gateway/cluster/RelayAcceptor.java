package dev.underpass.gateway.cluster;

import dev.underpass.gateway.auth.AgentCertificates;
import dev.underpass.gateway.consumer.EndpointPorts;
import dev.underpass.gateway.link.PeerNodes;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.gateway.pki.AgentCertificateAuthority;
import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.StreamSocket;
import io.netty.channel.Channel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AttributeKey;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * The agent port's side of the cluster: recognises links from peer nodes by their node
 * certificate, carries their relay streams to this node's agents as connections of the endpoint
 * port they name, and tells agents where every live node is.
 */
final class RelayAcceptor implements PeerNodes {
    /** The peer node a link authenticated as, once looked at; "" for a link that is not a node's. */
    private static final AttributeKey<String> NODE = AttributeKey.valueOf("underpass.node");

    private final AgentCertificateAuthority ca;
    private final NodeHeartbeat nodes;
    private final EndpointPorts ports;

    RelayAcceptor(AgentCertificateAuthority ca, NodeHeartbeat nodes, EndpointPorts ports) {
        this.ca = ca;
        this.nodes = nodes;
        this.ports = ports;
    }

    @Override
    public boolean fromNode(Channel link) {
        String node = link.attr(NODE).get();
        if (node == null) {
            X509Certificate peer = AgentCertificates.peer(link);
            String id = peer == null ? null : ca.nodeOf(peer);
            node = id == null ? "" : id;
            link.attr(NODE).set(node);
            if (id != null) {
                GatewayLog.SESSIONS.info("link from node {} ({}) relays connections", id, link.remoteAddress());
            }
        }
        return !node.isEmpty();
    }

    @Override
    public void accept(Http2StreamChannel stream, Http2Headers h) {
        stream.config().setAutoRead(false); // nothing is read before the relay starts
        CharSequence endpoint = h.get(Protocol.HEADER_ENDPOINT);
        CharSequence servicePort = h.get(Protocol.HEADER_SERVICE_PORT);
        EndpointPorts.BoundPort port = null;
        if (endpoint != null && servicePort != null) {
            try {
                port = ports.find(endpoint.toString(), Integer.parseInt(servicePort.toString()));
            } catch (NumberFormatException e) {
                port = null;
            }
        }
        if (port == null) {
            stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("404"), true));
            return;
        }
        ports.carryFromPeer(port, StreamSocket.adapt(stream));
    }

    @Override
    public List<String> agentAddresses() {
        return nodes.agentAddresses();
    }
}
