package dev.underpass.gateway.consumer.proxy;

import dev.underpass.controlplane.api.ProblemMapper;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.gateway.consumer.ConsumerLimit;
import dev.underpass.gateway.consumer.ConsumerPort;
import dev.underpass.gateway.consumer.ConsumerRoutes;
import dev.underpass.gateway.consumer.EndpointPorts;
import dev.underpass.gateway.consumer.ReplayFirst;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.socksx.v5.DefaultSocks5CommandResponse;
import io.netty.handler.codec.socksx.v5.DefaultSocks5InitialResponse;
import io.netty.handler.codec.socksx.v5.DefaultSocks5PasswordAuthResponse;
import io.netty.handler.codec.socksx.v5.Socks5AddressType;
import io.netty.handler.codec.socksx.v5.Socks5AuthMethod;
import io.netty.handler.codec.socksx.v5.Socks5CommandRequest;
import io.netty.handler.codec.socksx.v5.Socks5CommandRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5CommandResponse;
import io.netty.handler.codec.socksx.v5.Socks5CommandStatus;
import io.netty.handler.codec.socksx.v5.Socks5CommandType;
import io.netty.handler.codec.socksx.v5.Socks5InitialRequest;
import io.netty.handler.codec.socksx.v5.Socks5Message;
import io.netty.handler.codec.socksx.v5.Socks5PasswordAuthRequest;
import io.netty.handler.codec.socksx.v5.Socks5PasswordAuthRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5PasswordAuthStatus;

/**
 * The SOCKS5 side of the forward proxy (RFC 1928, with RFC 1929 user/password authentication,
 * the key as the password): only CONNECT, to a host name resolved by the gateway, so
 * {@code socks5h://} or {@code --socks5-hostname}.
 */
public final class Socks5Proxy extends SimpleChannelInboundHandler<Socks5Message> {
    private final ProxyChecks checks;
    private final ConsumerRoutes routes;
    private final Egress egress;
    private final RepeatedEvents refusals;
    private Principal principal;

    Socks5Proxy(ProxyChecks checks, ConsumerRoutes routes, Egress egress, RepeatedEvents refusals) {
        this.refusals = refusals;
        this.checks = checks;
        this.routes = routes;
        this.egress = egress;
    }

