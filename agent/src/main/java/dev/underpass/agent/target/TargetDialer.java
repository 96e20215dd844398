package dev.underpass.agent.target;

import dev.underpass.agent.metrics.AgentMetrics;
import dev.underpass.protocol.AnswerCheck;
import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.DialError;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.StreamRelay;
import dev.underpass.protocol.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.AttributeKey;
import io.netty.util.NetUtil;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Carries out the gateway's {@code open} messages: checks the target against the local
 * allowlist, dials it, and opens the data stream back to the gateway. A target that is not in
 * the allowlist is never dialled, whatever the gateway says.
 */
public final class TargetDialer {
    private static final Logger log = LoggerFactory.getLogger("underpass.agent.streams");

    private final Set<HostAndPort> allowed;
    private final TargetAddresses addresses;
    private final Executor resolver;
    private final Duration dialTimeout;
    private final String authority;

    /** Connections being dialled or relayed: what a draining agent waits for. */
    private final AtomicInteger active = new AtomicInteger();

    /** Where dials and connections are counted. */
    private final AgentMetrics metrics;

    /**
     * {@code addresses} checks where targets' names lead; {@code resolver} resolves them (it blocks,
     * so never on an event loop).
     */
    public TargetDialer(
            Set<HostAndPort> allowed,
            TargetAddresses addresses,
            Executor resolver,
            Duration dialTimeout,
            String authority,
            AgentMetrics metrics) {
        this.allowed = Set.copyOf(allowed);
        this.addresses = addresses;
        this.resolver = resolver;
        this.dialTimeout = dialTimeout;
        this.authority = authority;
        this.metrics = metrics;
        metrics.registerActiveStreams(active::get);
    }

    /** Handles one open message arriving on {@code session} (the agent's session stream). */
    public void open(Http2StreamChannel session, ControlMessage.Open open) {
        long id = open.connection();
        HostAndPort target = allowedTarget(session, id, open.target());
        if (target == null) {
            return;
        }
        long start = System.nanoTime();
        active.incrementAndGet();
        dial(session.parent(), target).addListener((Future<Channel> f) -> {
            if (!f.isSuccess()) {
                active.decrementAndGet();
                metrics.dialFailed(target, error(f.cause()));
                refuse(session, id, error(f.cause()), f.cause().getMessage());
                return;
            }
            metrics.dialled(target, System.nanoTime() - start);
            openStream(session, id, target, f.getNow(), (System.nanoTime() - start) / 1000);
        });
    }

    /** The target if it is in the allowlist; otherwise refuses the connection and returns null. */
    private HostAndPort allowedTarget(Http2StreamChannel session, long id, String text) {
        HostAndPort target;
        try {
            target = HostAndPort.parse(text);
        } catch (IllegalArgumentException e) {
            refuse(session, id, DialError.NOT_ALLOWED, "target " + text + " is not host:port");
            return null;
        }
        if (!allowed.contains(target)) {
            refuse(session, id, DialError.NOT_ALLOWED, "target " + target + " is not in this agent's allowlist");
            return null;
        }
        return target;
    }

    /**
     * Dials {@code target} on the link's loop: an address at once; a name once the resolver has
     * found an address it may lead to ({@link TargetAddresses}), which is then the one dialled.
     */
    private Future<Channel> dial(Channel link, HostAndPort target) {
        EventLoop loop = link.eventLoop();
        Promise<Channel> dialled = loop.newPromise();
        if (TargetAddresses.literal(target.host())) {
            connect(loop, target, dialled);
            return dialled;
        }
        try {
            resolver.execute(() -> {
                try {
                    InetSocketAddress address = addresses.resolve(target);
                    loop.execute(() -> connect(loop, address, dialled));
                } catch (TargetAddresses.NotAllowed | java.io.IOException | RuntimeException e) {
                    dialled.tryFailure(e);
                }
            });
        } catch (RejectedExecutionException busy) {
            dialled.tryFailure(new IllegalStateException("too many target names being resolved; retry"));
        }
        return dialled;
    }

