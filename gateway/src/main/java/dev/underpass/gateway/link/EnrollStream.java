package dev.underpass.gateway.link;

import dev.underpass.controlplane.api.ProblemMapper;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.credential.AgentEnrollments;
import dev.underpass.gateway.auth.AgentCertificates;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.protocol.Enrollment;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.io.ByteArrayOutputStream;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * One enrollment on the agent port ({@link Enrollment}): reads the certificate request, has it
 * signed off the event loop, answers the PEM chain or a problem, and then ends the link (an
 * enrolled agent reconnects with its certificate). One log line per enrollment, never the token.
 */
public final class EnrollStream extends ChannelInboundHandlerAdapter {
    private final AgentCertificates certificates;
    private final Executor verifier;
    private final String token;
    private final RepeatedEvents refusals;
    private final ByteArrayOutputStream body = new ByteArrayOutputStream();
    private boolean done;

    EnrollStream(AgentCertificates certificates, Executor verifier, String token, RepeatedEvents refusals) {
        this.refusals = refusals;
        this.certificates = certificates;
        this.verifier = verifier;
        this.token = token;
    }

    /** The token of an {@code authorization: Bearer upe_...} header, or null. */
    static String bearer(CharSequence auth) {
        return auth != null && auth.length() > 7 && auth.toString().regionMatches(true, 0, "Bearer ", 0, 7)
                ? auth.toString().substring(7).trim()
                : null;
    }

    /** Answers a request that ended with its headers: it has no certificate request. */
    static void noBody(Http2StreamChannel stream, RepeatedEvents refusals) {
        refusals.warn(
                RepeatedEvents.source(stream.parent().remoteAddress()),
                "agent enrollment from {} refused: no certificate request",
                stream.parent().remoteAddress());
        refuse(stream, 400, "Bad request", "no certificate request (expected: a PEM PKCS#10 request as the body)");
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (done || !(msg instanceof Http2DataFrame data)) {
                return;
            }
            ByteBuf content = data.content();
            Http2StreamChannel stream = (Http2StreamChannel) ctx.channel();
            if (body.size() + content.readableBytes() > Enrollment.MAX_REQUEST_BYTES) {
                done = true;
                refusals.warn(
                        RepeatedEvents.source(stream.parent().remoteAddress()),
                        "agent enrollment from {} refused: request over {} bytes",
                        stream.parent().remoteAddress(),
                        Enrollment.MAX_REQUEST_BYTES);
                refuse(
                        stream,
                        413,
                        "Request too large",
                        "certificate request over " + Enrollment.MAX_REQUEST_BYTES
                                + " bytes (expected: one PEM PKCS#10 request)");
                return;
            }
            body.writeBytes(ByteBufUtil.getBytes(content));
            if (data.isEndStream()) {
                done = true;
                sign(stream);
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void sign(Http2StreamChannel stream) {
        SocketAddress from = stream.parent().remoteAddress();
        byte[] csr = body.toByteArray();
        CompletableFuture<AgentEnrollments.Issued> signed;
        try {
            signed = CompletableFuture.supplyAsync(() -> certificates.enroll(token, from, csr), verifier);
        } catch (RejectedExecutionException busy) {
            refusals.warn(
                    RepeatedEvents.source(from),
                    "agent enrollment from {} refused: too many credential checks waiting",
                    from);
            refuse(stream, 503, "Service unavailable", "the gateway is checking too many agent credentials; retry");
            return;
        }
        signed.whenCompleteAsync(
                (issued, failure) -> {
                    Throwable cause = failure != null && failure.getCause() != null ? failure.getCause() : failure;
                    if (cause instanceof Refused e) {
                        int status = ProblemMapper.status(e);
                        if (status != 429) { // AuthFailures logs those, sparingly
                            refusals.warn(
                                    RepeatedEvents.source(from),
                                    "agent enrollment from {} refused: {}",
                                    from,
                                    e.getMessage());
                        }
                        Problems.send(
                                        stream,
                                        status,
                                        status == 400
                                                ? "Bad request"
                                                : status == 429 ? "Too many requests" : "Unauthorized",
                                        e.getMessage(),
                                        ProblemMapper.headers(e))
                                .addListener(f -> stream.parent().close());
                    } else if (cause != null) {
                        refusals.warn(
                                RepeatedEvents.source(from),
                                "agent enrollment from {} failed: {}",
                                from,
                                cause.toString());
                        refuse(stream, 503, "Service unavailable", "the gateway cannot enroll agents right now; retry");
                    } else {
                        GatewayLog.SESSIONS.info(
                                "agent enrollment from {}: issued certificate serial {}, valid until {}",
                                from,
                                issued.serial(),
                                issued.notAfter());
                        DefaultHttp2Headers h = new DefaultHttp2Headers();
                        h.status("201");
                        h.set("content-type", Enrollment.CONTENT_TYPE_CHAIN);
                        stream.write(new DefaultHttp2HeadersFrame(h));
                        stream.writeAndFlush(new DefaultHttp2DataFrame(
                                        Unpooled.wrappedBuffer(issued.pemChain().getBytes(StandardCharsets.US_ASCII)),
                                        true))
                                .addListener(f -> stream.parent().close());
                    }
                },
                stream.eventLoop());
    }

    private static void refuse(Http2StreamChannel stream, int status, String title, String detail) {
        Problems.send(stream, status, title, detail)
                .addListener(f -> stream.parent().close());
    }
}
