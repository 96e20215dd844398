package dev.underpass.agent.link;

import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.ProtocolVersions;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The session stream: the gateway's answer, then its control messages. A refusal is read
 * in full (it is a short problem document) and logged with the gateway's reason; a 426 lets
 * the link offer an older protocol version next time.
 */
final class SessionHandler extends ChannelInboundHandlerAdapter {
    private static final int MAX_PROBLEM_BYTES = 4096;

    private final List<Integer> offered;
    private final GatewayLink link;
    private boolean accepted;
    private int status;
    private final StringBuilder problem = new StringBuilder();

    /** {@code offered}: the protocol versions this session request offers. */
    SessionHandler(List<Integer> offered, GatewayLink link) {
        this.offered = offered;
        this.link = link;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Channel linkChannel = ((Http2StreamChannel) ctx.channel()).parent();
        try {
            if (msg instanceof Http2HeadersFrame h && status == 0) {
                status = h.headers().status() == null
                        ? 0
                        : Integer.parseInt(h.headers().status().toString());
                if (status == 200) {
                    CharSequence chosen = h.headers().get(Protocol.HEADER_PROTOCOL);
                    List<Integer> answer = ProtocolVersions.parse(chosen);
                    if (answer.size() != 1 || !offered.contains(answer.get(0))) {
                        LinkState.of(linkChannel)
                                .fail("the gateway chose protocol version " + chosen + ", this agent offered "
                                        + ProtocolVersions.format(offered));
                        linkChannel.close();
                        return;
                    }
                    accepted = true;
                    link.accepted((Http2StreamChannel) ctx.channel(), answer.get(0), h.headers());
                }
                if (h.isEndStream()) {
                    endSession(linkChannel);
                }
            } else if (msg instanceof Http2DataFrame d) {
                if (accepted) {
                    if (d.content().isReadable()) {
                        ctx.fireChannelRead(d.content().retain());
                    }
                } else if (problem.length() < MAX_PROBLEM_BYTES) {
                    problem.append(d.content().toString(StandardCharsets.UTF_8));
                }
                if (d.isEndStream()) {
                    endSession(linkChannel);
                }
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void endSession(Channel linkChannel) {
        if (status == 426) {
            link.fallBack(problem.toString());
        }
        LinkState.of(linkChannel)
                .fail(
                        accepted
                                ? "the gateway ended the session"
                                : "the gateway refused the session: " + status + " "
                                        + problemDetail(problem.toString()));
        linkChannel.close();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof Http2ResetFrame reset) {
            Channel linkChannel = ((Http2StreamChannel) ctx.channel()).parent();
            LinkState.of(linkChannel).fail("the gateway reset the session (" + reset.errorCode() + ")");
            linkChannel.close();
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        ((Http2StreamChannel) ctx.channel()).parent().close();
        ctx.fireChannelInactive();
    }

    /** "title: detail" of a problem document, or the start of whatever the gateway sent. */
    private static String problemDetail(String json) {
        try {
            var node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
            if (node != null && node.hasNonNull("detail")) {
                return node.get("title").asText("") + ": " + node.get("detail").asText();
            }
        } catch (IOException notJson) {
            // fall through: show what the gateway sent
        }
        return json.length() > 200 ? json.substring(0, 200) : json;
    }
}
