package dev.underpass.agent.link;

import dev.underpass.protocol.Causes;
import dev.underpass.protocol.LinkSettings;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * After the TLS handshake: insists on HTTP/2, sets up the link's HTTP/2 pipeline and hands the
 * link on to open its session; a failed handshake is recorded as the reason the link ended.
 */
final class Alpn extends ApplicationProtocolNegotiationHandler {
    private final Duration heartbeatTimeout;
    private final Consumer<Channel> openSession;

    Alpn(Duration heartbeatTimeout, Consumer<Channel> openSession) {
        super("");
        this.heartbeatTimeout = heartbeatTimeout;
        this.openSession = openSession;
    }

    @Override
    protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
        Channel ch = ctx.channel();
        if (!ApplicationProtocolNames.HTTP_2.equals(protocol)) {
            LinkState.of(ch).fail("the gateway did not agree to HTTP/2 (ALPN '" + protocol + "')");
            ctx.close();
            return;
        }
        ch.pipeline().addLast("h2", LinkSettings.clientCodec());
        ch.pipeline().addLast("streams", new Http2MultiplexHandler(new RefuseInbound()));
        ch.pipeline().addLast("link", new LinkHandler(heartbeatTimeout));
        ch.writeAndFlush(new DefaultHttp2WindowUpdateFrame(
                LinkSettings.CONNECTION_WINDOW_BYTES - LinkSettings.DEFAULT_WINDOW_BYTES));
        openSession.accept(ch);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        // Recorded from the event, which comes before the close; the exception comes after it.
        if (evt instanceof SslHandshakeCompletionEvent done && !done.isSuccess()) {
            LinkState.of(ctx.channel()).fail("TLS handshake failed: " + Causes.root(done.cause()));
            ctx.close();
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LinkState.of(ctx.channel()).fail(Causes.root(cause));
        ctx.close();
    }
}
