package dev.underpass.gateway.link;

import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;

/**
 * What the agent port needs of the consumer side for agent listeners (protocol version 3,
 * bidirectional): an agent's connect stream, one per connection accepted on one of its listeners,
 * is carried as a consumer connection of the endpoint it names.
 */
public interface AgentConnects {
    /** Takes a connect stream of {@code session} over, with its request {@code headers}: carries it, or answers why not. */
    void accept(AgentSession session, Http2StreamChannel stream, Http2Headers headers);
}
