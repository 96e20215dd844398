package dev.underpass.benchmarks;

import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.Http2DataFrame;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One control message each way: the gateway's {@code open} for a connection that found no
 * standby stream, as a DATA frame, and its decoding on the agent.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class ControlCodecBenchmark {
    private final ControlMessage open = new ControlMessage.Open(4972, "127.0.0.1:15101");
    private final ByteBuf line = Unpooled.copiedBuffer(
            "{\"type\":\"open\",\"connection\":4972,\"target\":\"127.0.0.1:15101\"}", StandardCharsets.UTF_8);

    @Benchmark
    public int encode() {
        Http2DataFrame frame = ControlCodec.frame(ByteBufAllocator.DEFAULT, open);
        int bytes = frame.content().readableBytes();
        frame.release();
        return bytes;
    }

    @Benchmark
    public ControlMessage decode() {
        return ControlCodec.decode(line.duplicate());
    }
}
