package dev.underpass.gateway.consumer;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;

/**
 * Bytes a handshake already read from a consumer socket (an absolute-form request, re-encoded),
 * handed to the relay as if read again: the relay's first read() gets them, then the socket's own.
 */
public final class ReplayFirst extends ChannelDuplexHandler {
    private ByteBuf first;

    public ReplayFirst(ByteBuf first) {
        this.first = first;
    }

    @Override
    public void read(ChannelHandlerContext ctx) {
        ByteBuf bytes = first;
        first = null;
        // Out of the way first: the relay asks for more while it handles these, and that read is the socket's.
        ctx.pipeline().remove(this);
        if (bytes != null && bytes.isReadable()) {
            ctx.fireChannelRead(bytes);
            ctx.fireChannelReadComplete();
        } else {
            if (bytes != null) {
                bytes.release();
            }
            ctx.read();
        }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        if (first != null) { // the socket closed before the relay read
            first.release();
            first = null;
        }
    }
}
