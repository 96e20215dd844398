package dev.underpass.agent.link;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.agent.config.AgentConfig;
import dev.underpass.protocol.Causes;
import dev.underpass.protocol.Tls;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.util.SelfSignedCertificate;
import io.netty.util.concurrent.Future;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A gateway certificate the agent refuses is explained in the agent's log: what it covers or who
 * issued it, and what to do (issue 12: "No subject alternative names matching IP address
 * 198.18.0.1 found" and nothing about serverNames or --pin). Real TLS over loopback.
 */
@SuppressWarnings("deprecation") // SelfSignedCertificate: its successor (netty-pkitesting) does not resolve here
class GatewayTrustTest {
    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private SelfSignedCertificate gatewayCert;
    private Channel gateway;

    @BeforeEach
    void startGateway() throws Exception {
        gatewayCert = new SelfSignedCertificate("localhost");
        SslContext ssl = Tls.server(gatewayCert.certificate(), gatewayCert.privateKey());
        gateway = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(ssl.newHandler(ch.alloc()));
                    }
                })
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .sync()
                .channel();
    }

    @AfterEach
    void stop() {
        gateway.close().syncUninterruptibly();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        gatewayCert.delete();
    }

    /** The handshake's failure as the agent logs it ({@link Causes#root}), dialling {@code host} with {@code caFile}. */
    private String handshake(String host, String caFile) throws Exception {
        AgentConfig config = new AgentConfig(
                host + ":" + port(), "test-agent", "upa_x", null, caFile, null, null, null, null, null, List.of());
        SslContext client = Tls.client(GatewayTrust.of(config), GatewayTrust.verifiesHostname(config));
        SslHandler[] tls = new SslHandler[1];
        Channel ch = new Bootstrap()
                .group(group)
                .channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel c) {
                        tls[0] = client.newHandler(c.alloc(), host, port());
                        c.pipeline().addLast(tls[0]);
                    }
                })
                .connect(gateway.localAddress())
                .sync()
                .channel();
        try {
            Future<Channel> done = tls[0].handshakeFuture().await();
            assertThat(done.isSuccess()).as("the handshake fails").isFalse();
            return Causes.root(done.cause());
        } finally {
            ch.close().syncUninterruptibly();
        }
    }

    private int port() {
        return ((InetSocketAddress) gateway.localAddress()).getPort();
    }

    @Test
    void aNameTheCertificateDoesNotCoverIsNamedWithWhatItCoversAndWhatToDo() throws Exception {
        String why = handshake("127.0.0.1", gatewayCert.certificate().getPath());

        assertThat(why)
                .contains(
                        "the gateway's certificate does not cover 127.0.0.1",
                        "add 127.0.0.1 to serverNames",
                        "--pin sha256:");
    }

    @Test
    void aCertificateOfAnotherCaNamesItsIssuerAndTheCaFile() throws Exception {
        SelfSignedCertificate other = new SelfSignedCertificate("localhost");
        try {
            String why = handshake("localhost", other.certificate().getPath());

            assertThat(why)
                    .contains(
                            "is not signed by a CA in --ca-file "
                                    + other.certificate().getPath(),
                            "CN=localhost",
                            "tls/ca.pem");
        } finally {
            other.delete();
        }
    }
}
