package dev.underpass.gateway.link;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.underpass.protocol.Protocol;
import dev.underpass.telemetry.SecretMasker;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Error answers to the agent as RFC 9457 problem details, ending the stream. Details may quote
 * what the peer sent (a path, a header): secrets in them are masked, as in the API's problems.
 */
public final class Problems {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Problems() {
    }

    static ChannelFuture send(Http2StreamChannel stream, int status, String title, String detail) {
        return send(stream, status, title, detail, Map.of());
    }

    /** With {@code headers} besides the status and content type, such as {@code retry-after}. */
    static ChannelFuture send(Http2StreamChannel stream, int status, String title, String detail, Map<String, String> headers) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("type", "about:blank");
        body.put("title", title);
        body.put("status", status);
        body.put("detail", SecretMasker.mask(detail));
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(body);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        DefaultHttp2Headers h = new DefaultHttp2Headers();
        h.status(Integer.toString(status));
        h.set("content-type", Protocol.CONTENT_TYPE_PROBLEM);
        headers.forEach(h::set);
        stream.write(new DefaultHttp2HeadersFrame(h));
        return stream.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(bytes), true));
    }
}
