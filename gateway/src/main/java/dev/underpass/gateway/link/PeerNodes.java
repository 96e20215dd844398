package dev.underpass.gateway.link;

import io.netty.channel.Channel;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;

/**
 * What the agent port needs of the other nodes of a gateway cluster (docs/cluster.md): the
 * relay streams they open on it, one per consumer connection they carry to this node's agents,
 * and the addresses of every live node, which agents that keep several links dial.
 */
public interface PeerNodes {
    /** Whether {@code link} authenticated as a node of this gateway (its client certificate says so). */
    boolean fromNode(Channel link);

    /** Takes a relay stream over, with its request {@code headers}: relays it, or answers why not. */
    void accept(Http2StreamChannel stream, Http2Headers headers);

    /** Where agents reach each live node ({@code host:port}), this one included; empty for a gateway alone. */
    java.util.List<String> agentAddresses();
}
