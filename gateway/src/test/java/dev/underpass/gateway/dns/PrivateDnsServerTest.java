package dev.underpass.gateway.dns;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.underpass.protocol.Transport;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryEncoder;
import io.netty.handler.codec.dns.DatagramDnsResponseDecoder;
import io.netty.handler.codec.dns.DefaultDnsQuery;
import io.netty.handler.codec.dns.DefaultDnsQuestion;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DnsOpCode;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsRawRecord;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import io.netty.handler.codec.dns.TcpDnsQueryEncoder;
import io.netty.handler.codec.dns.TcpDnsResponseDecoder;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.BindException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import javax.naming.Context;
import javax.naming.NameNotFoundException;
import javax.naming.NamingEnumeration;
import javax.naming.NamingException;
import javax.naming.ServiceUnavailableException;
import javax.naming.directory.Attribute;
import javax.naming.directory.Attributes;
import javax.naming.directory.InitialDirContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/**
 * The private DNS server on real sockets: the JDK's own DNS client (JNDI) over UDP, and over TCP
 * after a truncated answer; a hand-written length-prefixed TCP client; and garbage on both.
 * Forwarding (issue 4) goes to a second server of ours as the upstream, or to sockets that never
 * answer.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
@SuppressWarnings("BanJNDI") // JNDI's DNS provider is the test's DNS client: TXT and address strings, no objects
class PrivateDnsServerTest {
    static final InetAddress GIT_V4 = address("10.1.2.3");
    static final InetAddress GIT_V6 = address("fd00::1");
    static final int MANY = 40;

    EventLoopGroup group;
    PrivateDnsServer server;
    InetSocketAddress bound;
    final List<String> asked = new CopyOnWriteArrayList<>();
    final Map<String, List<InetAddress>> names = Map.of(
            "git.acme.internal", List.of(GIT_V4, GIT_V6),
            "v4only.acme.internal", List.of(address("10.1.2.4")),
            "many.acme.internal", many());
    final Function<String, List<InetAddress>> lookup = name -> {
        asked.add(name);
        return names.getOrDefault(name, List.of());
    };
    ListAppender<ILoggingEvent> logged;
    Logger dnsLogger;
    Level levelBefore;

    @BeforeEach
    void start() throws Exception {
        dnsLogger = (Logger) LoggerFactory.getLogger("underpass.gateway.dns");
        levelBefore = dnsLogger.getLevel();
        dnsLogger.setLevel(Level.DEBUG);
        logged = new ListAppender<>();
        logged.start();
        dnsLogger.addAppender(logged);
        group = Transport.group("dns-test");
        server = new PrivateDnsServer(lookup);
        bound = server.bind(group, new InetSocketAddress("127.0.0.1", 0));
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        dnsLogger.detachAppender(logged);
        dnsLogger.setLevel(levelBefore);
    }

    @Test
    void theJdkResolverGetsAAndAaaaAnswersOverUdp() throws Exception {
        InitialDirContext jndi = jndi();

        assertThat(values(jndi.getAttributes("Git.ACME.internal", new String[] {"A"}), "A"))
                .containsExactly("10.1.2.3");
        assertThat(values(jndi.getAttributes("git.acme.internal.", new String[] {"AAAA"}), "AAAA"))
                .containsExactly("fd00::1");
        assertThat(asked)
                .as("the lookup gets lower case without the trailing dot")
                .containsOnly("git.acme.internal");
    }

    @Test
    void aNameWithoutAnAddressOfTheAskedFamilyIsAnEmptyAnswer() throws Exception {
        Attributes none = jndi().getAttributes("v4only.acme.internal", new String[] {"AAAA"});

        assertThat(none.size()).isZero();
        Answer raw = udp(query(1, "v4only.acme.internal", DnsRecordType.AAAA));
        assertThat(raw.code()).isEqualTo(DnsResponseCode.NOERROR);
        assertThat(raw.authoritative()).isTrue();
        assertThat(raw.answers()).isEmpty();
        assertThat(udp(query(2, "v4only.acme.internal", DnsRecordType.MX)).code())
                .isEqualTo(DnsResponseCode.NOERROR);
    }

    @Test
    void aNameThatIsNotOursIsRefused() throws Exception {
        // The JDK's client maps REFUSED (5) to OperationNotSupportedException, a NamingException,
        // not to NameNotFoundException (that is NXDOMAIN, which we never claim: the name is not ours).
        assertThatThrownBy(() -> jndi().getAttributes("www.example.com", new String[] {"A"}))
                .isInstanceOf(javax.naming.OperationNotSupportedException.class)
                .hasMessageStartingWith("DNS service refused [response code 5]");
        Answer raw = udp(query(7, "www.example.com", DnsRecordType.A));
        assertThat(raw.code()).isEqualTo(DnsResponseCode.REFUSED);
        assertThat(raw.authoritative()).isFalse();
        assertThat(raw.answers()).isEmpty();
        assertThat(logged.list)
                .as("a refused query is said at DEBUG only")
                .anyMatch(e -> e.getLevel() == Level.DEBUG
                        && e.getFormattedMessage().contains("www.example.com")
                        && e.getFormattedMessage().contains("refused"));
    }

    @Test
    void aRawUdpAnswerCarriesTheQuestionAsAskedTheTtlAndTheAaFlag() throws Exception {
        DatagramDnsQuery q = query(4242, "GIT.acme.Internal", DnsRecordType.A);
        q.setRecursionDesired(true);

        Answer a = udp(q);

        assertThat(a.id()).isEqualTo(4242);
        assertThat(a.code()).isEqualTo(DnsResponseCode.NOERROR);
        assertThat(a.authoritative()).isTrue();
        assertThat(a.recursionDesired()).as("RD is copied").isTrue();
        assertThat(a.truncated()).isFalse();
        assertThat(a.questions()).containsExactly("GIT.acme.Internal.");
        assertThat(a.answers()).containsExactly("GIT.acme.Internal. 30 A 10.1.2.3");
        assertThat(a.opt()).as("no EDNS asked, none answered").isNull();
    }

    @Test
    void aLongUdpAnswerIsTruncatedAndTheJdkResolverAsksAgainOverTcp() throws Exception {
        Answer plain = udp(query(1, "many.acme.internal", DnsRecordType.A));
        assertThat(plain.truncated()).isTrue();
        assertThat(plain.bytes()).isLessThanOrEqualTo(512);
        assertThat(plain.answers()).hasSizeBetween(1, MANY - 1);

        DatagramDnsQuery withEdns = query(2, "many.acme.internal", DnsRecordType.A);
        withEdns.addRecord(DnsSection.ADDITIONAL, opt(4096, 0));
        Answer edns = udp(withEdns);
        assertThat(edns.opt()).as("the OPT answered: our size, version 0").isEqualTo("OPT class=1232 ttl=0");
        assertThat(edns.bytes()).isGreaterThan(512).isLessThanOrEqualTo(1232);
        assertThat(edns.answers()).hasSizeGreaterThan(plain.answers().size());

        assertThat(values(jndi().getAttributes("many.acme.internal", new String[] {"A"}), "A"))
                .hasSize(MANY)
                .contains("10.9.0.1", "10.9.0." + MANY);
    }

    @Test
    void otherThanOneQuestionIsFormerrAnOtherOpcodeIsNotimpANewerEdnsIsBadvers() throws Exception {
        DatagramDnsQuery two = query(1, "git.acme.internal", DnsRecordType.A);
        two.addRecord(DnsSection.QUESTION, new DefaultDnsQuestion("v4only.acme.internal", DnsRecordType.A));
        assertThat(udp(two).code()).isEqualTo(DnsResponseCode.FORMERR);

        DatagramDnsQuery none = new DatagramDnsQuery(null, bound, 2);
        assertThat(udp(none).code()).isEqualTo(DnsResponseCode.FORMERR);

        DatagramDnsQuery notify = new DatagramDnsQuery(null, bound, 3, DnsOpCode.NOTIFY);
        notify.addRecord(DnsSection.QUESTION, new DefaultDnsQuestion("git.acme.internal", DnsRecordType.SOA));
        Answer notimp = udp(notify);
        assertThat(notimp.code()).isEqualTo(DnsResponseCode.NOTIMP);
        assertThat(notimp.opCode()).isEqualTo(DnsOpCode.NOTIFY);

        DatagramDnsQuery twoOpts = query(4, "git.acme.internal", DnsRecordType.A);
        twoOpts.addRecord(DnsSection.ADDITIONAL, opt(1232, 0));
        twoOpts.addRecord(DnsSection.ADDITIONAL, opt(1232, 0));
        assertThat(udp(twoOpts).code()).isEqualTo(DnsResponseCode.FORMERR);

        DatagramDnsQuery version1 = query(5, "git.acme.internal", DnsRecordType.A);
        version1.addRecord(DnsSection.ADDITIONAL, opt(1232, 1L << 16));
        Answer badvers = udp(version1);
        assertThat(badvers.opt())
                .as("BADVERS is extended RCODE 16: 1 in the OPT TTL's top byte")
                .isEqualTo("OPT class=1232 ttl=" + (1L << 24));
        assertThat(badvers.answers()).isEmpty();

        DatagramDnsQuery chaos = new DatagramDnsQuery(null, bound, 6);
        chaos.addRecord(
                DnsSection.QUESTION,
                new DefaultDnsQuestion("git.acme.internal", DnsRecordType.A, DnsRecord.CLASS_CHAOS));
        assertThat(udp(chaos).code()).isEqualTo(DnsResponseCode.REFUSED);
        assertThat(asked).as("nothing above reached the lookup").isEmpty();
    }

    @Test
    void garbageDatagramsAreDroppedAndTheServerAnswersAfterwards() throws Exception {
        Random random = new Random(20240611);
        byte[] good = bytes(query(99, "git.acme.internal", DnsRecordType.A));
        try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            for (int i = 0; i < 200; i++) {
                byte[] junk;
                if (i % 2 == 0) {
                    junk = new byte[random.nextInt(64)];
                    random.nextBytes(junk);
                } else {
                    // A real query cut short or with bytes flipped: reaches deeper into the decoder
                    // (now and then a flip leaves a valid query, which is simply answered).
                    junk = Arrays.copyOf(good, 1 + random.nextInt(good.length));
                    for (int flips = random.nextInt(4); flips > 0; flips--) {
                        junk[random.nextInt(junk.length)] = (byte) random.nextInt(256);
                    }
                }
                socket.send(new java.net.DatagramPacket(junk, junk.length, bound));
            }
        }

        assertThat(values(jndi().getAttributes("git.acme.internal", new String[] {"A"}), "A"))
                .containsExactly("10.1.2.3");
        assertThat(logged.list)
                .as("nothing at INFO or above but the bind line")
                .filteredOn(e -> e.getLevel().isGreaterOrEqual(Level.INFO))
                .extracting(ILoggingEvent::getFormattedMessage)
                .containsExactly("private DNS listening on " + bound + " (UDP and TCP): unknown names are refused");
    }

    @Test
    void tcpAnswersLengthPrefixedQueriesInOrderAlsoWhenPipelined() throws Exception {
        try (Socket socket = new Socket(bound.getAddress(), bound.getPort())) {
            socket.setSoTimeout(5000);
            DataInputStream in = new DataInputStream(socket.getInputStream());

            socket.getOutputStream().write(tcpFrame(tcpQuery(1, "git.acme.internal", DnsRecordType.AAAA)));
            Answer one = readTcp(in);
            assertThat(one.id()).isEqualTo(1);
            assertThat(one.authoritative()).isTrue();
            assertThat(one.answers()).containsExactly("git.acme.internal. 30 AAAA fd00:0:0:0:0:0:0:1");

            ByteBuf pipelined = Unpooled.buffer();
            for (int id = 100; id < 200; id++) {
                pipelined.writeBytes(
                        tcpFrame(tcpQuery(id, id % 2 == 0 ? "git.acme.internal" : "nope.example", DnsRecordType.A)));
            }
            socket.getOutputStream().write(ByteBufUtil.getBytes(pipelined));
            for (int id = 100; id < 200; id++) {
                Answer a = readTcp(in);
                assertThat(a.id()).isEqualTo(id);
                assertThat(a.code()).isEqualTo(id % 2 == 0 ? DnsResponseCode.NOERROR : DnsResponseCode.REFUSED);
            }

            socket.getOutputStream().write(tcpFrame(tcpQuery(3, "many.acme.internal", DnsRecordType.A)));
            Answer many = readTcp(in);
            assertThat(many.truncated()).isFalse();
            assertThat(many.answers()).hasSize(MANY);
        }
    }

    @Test
    void aTruncatedTcpFrameClosesThatConnectionOnly() throws Exception {
        byte[] query = bytes(query(5, "git.acme.internal", DnsRecordType.A));
        try (Socket bystander = new Socket(bound.getAddress(), bound.getPort());
                Socket cut = new Socket(bound.getAddress(), bound.getPort());
                Socket halfSent = new Socket(bound.getAddress(), bound.getPort())) {
            bystander.setSoTimeout(5000);
            cut.setSoTimeout(5000);
            halfSent.setSoTimeout(5000);

            // A whole frame holding a query cut off in the middle of its name.
            int cutLength = 16;
            ByteBuf frame = Unpooled.buffer().writeShort(cutLength).writeBytes(query, 0, cutLength);
            cut.getOutputStream().write(ByteBufUtil.getBytes(frame));
            assertThat(cut.getInputStream().read())
                    .as("closed without an answer")
                    .isEqualTo(-1);

            // A frame announced longer than what comes before the client's FIN.
            ByteBuf partial = Unpooled.buffer().writeShort(query.length).writeBytes(query, 0, 10);
            halfSent.getOutputStream().write(ByteBufUtil.getBytes(partial));
            halfSent.shutdownOutput();
            assertThat(halfSent.getInputStream().read()).isEqualTo(-1);

            bystander.getOutputStream().write(tcpFrame(tcpQuery(6, "git.acme.internal", DnsRecordType.A)));
            assertThat(readTcp(new DataInputStream(bystander.getInputStream())).answers())
                    .containsExactly("git.acme.internal. 30 A 10.1.2.3");
        }
        assertThat(udp(query(8, "git.acme.internal", DnsRecordType.A)).answers())
                .hasSize(1);
    }

    @Test
    void aTcpConnectionWithoutACompleteQueryIsClosedAtTheIdleTimeout() throws Exception {
        try (PrivateDnsServer quick = new PrivateDnsServer(
                lookup, PrivateDnsServer.Options.REFUSE.withTcpIdleTimeout(Duration.ofMillis(300)))) {
            InetSocketAddress address = quick.bind(group, new InetSocketAddress("127.0.0.1", 0));
            try (Socket socket = new Socket(address.getAddress(), address.getPort())) {
                socket.setSoTimeout(5000);
                socket.getOutputStream().write(new byte[] {0, 40, 1, 2, 3});
                // Closed by the server (a 300 ms idle timeout), long before the socket's own 5 s read timeout.
                assertThat(socket.getInputStream().read()).isEqualTo(-1);
            }
        }
    }

    @Test
    void aPortTakenForTcpFailsTheBindAndLeavesNothingBound() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            InetSocketAddress address = new InetSocketAddress("127.0.0.1", taken.getLocalPort());
            PrivateDnsServer other = new PrivateDnsServer(lookup);

            assertThatThrownBy(() -> other.bind(group, address))
                    .isInstanceOf(BindException.class)
                    .hasMessageStartingWith("private DNS: cannot bind TCP on " + address);
            // Nothing stayed half-bound: the same server binds cleanly elsewhere afterwards. (Checking
            // that UDP's port is free again would race with other UDP sockets of the machine.)
            try (other) {
                assertThat(other.bind(group, new InetSocketAddress("127.0.0.1", 0))
                                .getPort())
                        .isPositive();
            }
        }
    }

    // --- forwarding (issue 4) ---

    /** What the upstream's lookup was asked: the upstream is a second server of ours on port 0. */
    final List<String> upstreamAsked = new CopyOnWriteArrayList<>();

    final Function<String, List<InetAddress>> upstreamLookup = name -> {
        upstreamAsked.add(name);
        return switch (name) {
            case "public.example" -> List.of(address("192.0.2.7"));
            case "many.example" -> many();
            default -> List.of();
        };
    };

    @Test
    void withAnUpstreamOtherNamesGetItsAnswersWhileEndpointNamesStayHere() throws Exception {
        try (PrivateDnsServer upstream = new PrivateDnsServer(upstreamLookup)) {
            InetSocketAddress upstreamAddress = upstream.bind(group, new InetSocketAddress("127.0.0.1", 0));
            try (PrivateDnsServer forwarding = new PrivateDnsServer(lookup, "acme.internal.", upstreamAddress)) {
                InetSocketAddress address = forwarding.bind(group, new InetSocketAddress("127.0.0.1", 0));
                InitialDirContext jndi = jndi(address, 2000);

                assertThat(values(jndi.getAttributes("public.example", new String[] {"A"}), "A"))
                        .containsExactly("192.0.2.7");
                assertThat(values(jndi.getAttributes("git.acme.internal", new String[] {"A"}), "A"))
                        .containsExactly("10.1.2.3");
                assertThatThrownBy(() -> jndi.getAttributes("nope.acme.internal", new String[] {"A"}))
                        .isInstanceOf(NameNotFoundException.class)
                        .hasMessageStartingWith("DNS name not found [response code 3]");
                // The upstream's own REFUSED comes back as it is.
                assertThatThrownBy(() -> jndi.getAttributes("www.example.com", new String[] {"A"}))
                        .isInstanceOf(javax.naming.OperationNotSupportedException.class);

                assertThat(asked)
                        .containsExactly(
                                "public.example", "git.acme.internal", "nope.acme.internal", "www.example.com");
                assertThat(upstreamAsked)
                        .as("only names outside acme.internal reach the upstream")
                        .containsExactly("public.example", "www.example.com");

                DatagramDnsQuery q = query(4242, "Public.EXAMPLE", DnsRecordType.A);
                q.setRecursionDesired(true);
                Answer raw = udp(q, address);
                assertThat(raw.id())
                        .as("the client's id, not the one we sent upstream")
                        .isEqualTo(4242);
                assertThat(raw.code()).isEqualTo(DnsResponseCode.NOERROR);
                assertThat(raw.authoritative())
                        .as("the upstream's flags, as it sent them")
                        .isTrue();
                assertThat(raw.recursionDesired()).isTrue();
                assertThat(raw.questions()).containsExactly("Public.EXAMPLE.");
                assertThat(raw.answers()).containsExactly("Public.EXAMPLE. 30 A 192.0.2.7");

                assertThat(tcp(tcpQuery(7, "public.example", DnsRecordType.A), address)
                                .answers())
                        .containsExactly("public.example. 30 A 192.0.2.7");

                Answer under = tcp(tcpQuery(8, "ep-x.svc.acme.acme.internal", DnsRecordType.AAAA), address);
                assertThat(under.code()).isEqualTo(DnsResponseCode.NXDOMAIN);
                assertThat(under.authoritative()).isTrue();
                Answer apex = udp(query(9, "ACME.internal", DnsRecordType.A), address);
                assertThat(apex.code()).as("the domain itself exists: NODATA").isEqualTo(DnsResponseCode.NOERROR);
                assertThat(apex.authoritative()).isTrue();
                assertThat(apex.answers()).isEmpty();
                Answer lookalike = udp(query(10, "notacme.internal", DnsRecordType.A), address);
                assertThat(lookalike.code())
                        .as("not under acme.internal: forwarded, and the upstream refuses it")
                        .isEqualTo(DnsResponseCode.REFUSED);
                assertThat(upstreamAsked)
                        .containsExactly(
                                "public.example",
                                "www.example.com",
                                "public.example",
                                "public.example",
                                "notacme.internal");

                assertThat(logged.list)
                        .as("INFO: one line at each bind, nothing per query")
                        .filteredOn(e -> e.getLevel().isGreaterOrEqual(Level.INFO))
                        .extracting(ILoggingEvent::getFormattedMessage)
                        .containsExactly(
                                "private DNS listening on " + bound + " (UDP and TCP): unknown names are refused",
                                "private DNS listening on " + upstreamAddress
                                        + " (UDP and TCP): unknown names are refused",
                                "private DNS listening on " + address
                                        + " (UDP and TCP): unknown names under acme.internal are "
                                        + "NXDOMAIN, other names are forwarded to " + upstreamAddress
                                        + ", at most 256 at a time, SERVFAIL after 2000 ms");
                // e2e's Tunnel finds the port with this pattern: the upstream's must not match it.
                String bindLine = logged.list.stream()
                        .map(ILoggingEvent::getFormattedMessage)
                        .filter(m -> m.contains("forwarded to"))
                        .findFirst()
                        .orElseThrow();
                java.util.regex.Matcher port = java.util.regex.Pattern.compile("private DNS listening on .*:(\\d+) ")
                        .matcher(bindLine);
                assertThat(port.find()).isTrue();
                assertThat(port.group(1)).isEqualTo(String.valueOf(address.getPort()));
            }
        }
    }

    @Test
    void aTruncatedUpstreamAnswerIsRelayedSoTheJdkResolverAsksAgainOverTcp() throws Exception {
        try (PrivateDnsServer upstream = new PrivateDnsServer(upstreamLookup)) {
            InetSocketAddress upstreamAddress = upstream.bind(group, new InetSocketAddress("127.0.0.1", 0));
            try (PrivateDnsServer forwarding = new PrivateDnsServer(lookup, "acme.internal", upstreamAddress)) {
                InetSocketAddress address = forwarding.bind(group, new InetSocketAddress("127.0.0.1", 0));

                // 40 addresses do not fit 512 bytes: the upstream truncates, TCP brings all of them,
                // which do not fit either, so the client gets the truncated answer.
                Answer plain = udp(query(1, "many.example", DnsRecordType.A), address);
                assertThat(plain.truncated()).isTrue();
                assertThat(plain.bytes()).isLessThanOrEqualTo(512);
                assertThat(plain.answers()).hasSizeBetween(1, MANY - 1);

                // With EDNS they fit; a client's 4096 reaches the upstream as 1232.
                DatagramDnsQuery withEdns = query(2, "many.example", DnsRecordType.A);
                withEdns.addRecord(DnsSection.ADDITIONAL, opt(4096, 0));
                Answer edns = udp(withEdns, address);
                assertThat(edns.truncated()).isFalse();
                assertThat(edns.answers()).hasSize(MANY);
                assertThat(edns.opt()).as("the upstream's OPT record").isEqualTo("OPT class=1232 ttl=0");

                assertThat(values(jndi(address, 2000).getAttributes("many.example", new String[] {"A"}), "A"))
                        .hasSize(MANY);
                assertThat(tcp(tcpQuery(3, "many.example", DnsRecordType.A), address)
                                .answers())
                        .hasSize(MANY);
            }
        }
    }

    @Test
    void anUpstreamThatDoesNotAnswerGivesServfailAfterTheTimeout() throws Exception {
        try (Silent silent = Silent.start();
                PrivateDnsServer forwarding = new PrivateDnsServer(lookup, "acme.internal", silent.address())) {
            InetSocketAddress address = forwarding.bind(group, new InetSocketAddress("127.0.0.1", 0));

            long start = System.nanoTime();
            Answer overUdp = udp(query(11, "public.example", DnsRecordType.A), address);
            Duration udpTook = Duration.ofNanos(System.nanoTime() - start);
            assertThat(overUdp.id()).isEqualTo(11);
            assertThat(overUdp.code()).isEqualTo(DnsResponseCode.SERVFAIL);
            assertThat(overUdp.questions()).containsExactly("public.example.");
            assertThat(udpTook)
                    .as("it waited for the upstream's timeout")
                    .isGreaterThanOrEqualTo(Duration.ofMillis(1900));

            start = System.nanoTime();
            Answer overTcp = tcp(tcpQuery(12, "public.example", DnsRecordType.A), address);
            assertThat(overTcp.code()).isEqualTo(DnsResponseCode.SERVFAIL);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(1900));

            assertThatThrownBy(() -> jndi(address, 5000).getAttributes("public.example", new String[] {"A"}))
                    .isInstanceOf(ServiceUnavailableException.class)
                    .hasMessageStartingWith("DNS server failure [response code 2]");
            assertThat(values(jndi(address, 2000).getAttributes("git.acme.internal", new String[] {"A"}), "A"))
                    .as("endpoint names do not wait for the upstream")
                    .containsExactly("10.1.2.3");
            assertThat(silent.datagrams())
                    .as("every query went out once over UDP")
                    .isEqualTo(2);
            assertThat(logged.list)
                    .as("three failures, said at WARN once")
                    .filteredOn(e -> e.getLevel() == Level.WARN)
                    .extracting(ILoggingEvent::getFormattedMessage)
                    .singleElement()
                    .asString()
                    .startsWith("private DNS: A public.example from /127.0.0.1:")
                    .contains("answered SERVFAIL: dns, gateway => upstream " + silent.address() + ", timeout after ");
        }
    }

    @Test
    void anUpstreamPortWithNothingOnItGivesServfailWithoutWaitingForTheTimeout() throws Exception {
        int port;
        try (DatagramSocket probe = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            port = probe.getLocalPort();
        }
        InetSocketAddress closed = new InetSocketAddress("127.0.0.1", port);
        // A forwarding timeout far longer than the answers take: they come from the failure itself.
        try (PrivateDnsServer forwarding = new PrivateDnsServer(
                lookup,
                PrivateDnsServer.Options.of("acme.internal", closed).withForwardTimeout(Duration.ofSeconds(60)))) {
            InetSocketAddress address = forwarding.bind(group, new InetSocketAddress("127.0.0.1", 0));

            // UDP learns it from the ICMP port unreachable, TCP from the refused connection.
            long start = System.nanoTime();
            assertThat(udp(query(1, "public.example", DnsRecordType.A), address).code())
                    .isEqualTo(DnsResponseCode.SERVFAIL);
            assertThat(tcp(tcpQuery(2, "public.example", DnsRecordType.A), address)
                            .code())
                    .isEqualTo(DnsResponseCode.SERVFAIL);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(30));
        }
    }

    @Test
    void beyondTheForwardingLimitAQueryGetsServfailAtOnce() throws Exception {
        try (Silent silent = Silent.start();
                PrivateDnsServer forwarding = new PrivateDnsServer(
                        lookup,
                        PrivateDnsServer.Options.of("acme.internal", silent.address())
                                .withMaxForwards(2))) {
            InetSocketAddress address = forwarding.bind(group, new InetSocketAddress("127.0.0.1", 0));
            try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
                socket.setSoTimeout(5000);
                long start = System.nanoTime();
                for (int id = 1; id <= 3; id++) {
                    byte[] out = bytes(query(id, "name" + id + ".example", DnsRecordType.A));
                    socket.send(new java.net.DatagramPacket(out, out.length, address));
                }
                List<Integer> order = new ArrayList<>();
                List<Duration> times = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    Answer a = receive(socket, address);
                    times.add(Duration.ofNanos(System.nanoTime() - start));
                    assertThat(a.code()).isEqualTo(DnsResponseCode.SERVFAIL);
                    order.add(a.id());
                }
                assertThat(order).startsWith(3).containsExactlyInAnyOrder(1, 2, 3);
                assertThat(times.get(1)).as("the first two at their timeout").isGreaterThan(Duration.ofMillis(1900));

                // The two slots are free again: the next query waits for the upstream.
                start = System.nanoTime();
                byte[] out = bytes(query(4, "name4.example", DnsRecordType.A));
                socket.send(new java.net.DatagramPacket(out, out.length, address));
                assertThat(receive(socket, address).id()).isEqualTo(4);
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThan(Duration.ofMillis(1900));
            }
            assertThat(silent.datagrams()).isEqualTo(3);
        }
    }

    @Test
    void withTheDomainButNoUpstreamOurUnknownNamesAreNxdomainAndOthersRefused() throws Exception {
        try (PrivateDnsServer refusing = new PrivateDnsServer(lookup, "acme.internal", null)) {
            InetSocketAddress address = refusing.bind(group, new InetSocketAddress("127.0.0.1", 0));

            Answer ours = udp(query(1, "nope.acme.internal", DnsRecordType.A), address);
            assertThat(ours.code()).isEqualTo(DnsResponseCode.NXDOMAIN);
            assertThat(ours.authoritative()).isTrue();
            assertThat(udp(query(2, "www.example.com", DnsRecordType.A), address)
                            .code())
                    .isEqualTo(DnsResponseCode.REFUSED);
            assertThat(udp(query(3, "git.acme.internal", DnsRecordType.A), address)
                            .answers())
                    .containsExactly("git.acme.internal. 30 A 10.1.2.3");
            assertThat(logged.list)
                    .filteredOn(e -> e.getLevel() == Level.INFO)
                    .extracting(ILoggingEvent::getFormattedMessage)
                    .contains("private DNS listening on " + address
                            + " (UDP and TCP): unknown names under acme.internal are "
                            + "NXDOMAIN, other names are refused");
        }
    }

    @Test
    void optionsAreCheckedWhereTheyAreGiven() throws Exception {
        InetSocketAddress upstream = new InetSocketAddress("127.0.0.1", 53);
        assertThatThrownBy(() -> new PrivateDnsServer(lookup, PrivateDnsServer.Options.REFUSE.withMaxForwards(0)))
                .hasMessage("maxForwards: 0 (expected: >= 1)");
        assertThatThrownBy(() -> PrivateDnsServer.Options.of(null, upstream))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("endpointDomain: null (expected: the endpoint domain when forwarding to " + upstream + ")");
        assertThatThrownBy(() -> PrivateDnsServer.Options.of("acme..internal", null))
                .hasMessageStartingWith("endpointDomain: 'acme..internal' (expected: ");
        assertThatThrownBy(() ->
                        PrivateDnsServer.Options.of("acme.internal", InetSocketAddress.createUnresolved("dns", 53)))
                .hasMessageStartingWith("upstream: dns");
        assertThatThrownBy(() ->
                        PrivateDnsServer.Options.of("acme.internal", upstream).withForwardTimeout(Duration.ZERO))
                .hasMessage("forwardTimeout: PT0S (expected: > 0)");

        // Forwarding to itself would send every query round until the limit.
        int port;
        try (DatagramSocket probe = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            port = probe.getLocalPort();
        }
        InetSocketAddress self = new InetSocketAddress("127.0.0.1", port);
        PrivateDnsServer loop = new PrivateDnsServer(lookup, "acme.internal", self);
        assertThatThrownBy(() -> loop.bind(group, self))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("upstream: " + self + " (expected: another DNS server than this one");
        // (Not checked: that the port is free again at once. NIO closes a selector's socket at its next select.)
    }

    /** An upstream that takes UDP queries and TCP connections on one port and never answers. */
    record Silent(
            DatagramSocket udp, ServerSocket tcp, java.util.concurrent.atomic.AtomicInteger received, Thread reader)
            implements AutoCloseable {
        static Silent start() throws IOException {
            for (int attempt = 1; ; attempt++) {
                DatagramSocket udp = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0));
                try {
                    ServerSocket tcp = new ServerSocket(udp.getLocalPort(), 50, InetAddress.getByName("127.0.0.1"));
                    var received = new java.util.concurrent.atomic.AtomicInteger();
                    Thread reader = Thread.ofPlatform().daemon().start(() -> {
                        java.net.DatagramPacket p = new java.net.DatagramPacket(new byte[2048], 2048);
                        try {
                            while (true) {
                                udp.receive(p);
                                received.incrementAndGet();
                            }
                        } catch (IOException closed) {
                            // the test is over
                        }
                    });
                    return new Silent(udp, tcp, received, reader);
                } catch (BindException taken) {
                    udp.close();
                    if (attempt == 5) {
                        throw taken;
                    }
                }
            }
        }

        InetSocketAddress address() {
            return new InetSocketAddress("127.0.0.1", udp.getLocalPort());
        }

        int datagrams() {
            return received.get();
        }

        @Override
        public void close() throws IOException {
            udp.close();
            tcp.close();
        }
    }

    // --- clients ---

    InitialDirContext jndi() throws NamingException {
        return jndi(bound, 2000);
    }

    static InitialDirContext jndi(InetSocketAddress server, int timeoutMillis) throws NamingException {
        Hashtable<String, Object> env = new Hashtable<>();
        env.put(Context.INITIAL_CONTEXT_FACTORY, "com.sun.jndi.dns.DnsContextFactory");
        env.put(Context.PROVIDER_URL, "dns://127.0.0.1:" + server.getPort());
        env.put("com.sun.jndi.dns.timeout.initial", String.valueOf(timeoutMillis));
        env.put("com.sun.jndi.dns.timeout.retries", "1");
        return new InitialDirContext(env);
    }

    static List<String> values(Attributes attributes, String id) throws NamingException {
        Attribute attribute = attributes.get(id);
        List<String> values = new ArrayList<>();
        if (attribute != null) {
            NamingEnumeration<?> all = attribute.getAll();
            while (all.hasMore()) {
                values.add(String.valueOf(all.next()));
            }
        }
        return values;
    }

    DatagramDnsQuery query(int id, String name, DnsRecordType type) {
        DatagramDnsQuery q = new DatagramDnsQuery(null, bound, id);
        q.addRecord(DnsSection.QUESTION, new DefaultDnsQuestion(name, type));
        return q;
    }

    static DnsQuery tcpQuery(int id, String name, DnsRecordType type) {
        return new DefaultDnsQuery(id).addRecord(DnsSection.QUESTION, new DefaultDnsQuestion(name, type));
    }

    /** An OPT record: the UDP size in the class, extended RCODE, version and flags in the TTL. */
    static DnsRecord opt(int udpSize, long ttl) {
        return new DefaultDnsRawRecord(".", DnsRecordType.OPT, udpSize, ttl, Unpooled.EMPTY_BUFFER);
    }

    static byte[] bytes(DatagramDnsQuery query) {
        EmbeddedChannel encoder = new EmbeddedChannel(new DatagramDnsQueryEncoder());
        encoder.writeOutbound(query);
        DatagramPacket packet = encoder.readOutbound();
        try {
            return ByteBufUtil.getBytes(packet.content());
        } finally {
            packet.release();
            encoder.finishAndReleaseAll();
        }
    }

    static byte[] tcpFrame(DnsQuery query) {
        EmbeddedChannel encoder = new EmbeddedChannel(new TcpDnsQueryEncoder());
        encoder.writeOutbound(query);
        ByteBuf frame = encoder.readOutbound();
        try {
            return ByteBufUtil.getBytes(frame);
        } finally {
            frame.release();
            encoder.finishAndReleaseAll();
        }
    }

    Answer udp(DatagramDnsQuery query) throws IOException {
        return udp(query, bound);
    }

    static Answer udp(DatagramDnsQuery query, InetSocketAddress server) throws IOException {
        byte[] out = bytes(query);
        try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            socket.setSoTimeout(5000);
            socket.send(new java.net.DatagramPacket(out, out.length, server));
            return receive(socket, server);
        }
    }

    static Answer tcp(DnsQuery query, InetSocketAddress server) throws IOException {
        try (Socket socket = new Socket(server.getAddress(), server.getPort())) {
            socket.setSoTimeout(5000);
            socket.getOutputStream().write(tcpFrame(query));
            return readTcp(new DataInputStream(socket.getInputStream()));
        }
    }

    static Answer receive(DatagramSocket socket, InetSocketAddress server) throws IOException {
        java.net.DatagramPacket in = new java.net.DatagramPacket(new byte[65535], 65535);
        socket.receive(in);
        EmbeddedChannel decoder = new EmbeddedChannel(new DatagramDnsResponseDecoder());
        decoder.writeInbound(new DatagramPacket(
                Unpooled.wrappedBuffer(in.getData(), 0, in.getLength()),
                (InetSocketAddress) socket.getLocalSocketAddress(),
                server));
        DnsResponse response = decoder.readInbound();
        try {
            return Answer.of(response, in.getLength());
        } finally {
            response.release();
            decoder.finishAndReleaseAll();
        }
    }

    static Answer readTcp(DataInputStream in) throws IOException {
        int length;
        try {
            length = in.readUnsignedShort();
        } catch (SocketTimeoutException | EOFException e) {
            throw new AssertionError("no TCP answer", e);
        }
        byte[] message = in.readNBytes(length);
        EmbeddedChannel decoder = new EmbeddedChannel(new TcpDnsResponseDecoder());
        decoder.writeInbound(Unpooled.buffer().writeShort(length).writeBytes(message));
        DnsResponse response = decoder.readInbound();
        try {
            return Answer.of(response, length);
        } finally {
            response.release();
            decoder.finishAndReleaseAll();
        }
    }

    /** A decoded response, flattened for assertions; records as {@code "name ttl TYPE address"}. */
    record Answer(
            int id,
            DnsOpCode opCode,
            DnsResponseCode code,
            boolean authoritative,
            boolean truncated,
            boolean recursionDesired,
            List<String> questions,
            List<String> answers,
            String opt,
            int bytes) {
        static Answer of(DnsResponse r, int bytes) throws IOException {
            List<String> questions = new ArrayList<>();
            for (int i = 0; i < r.count(DnsSection.QUESTION); i++) {
                questions.add(r.recordAt(DnsSection.QUESTION, i).name());
            }
            List<String> answers = new ArrayList<>();
            for (int i = 0; i < r.count(DnsSection.ANSWER); i++) {
                DnsRawRecord rec = r.recordAt(DnsSection.ANSWER, i);
                answers.add(
                        rec.name() + " " + rec.timeToLive() + " " + rec.type().name() + " "
                                + InetAddress.getByAddress(ByteBufUtil.getBytes(rec.content()))
                                        .getHostAddress());
            }
            String opt = null;
            for (int i = 0; i < r.count(DnsSection.ADDITIONAL); i++) {
                DnsRecord rec = r.recordAt(DnsSection.ADDITIONAL, i);
                if (DnsRecordType.OPT.equals(rec.type())) {
                    opt = "OPT class=" + (rec.dnsClass() & 0xffff) + " ttl=" + rec.timeToLive();
                }
            }
            return new Answer(
                    r.id(),
                    r.opCode(),
                    r.code(),
                    r.isAuthoritativeAnswer(),
                    r.isTruncated(),
                    r.isRecursionDesired(),
                    questions,
                    answers,
                    opt,
                    bytes);
        }
    }

    static List<InetAddress> many() {
        List<InetAddress> all = new ArrayList<>();
        for (int i = 1; i <= MANY; i++) {
            all.add(address("10.9.0." + i));
        }
        return List.copyOf(all);
    }

    static InetAddress address(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (IOException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }
}
