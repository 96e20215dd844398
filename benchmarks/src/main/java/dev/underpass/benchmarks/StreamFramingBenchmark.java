package dev.underpass.benchmarks;

import static io.netty.channel.ChannelFutureListener.FIRE_EXCEPTION_ON_FAILURE;

import dev.underpass.protocol.LinkSettings;
import dev.underpass.protocol.Protocol;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The agent link's HTTP/2 framing for one tunnelled connection, both ends, in memory: the
 * agent's codec and multiplexer ({@link LinkSettings#clientCodec()}) and the gateway's
 * ({@link LinkSettings#serverCodec(long)}) on two {@link EmbeddedChannel}s whose bytes are handed
 * across directly. Each operation is the frame exchange of the benchmark's echo connection on a
 * standby stream: the agent opens the stream (HEADERS), the gateway answers it (HEADERS with the
 * connection's id and target), one byte each way (DATA), END_STREAM each way. No TLS, socket,
 * relay, logging or audit: what remains is the price of a stream as such, to set against the
 * whole connection's cost measured by peers.sh (docs/benchmarks.md, set 11).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class StreamFramingBenchmark {
    private static final byte[] ONE_BYTE = {'c'};

    private EmbeddedChannel agent;
    private EmbeddedChannel gateway;
    private Ends ends;

    /** What both ends saw of the current stream; the benchmark checks it so that nothing is skipped. */
    static final class Ends {
        int gatewayBytes;
        int agentBytes;
        boolean gatewayEnded;
        boolean agentEnded;
    }

    @Setup(Level.Trial)
    public void link() {
        ends = new Ends();
        gateway = new EmbeddedChannel(
                LinkSettings.serverCodec(LinkSettings.MAX_CONCURRENT_STREAMS),
                new Http2MultiplexHandler(new GatewayStream(ends)));
        agent = new EmbeddedChannel(
                LinkSettings.clientCodec(), new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
        exchange(); // prefaces and SETTINGS
    }

    @TearDown(Level.Trial)
    public void close() {
        agent.finishAndReleaseAll();
        gateway.finishAndReleaseAll();
    }

    @Benchmark
    public int connection() {
        ends.gatewayBytes = 0;
        ends.agentBytes = 0;
        ends.gatewayEnded = false;
        ends.agentEnded = false;
        Http2StreamChannel stream = new Http2StreamChannelBootstrap(agent)
                .handler(new AgentStream(ends))
                .open()
                .syncUninterruptibly()
                .getNow();
        Http2Headers standby = new DefaultHttp2Headers()
                .method("POST")
                .path(Protocol.STREAM_PATH)
                .scheme("https")
                .authority("gateway.example:7443");
        standby.set(Protocol.HEADER_STANDBY, "1");
        stream.writeAndFlush(new DefaultHttp2HeadersFrame(standby)).syncUninterruptibly();
        exchange(); // the gateway answers and sends the consumer's byte
        stream.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(ONE_BYTE)))
                .syncUninterruptibly();
        exchange(); // the target's echo reaches the gateway, which ends its side
        stream.writeAndFlush(new DefaultHttp2DataFrame(true)).syncUninterruptibly();
        exchange();
        if (ends.gatewayBytes != 1 || ends.agentBytes != 1 || !ends.gatewayEnded || !ends.agentEnded) {
            throw new IllegalStateException("the exchange did not complete: gateway got " + ends.gatewayBytes
                    + " byte(s), agent " + ends.agentBytes + ", ended " + ends.gatewayEnded + "/" + ends.agentEnded);
        }
        return ends.gatewayBytes + ends.agentBytes;
    }

    /** Hands each side's written bytes to the other until neither has any left. */
    private void exchange() {
        for (int round = 0; round < 100; round++) {
            agent.runPendingTasks();
            gateway.runPendingTasks();
            boolean fromAgent = move(agent, gateway);
            boolean fromGateway = move(gateway, agent);
            if (!fromAgent && !fromGateway) {
                return;
            }
        }
        throw new IllegalStateException("the two ends kept writing to each other");
    }

    private static boolean move(EmbeddedChannel from, EmbeddedChannel to) {
        boolean moved = false;
        for (Object out; (out = from.readOutbound()) != null; ) {
            to.writeInbound(out);
            moved = true;
        }
        return moved;
    }

    /** The gateway's side of a standby stream: answers it, sends the consumer's byte, ends after the echo. */
    private static final class GatewayStream extends ChannelInboundHandlerAdapter {
        private final Ends ends;

        GatewayStream(Ends ends) {
            this.ends = ends;
        }

        @Override
        public boolean isSharable() {
            return true;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2HeadersFrame) {
                    Http2Headers answer = new DefaultHttp2Headers().status("200");
                    answer.set(Protocol.HEADER_CONNECTION_ID, "4972");
                    answer.set(Protocol.HEADER_TARGET, "127.0.0.1:15101");
                    ctx.write(new DefaultHttp2HeadersFrame(answer)).addListener(FIRE_EXCEPTION_ON_FAILURE);
                    ctx.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(ONE_BYTE)))
                            .addListener(FIRE_EXCEPTION_ON_FAILURE);
                } else if (msg instanceof Http2DataFrame data) {
                    ends.gatewayBytes += data.content().readableBytes();
                    if (ends.gatewayBytes == 1 && !data.isEndStream()) {
                        ctx.writeAndFlush(new DefaultHttp2DataFrame(true)).addListener(FIRE_EXCEPTION_ON_FAILURE);
                    }
                    if (data.isEndStream()) {
                        ends.gatewayEnded = true;
                    }
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }
    }

    /** The agent's side: counts the byte that reaches the target and sees the gateway's END_STREAM. */
    private static final class AgentStream extends ChannelInboundHandlerAdapter {
        private final Ends ends;

        AgentStream(Ends ends) {
            this.ends = ends;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2DataFrame data) {
                    ends.agentBytes += data.content().readableBytes();
                    if (data.isEndStream()) {
                        ends.agentEnded = true;
                    }
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }
    }
}