    private void connect(EventLoop loop, Object address, Promise<Channel> dialled) {
        Bootstrap b = new Bootstrap()
                .group(loop) // same loop as the streams: no hand-over between threads
                .channel(Transport.socketChannel())
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.TCP_NODELAY, true)
                // Should the agent die, the target sees a reset, never a clean end (StreamRelay, "Process death").
                .option(ChannelOption.SO_LINGER, 0)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) dialTimeout.toMillis())
                .handler(NoOp.INSTANCE);
        ChannelFuture f = address instanceof HostAndPort t
                ? b.connect(new InetSocketAddress(NetUtil.createInetAddressFromIpAddressString(t.host()), t.port()))
                : b.connect((InetSocketAddress) address);
        f.addListener((ChannelFutureListener) c -> {
            if (c.isSuccess()) {
                dialled.setSuccess(c.channel());
            } else {
                dialled.setFailure(c.cause());
            }
        });
    }

    /** The error a failed dial is reported with. */
    private static DialError error(Throwable cause) {
        return cause instanceof TargetAddresses.NotAllowed ? DialError.NOT_ALLOWED : DialError.of(cause);
    }

    /** Connections being dialled or relayed. */
    public int active() {
        return active.get();
    }

    /** Counts the connection's end and logs it in one line. */
    private StreamRelay.Listener closedLog(long id, HostAndPort target) {
        return (relay, outcome, detail) -> {
            active.decrementAndGet();
            metrics.ended(target, relay, outcome);
            log.info(
                    "connection {} target={} closed: {}{} sent={} received={} duration={}ms",
                    id,
                    target,
                    outcome,
                    detail == null ? "" : " (" + detail + ")",
                    relay.bytesFromStream(),
                    relay.bytesFromSocket(),
                    relay.elapsed().toMillis());
        };
    }

    /**
     * Opens standby streams until the session has {@link Protocol#STANDBY_STREAMS}: data streams
     * without a connection, which the gateway answers when a consumer arrives, naming the
     * connection and its target. The consumer's first bytes come right behind that answer, one
     * round trip sooner than after an {@code open}. The new streams' headers leave in one flush.
     */
    public void openStandby(Http2StreamChannel session) {
        Channel link = session.parent();
        Standbys pool = Standbys.of(link);
        int count = Protocol.STANDBY_STREAMS - pool.live;
        if (count <= 0) {
            return;
        }
        pool.live += count;
        int[] left = {count};
        for (int i = 0; i < count; i++) {
            new Http2StreamChannelBootstrap(link)
                    .option(ChannelOption.AUTO_READ, false)
                    .handler(new Standby(session, pool))
                    .open()
                    .addListener(f -> {
                        if (f.isSuccess()) {
                            Http2StreamChannel stream = (Http2StreamChannel) f.getNow();
                            Http2Headers h = new DefaultHttp2Headers()
                                    .method("POST")
                                    .path(Protocol.STREAM_PATH)
                                    .scheme("https")
                                    .authority(authority);
                            h.set(Protocol.HEADER_STANDBY, "1");
                            stream.write(new DefaultHttp2HeadersFrame(h));
                            stream.read(); // for the gateway's answer, whenever it comes
                        } else {
                            pool.live--;
                        }
                        if (--left[0] == 0) {
                            link.flush();
                        }
                    });
        }
    }

    /**
     * The standby streams of one agent link that the gateway has not answered yet. Used on the
     * link's event loop only. The pool is refilled once half of it is used, not after every
     * connection: one write to the link for several streams' headers instead of one each.
     */
    private static final class Standbys {
        private static final AttributeKey<Standbys> KEY = AttributeKey.valueOf("underpass.standbys");

        int live;

        static Standbys of(Channel link) {
            Standbys pool = link.attr(KEY).get();
            if (pool == null) {
                pool = new Standbys();
                link.attr(KEY).set(pool);
            }
            return pool;
        }

        /** One standby stream is answered or gone: whether the pool should be refilled now. */
        boolean used() {
            live--;
            return live <= Protocol.STANDBY_STREAMS / 2;
        }
    }

    /**
     * A standby stream: waits for the gateway's answer, dials the target it names (if allowed),
     * and meanwhile holds the frames that arrive behind the answer, bounded by the stream window.
     * Once the relay runs, it passes the held frames on first, then everything else, in order.
     */
    private final class Standby extends ChannelInboundHandlerAdapter {
        private final Http2StreamChannel session;
        private final Standbys pool;
        private final ArrayDeque<Object> held = new ArrayDeque<>();
        private boolean answered;
        private boolean relaying;

        Standby(Http2StreamChannel session, Standbys pool) {
            this.session = session;
            this.pool = pool;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (relaying) {
                release(ctx);
                ctx.fireChannelRead(msg);
            } else if (answered) {
                held.add(msg);
            } else {
                answered = true;
                boolean refill = pool.used();
                if (answer(ctx, msg) && refill) {
                    // After the dial has started: off the connection's critical path.
                    ctx.channel().eventLoop().execute(() -> openStandby(session));
                }
            }
        }

        /** Whether the gateway answered with a connection (not a refusal of the stream). */
        private boolean answer(ChannelHandlerContext ctx, Object msg) {
            Http2StreamChannel stream = (Http2StreamChannel) ctx.channel();
            ReferenceCountUtil.release(msg);
            Http2Headers h = msg instanceof Http2HeadersFrame f ? f.headers() : null;
            CharSequence idText = h == null ? null : h.get(Protocol.HEADER_CONNECTION_ID);
            if (h == null || h.status() == null || !"200".contentEquals(h.status()) || idText == null) {
                log.warn(
                        "standby stream refused by the gateway: {}", h == null ? "no headers" : "status " + h.status());
                stream.close();
                return false;
            }
            long id;
            try {
                id = Long.parseLong(idText.toString());
            } catch (NumberFormatException e) {
                log.warn(
                        "standby stream answered with {}: {} (expected: a number)",
                        Protocol.HEADER_CONNECTION_ID,
                        idText);
                stream.close();
                return false;
            }
            HostAndPort target = allowedTarget(session, id, String.valueOf(h.get(Protocol.HEADER_TARGET)));
            if (target == null) {
                stream.close();
                return true; // refused for its target, which the gateway hears of: the stream was used
            }
            long start = System.nanoTime();
            active.incrementAndGet();
            dial(stream.parent(), target).addListener((Future<Channel> f) -> {
                if (!f.isSuccess()) {
                    active.decrementAndGet();
                    metrics.dialFailed(target, error(f.cause()));
                    // dialFailed first, so the gateway logs the reason before it sees the reset.
                    refuse(session, id, error(f.cause()), f.cause().getMessage());
                    stream.close();
                    return;
                }
                if (!stream.isActive()) {
                    active.decrementAndGet();
                    StreamRelay.resetSocket(f.getNow()); // the consumer or the link went away meanwhile
                    return;
                }
                log.debug("connection {} target={} dialled in {} us", id, target, (System.nanoTime() - start) / 1000);
                metrics.dialled(target, System.nanoTime() - start);
                relaying = true;
                StreamRelay.start(f.getNow(), stream, closedLog(id, target));
                release(ctx);
            });
            return true;
        }

        /** Passes the held frames on to the relay, oldest first. */
        private void release(ChannelHandlerContext ctx) {
            Object m;
            while ((m = held.poll()) != null) {
                ctx.fireChannelRead(m);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!answered) {
                answered = true;
                pool.used(); // gone unanswered (the link ended, or the gateway refused it): not refilled here
            }
            if (!relaying) {
                held.forEach(ReferenceCountUtil::release);
                held.clear();
            }
            ctx.fireChannelInactive();
        }
    }

    private void openStream(Http2StreamChannel session, long id, HostAndPort target, Channel socket, long dialMicros) {
        new Http2StreamChannelBootstrap(session.parent())
                .option(ChannelOption.AUTO_READ, false)
                .handler(new AnswerCheck(what -> {
                    log.warn("connection {} refused by the gateway: {}", id, what);
                    StreamRelay.resetSocket(socket);
                }))
                .open()
                .addListener(f -> {
                    if (!f.isSuccess()) {
                        active.decrementAndGet();
                        StreamRelay.resetSocket(socket);
                        refuse(session, id, DialError.UNAVAILABLE, "cannot open a stream: " + f.cause());
                        return;
                    }
                    Http2StreamChannel stream = (Http2StreamChannel) f.getNow();
                    Http2Headers h = new DefaultHttp2Headers()
                            .method("POST")
                            .path(Protocol.STREAM_PATH)
                            .scheme("https")
                            .authority(authority);
                    h.set(Protocol.HEADER_CONNECTION_ID, Long.toString(id));
                    stream.writeAndFlush(new DefaultHttp2HeadersFrame(h)).addListener(w -> {
                        if (!w.isSuccess()) { // e.g. the stream limit or a GOAWAY: tell the gateway now
                            StreamRelay.resetSocket(socket);
                            refuse(session, id, DialError.UNAVAILABLE, "cannot open the stream: " + w.cause());
                        }
                    });
                    log.debug("connection {} target={} dialled in {} us", id, target, dialMicros);
                    StreamRelay.start(socket, stream, closedLog(id, target));
                });
    }

    private static void refuse(Http2StreamChannel session, long id, DialError error, String detail) {
        log.warn("connection {} refused: {} ({})", id, error, detail);
        session.writeAndFlush(ControlCodec.frame(session.alloc(), new ControlMessage.DialFailed(id, error, detail)));
    }

    @ChannelHandler.Sharable
    private static final class NoOp extends ChannelInboundHandlerAdapter {
        static final NoOp INSTANCE = new NoOp();
    }
}
