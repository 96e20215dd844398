package dev.underpass.gateway.link;

import dev.underpass.controlplane.api.ProblemJson;
import dev.underpass.protocol.Protocol;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.util.Map;

/**
 * Error answers to the agent as RFC 9457 problem details, ending the stream: the API's own
 * document ({@link ProblemJson}), so details that quote what the peer sent are masked the same way.
 */
public final class Problems {
    private Problems() {}

    public static ChannelFuture send(Http2StreamChannel stream, int status, String title, String detail) {
        return send(stream, status, title, detail, Map.of());
    }

    /** With {@code headers} besides the status and content type, such as {@code retry-after}. */
    static ChannelFuture send(
            Http2StreamChannel stream, int status, String title, String detail, Map<String, String> headers) {
        byte[] bytes = ProblemJson.of(status, title, detail).bytes();
        DefaultHttp2Headers h = new DefaultHttp2Headers();
        h.status(Integer.toString(status));
        h.set("content-type", Protocol.CONTENT_TYPE_PROBLEM);
        headers.forEach(h::set);
        stream.write(new DefaultHttp2HeadersFrame(h));
        return stream.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(bytes), true));
    }
}
