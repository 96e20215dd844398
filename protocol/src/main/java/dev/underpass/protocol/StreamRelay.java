package dev.underpass.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Relays one tunnelled TCP connection between a socket (the consumer's on the gateway, the
 * target's on the agent) and an HTTP/2 stream of the agent session, in both directions.
 *
 * <h2>Lifecycle</h2>
 * {@link #start} installs one handler on each channel and asks each for its first read. The
 * relay ends when the socket closes; {@link Listener#closed} is then called exactly once, with
 * the bytes carried each way and the outcome.
 *
 * <h2>Flow control</h2>
 * Both channels have auto-read off. A side reads its next chunk only while the other side is
 * writable, and a writability change on one side resumes reading on the other. For the stream,
 * writability includes its HTTP/2 send window, and Netty returns receive window to the peer only
 * as frames are read: so a stalled reader stops its own writer within one stream window, and
 * neither gateway nor agent buffers more than that for it. Other streams are not affected.
 *
 * <h2>Half-close and reset</h2>
 * A FIN from the socket becomes END_STREAM; END_STREAM becomes a FIN (shutdownOutput) once every
 * byte before it is written. The socket closes when both directions have finished. A reset on
 * either side, or the loss of either side before both directions finished (for instance the
 * agent link dropping), resets the other side: RST_STREAM on the stream, a TCP RST (linger 0) on
 * the socket. So a consumer never mistakes a broken stream for a complete one.
 *
 * <h2>Process death</h2>
 * The kernel closes a dead process's sockets with a FIN, which the socket's peer would take for
 * the end of the data (issue 12: uploads cut short at the target when an agent was killed). So
 * the socket holds {@code SO_LINGER 0} from the start until its output finished normally (the
 * FIN passed on after the last byte): if the process dies before that, whether gateway or agent,
 * by {@code kill -9} or the OOM killer, the kernel resets the socket instead. Once the output has
 * finished, the linger is back to the default, so that the bytes already written still arrive.
 *
 * <h2>Between gateway nodes</h2>
 * On a node that carries a peer node's consumer connection, the "socket" is the peer's relay
 * stream, presented as one by {@link StreamSocket}: its END_STREAM arrives as the FIN would, and
 * the end of output is sent as END_STREAM.
 *
 * <h2>Threading and reference counting</h2>
 * The two channels may run on different event loops; each handler touches only its own
 * channel's state and uses the other channel through its thread-safe methods. Every buffer read
 * is passed on or released exactly once.
 */
public final class StreamRelay {
    /** How a relayed connection ended. */
    public enum Outcome {
        /** Both directions finished with FIN / END_STREAM. */
        COMPLETED,
        /** The socket's peer reset or dropped the connection. */
        SOCKET_RESET,
        /** The stream was reset by the other end of the tunnel or its link was lost. */
        STREAM_RESET,
        /** A local error (for example a failed write); the detail says which. */
        ERROR
    }

    /** Receives the end of a relay, once. */
    @FunctionalInterface
    public interface Listener {
        void closed(StreamRelay relay, Outcome outcome, String detail);
    }

    private final Channel socket;
    private final Http2StreamChannel stream;
    private final Listener listener;
    private final long startNanos = System.nanoTime();
    private final AtomicReference<Outcome> abortOutcome = new AtomicReference<>();
    private final AtomicReference<String> abortDetail = new AtomicReference<>();
    private final AtomicBoolean endStreamSent = new AtomicBoolean();
    private final AtomicBoolean endStreamReceived = new AtomicBoolean();
    private final AtomicBoolean reported = new AtomicBoolean();
    // Written on the socket's event loop only.
    private volatile long bytesFromSocket;
    // Written on the stream's event loop only.
    private volatile long bytesFromStream;
    // Socket event loop only: both directions finished on the socket.
    private boolean socketInputDone;
    private boolean socketOutputDone;

    private StreamRelay(Channel socket, Http2StreamChannel stream, Listener listener) {
        this.socket = Objects.requireNonNull(socket, "socket");
        this.stream = Objects.requireNonNull(stream, "stream");
        this.listener = Objects.requireNonNull(listener, "listener");
    }

    /**
     * Starts relaying. Both channels must have auto-read off, and the socket must allow
     * half-closure ({@link ChannelOption#ALLOW_HALF_CLOSURE}).
     */
    public static StreamRelay start(Channel socket, Http2StreamChannel stream, Listener listener) {
        resetOnProcessDeath(socket);
        StreamRelay relay = new StreamRelay(socket, stream, listener);
        socket.pipeline().addLast("relay", relay.new SocketSide());
        stream.pipeline().addLast("relay", relay.new StreamSide());
        if (!socket.isActive()) {
            relay.abort(Outcome.SOCKET_RESET, "socket closed before the stream opened");
            relay.report();
        } else {
            relay.readSocket();
            stream.read();
        }
        return relay;
    }

    public long bytesFromSocket() {
        return bytesFromSocket;
    }

    public long bytesFromStream() {
        return bytesFromStream;
    }

    public Duration elapsed() {
        return Duration.ofNanos(System.nanoTime() - startNanos);
    }

    /** Ends the connection abruptly on both sides (for example when its endpoint is removed). */
    public void abort(String reason) {
        abort(Outcome.ERROR, reason);
    }

    private void abort(Outcome outcome, String detail) {
        if (abortOutcome.compareAndSet(null, outcome)) {
            abortDetail.set(detail);
        }
        stream.close(); // sends RST_STREAM if the stream has not finished
        resetSocket(socket);
    }

    /**
     * Makes the kernel reset {@code socket}, not close it with a FIN, should this process die (or
     * close it) before {@link #closeNormallyFromNowOn} says its output has finished. Sockets that
     * carry tunnelled bytes get it when accepted or dialled, so that no byte is relayed before.
     */
    public static void resetOnProcessDeath(Channel socket) {
        setLinger(socket, 0);
    }

    /** The output of {@code socket} finished normally: from now on a close lets the written bytes arrive. */
    public static void closeNormallyFromNowOn(Channel socket) {
        setLinger(socket, -1);
    }

    private static void setLinger(Channel socket, int seconds) {
        try {
            socket.config().setOption(ChannelOption.SO_LINGER, seconds);
        } catch (RuntimeException closed) {
            // The socket is already gone: there is nothing left to protect.
        }
    }

    /** Closes a socket with a TCP RST rather than a FIN, so its peer sees an error, not an end. */
    public static void resetSocket(Channel socket) {
        if (socket.isOpen()) {
            try {
                socket.config().setOption(ChannelOption.SO_LINGER, 0);
            } catch (RuntimeException ignored) {
                // The socket is already gone; close() below is all that is left to do.
            }
            socket.close();
        }
    }

    private void report() {
        if (reported.compareAndSet(false, true)) {
            Outcome outcome = abortOutcome.get();
            listener.closed(this, outcome == null ? Outcome.COMPLETED : outcome, abortDetail.get());
        }
    }

    /** Socket to stream: read from the socket while the stream is writable. */
    private final class SocketSide extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof ByteBuf buf)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            bytesFromSocket += buf.readableBytes();
            stream.write(new DefaultHttp2DataFrame(buf), stream.voidPromise());
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            stream.flush();
            if (stream.isWritable()) {
                readSocket();
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                socketInputDone = true;
                endStreamSent.set(true);
                stream.writeAndFlush(new DefaultHttp2DataFrame(true));
                closeIfFinished();
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (ctx.channel().isWritable()) {
                stream.read();
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            abort(Outcome.SOCKET_RESET, describe(cause));
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!(socketInputDone && socketOutputDone)) {
                abort(Outcome.SOCKET_RESET, "socket closed before both directions finished");
            }
            report();
            ctx.fireChannelInactive();
        }
    }

    /**
     * Asks the socket for its next chunk, on the socket's own loop (which owns socketInputDone)
     * and only while its input is open: after the FIN there is nothing left to read, and Netty's
     * epoll transport even fails such a read (docs/adr/0003-nio-transport.md).
     */
    private void readSocket() {
        if (socket.eventLoop().inEventLoop()) {
            if (!socketInputDone && socket.isActive()) {
                socket.read();
            }
        } else {
            socket.eventLoop().execute(this::readSocket);
        }
    }

    // Socket event loop only.
    private void closeIfFinished() {
        if (socketInputDone && socketOutputDone) {
            socket.close();
        }
    }

    /** Stream to socket: read from the stream while the socket is writable. */
    private final class StreamSide extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2DataFrame frame) {
                    ByteBuf content = frame.content();
                    bytesFromStream += content.readableBytes();
                    if (frame.isEndStream()) {
                        endOfStream(content.retain());
                    } else if (content.isReadable()) {
                        socket.write(content.retain(), socket.voidPromise());
                    }
                } else if (msg instanceof Http2HeadersFrame headers) {
                    // Response headers on the agent side (checked by whoever opened the stream),
                    // or trailers: only END_STREAM matters here.
                    if (headers.isEndStream()) {
                        endOfStream(Unpooled.EMPTY_BUFFER);
                    }
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private void endOfStream(ByteBuf last) {
            endStreamReceived.set(true);
            // Listeners run on the socket's loop, which owns socketOutputDone.
            socket.writeAndFlush(last).addListener((ChannelFutureListener) f -> {
                if (f.isSuccess()) { // otherwise the socket's own close reports the failure
                    halfClose(socket).addListener(done -> {
                        if (done.isSuccess()) {
                            closeNormallyFromNowOn(socket);
                        }
                        socketOutputDone = true;
                        closeIfFinished();
                    });
                }
            });
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            socket.flush();
            if (socket.isWritable()) {
                ctx.read();
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame reset) {
                abort(Outcome.STREAM_RESET, "stream reset (" + reset.errorCode() + ")");
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (ctx.channel().isWritable()) {
                readSocket();
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            abort(Outcome.STREAM_RESET, describe(cause));
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!(endStreamSent.get() && endStreamReceived.get())) {
                abort(Outcome.STREAM_RESET, "stream closed before both directions finished");
            }
            ctx.fireChannelInactive();
        }
    }

    /** Ends the socket's output: a FIN, or END_STREAM when the socket is a peer node's relay stream. */
    private static ChannelFuture halfClose(Channel socket) {
        return socket instanceof DuplexChannel d
                ? d.shutdownOutput()
                : socket.writeAndFlush(new DefaultHttp2DataFrame(true));
    }

    private static String describe(Throwable cause) {
        String message = cause.getMessage();
        return cause.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }
}