    /** Bytes the client sent right behind its CONNECT (they belong to the destination). */
    private final io.netty.buffer.CompositeByteBuf early = io.netty.buffer.Unpooled.compositeBuffer();

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (msg instanceof io.netty.buffer.ByteBuf raw) { // past the decoder: not SOCKS any more
            early.addComponent(true, raw);
            return;
        }
        super.channelRead(ctx, msg);
    }

    private io.netty.buffer.ByteBuf pipelined() {
        return early.retainedDuplicate();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        early.release();
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, Socks5Message msg) {
        Object from = ctx.channel().remoteAddress();
        if (msg.decoderResult().isFailure()) {
            Throwable cause = msg.decoderResult().cause();
            if (msg instanceof Socks5InitialRequest
                    && String.valueOf(cause.getMessage()).contains("must not be empty")) {
                // A greeting that lists no method at all: Netty's decoder reports it as an empty 'list'.
                refuse(
                        ctx,
                        new DefaultSocks5InitialResponse(Socks5AuthMethod.UNACCEPTED),
                        "a greeting that offers no authentication method (expected: user/password, the API key as the password)",
                        from);
                return;
            }
            refuse(
                    ctx,
                    null,
                    "malformed SOCKS5 " + (msg instanceof Socks5InitialRequest ? "greeting" : "message") + ": "
                            + (cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage())
                            + " (expected: RFC 1928 with user/password authentication)",
                    from);
        } else if (msg instanceof Socks5InitialRequest initial) {
            if (!initial.authMethods().contains(Socks5AuthMethod.PASSWORD)) {
                refuse(
                        ctx,
                        new DefaultSocks5InitialResponse(Socks5AuthMethod.UNACCEPTED),
                        "no user/password authentication offered (expected: the API key as the password)",
                        from);
                return;
            }
            ctx.pipeline().replace("socks-decoder", "socks-decoder", new Socks5PasswordAuthRequestDecoder());
            ctx.writeAndFlush(new DefaultSocks5InitialResponse(Socks5AuthMethod.PASSWORD));
        } else if (msg instanceof Socks5PasswordAuthRequest password) {
            String key = ProxyChecks.key(password.username(), password.password());
            if (key == null) {
                refuse(
                        ctx,
                        new DefaultSocks5PasswordAuthResponse(Socks5PasswordAuthStatus.FAILURE),
                        "no API key (expected: an API key of your account as the password)",
                        from);
                return;
            }
            ctx.channel().config().setAutoRead(false);
            checks.check(ctx.channel(), key, "SOCKS5 proxy", (p, refusal) -> {
                if (p == null && ProblemMapper.status(refusal) == 429) {
                    // SOCKS5 has no "retry later": a plain authentication failure. AuthFailures logged the
                    // refusal, sparingly, so that such attempts cannot flood the log.
                    ctx.writeAndFlush(new DefaultSocks5PasswordAuthResponse(Socks5PasswordAuthStatus.FAILURE))
                            .addListener(ChannelFutureListener.CLOSE);
                    return;
                }
                if (p == null) {
                    refuse(
                            ctx,
                            new DefaultSocks5PasswordAuthResponse(Socks5PasswordAuthStatus.FAILURE),
                            refusal.getMessage(),
                            from);
                    return;
                }
                principal = p;
                ctx.pipeline().replace("socks-decoder", "socks-decoder", new Socks5CommandRequestDecoder());
                ctx.writeAndFlush(new DefaultSocks5PasswordAuthResponse(Socks5PasswordAuthStatus.SUCCESS));
                ctx.channel().config().setAutoRead(true);
            });
        } else if (msg instanceof Socks5CommandRequest command && principal != null) {
            command(ctx, command, from);
        } else {
            refuse(ctx, null, "unexpected SOCKS5 message " + msg.getClass().getSimpleName(), from);
        }
    }

    private void command(ChannelHandlerContext ctx, Socks5CommandRequest command, Object from) {
        String destination = command.dstAddr() + ":" + command.dstPort();
        if (command.type() != Socks5CommandType.CONNECT) {
            refuse(
                    ctx,
                    reply(Socks5CommandStatus.COMMAND_UNSUPPORTED),
                    "command " + command.type() + " (expected: CONNECT)",
                    from);
            return;
        }
        if (!checks.limit()
                .admit(
                        ctx.channel(),
                        principal.account(),
                        ConsumerLimit.Entrance.PROXY)) { // logged by the limit, sparingly
            checks.events().proxyRefused(ctx.channel(), destination, "limit");
            ctx.writeAndFlush(reply(Socks5CommandStatus.FORBIDDEN)).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        EndpointPorts.BoundPort listener = routes.find(principal.account(), command.dstAddr(), command.dstPort());
        if (listener == null && egress.policy().allows(command.dstAddr(), command.dstPort())) {
            ctx.channel().config().setAutoRead(false);
            DirectEgress.dial(
                    ctx.channel(),
                    new dev.underpass.protocol.HostAndPort(command.dstAddr(), command.dstPort()),
                    egress,
                    out -> {
                        if (!ctx.channel().isActive()) { // the client left while the gateway dialled
                            out.close();
                            return;
                        }
                        GatewayLog.PROXY.info(
                                "SOCKS5 CONNECT {} from {} account={} key={} -> direct egress (allowed by "
                                        + "egressAllow)",
                                destination,
                                from,
                                principal.account(),
                                principal.keyId());
                        ctx.writeAndFlush(reply(Socks5CommandStatus.SUCCESS)).addListener(f -> {
                            if (!f.isSuccess()) {
                                out.close();
                                ctx.close();
                                return;
                            }
                            ConsumerPort.endHandshake(ctx.channel(), "socks-decoder", "socks-encoder", "socks");
                            DirectEgress.relay(
                                    ctx.channel(),
                                    out,
                                    pipelined(),
                                    (toDestination, toClient, millis) -> checks.events()
                                            .egressEnded(ctx.channel(), destination, toDestination, toClient, millis));
                        });
                    },
                    reason -> refuse(
                            ctx,
                            reply(Socks5CommandStatus.HOST_UNREACHABLE),
                            "cannot reach " + destination + ": " + reason,
                            from));
            return;
        }
        if (listener == null) {
            checks.whyNot(
                    ctx.channel(),
                    principal.account(),
                    command.dstAddr(),
                    command.dstPort(),
                    reason -> refuse(ctx, reply(Socks5CommandStatus.FORBIDDEN), reason, from));
            return;
        }
        GatewayLog.PROXY.info(
                "SOCKS5 CONNECT {} from {} account={} key={} -> endpoint {} port {}",
                destination,
                from,
                principal.account(),
                principal.keyId(),
                listener.route().endpoint(),
                listener.route().servicePort());
        ctx.channel().config().setAutoRead(false);
        ctx.writeAndFlush(reply(Socks5CommandStatus.SUCCESS)).addListener(f -> {
            if (f.isSuccess()) {
                ctx.pipeline().addFirst("replay", new ReplayFirst(pipelined()));
                ConsumerPort.endHandshake(ctx.channel(), "socks-decoder", "socks-encoder", "socks");
                listener.adopt(ctx.channel());
            } else {
                ctx.close();
            }
        });
    }

    private static DefaultSocks5CommandResponse reply(Socks5CommandStatus status) {
        return new DefaultSocks5CommandResponse(status, Socks5AddressType.IPv4, "0.0.0.0", 0);
    }

    private void refuse(ChannelHandlerContext ctx, Socks5Message answer, String reason, Object from) {
        String kind = answer instanceof Socks5CommandResponse c
                ? c.status().toString()
                : answer == null ? "closed" : answer.getClass().getSimpleName();
        refusals.info(
                RepeatedEvents.source((java.net.SocketAddress) from) + " " + kind,
                "SOCKS5 request from {} refused: {}",
                from,
                reason);
        if (answer == null) {
            ctx.close();
        } else {
            ctx.writeAndFlush(answer).addListener(ChannelFutureListener.CLOSE);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        refusals.info(
                RepeatedEvents.source(ctx.channel().remoteAddress()),
                "SOCKS5 connection from {} closed: {}",
                ctx.channel().remoteAddress(),
                cause.toString());
        ctx.close();
    }
}
