package dev.underpass.gateway;

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
import javax.naming.NamingEnumeration;
import javax.naming.NamingException;
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
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
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

        assertThat(values(jndi.getAttributes("Git.ACME.internal", new String[] {"A"}), "A")).containsExactly("10.1.2.3");
        assertThat(values(jndi.getAttributes("git.acme.internal.", new String[] {"AAAA"}), "AAAA"))
                .containsExactly("fd00::1");
        assertThat(asked).as("the lookup gets lower case without the trailing dot").containsOnly("git.acme.internal");
    }

    @Test
    void aNameWithoutAnAddressOfTheAskedFamilyIsAnEmptyAnswer() throws Exception {
        Attributes none = jndi().getAttributes("v4only.acme.internal", new String[] {"AAAA"});

        assertThat(none.size()).isZero();
        Answer raw = udp(query(1, "v4only.acme.internal", DnsRecordType.AAAA));
        assertThat(raw.code()).isEqualTo(DnsResponseCode.NOERROR);
        assertThat(raw.authoritative()).isTrue();
        assertThat(raw.answers()).isEmpty();
        assertThat(udp(query(2, "v4only.acme.internal", DnsRecordType.MX)).code()).isEqualTo(DnsResponseCode.NOERROR);
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
        assertThat(logged.list).as("a refused query is said at DEBUG only")
                .anyMatch(e -> e.getLevel() == Level.DEBUG && e.getFormattedMessage().contains("www.example.com")
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

        assertThat(values(jndi().getAttributes("many.acme.internal", new String[] {"A"}), "A")).hasSize(MANY)
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
        assertThat(badvers.opt()).as("BADVERS is extended RCODE 16: 1 in the OPT TTL's top byte")
                .isEqualTo("OPT class=1232 ttl=" + (1L << 24));
        assertThat(badvers.answers()).isEmpty();

        DatagramDnsQuery chaos = new DatagramDnsQuery(null, bound, 6);
        chaos.addRecord(DnsSection.QUESTION, new DefaultDnsQuestion("git.acme.internal", DnsRecordType.A, DnsRecord.CLASS_CHAOS));
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

        assertThat(values(jndi().getAttributes("git.acme.internal", new String[] {"A"}), "A")).containsExactly("10.1.2.3");
        assertThat(logged.list).as("nothing at INFO or above but the bind line")
                .filteredOn(e -> e.getLevel().isGreaterOrEqual(Level.INFO))
                .extracting(ILoggingEvent::getFormattedMessage)
                .containsExactly("private DNS listening on " + bound + " (UDP and TCP)");
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
                pipelined.writeBytes(tcpFrame(tcpQuery(id, id % 2 == 0 ? "git.acme.internal" : "nope.example", DnsRecordType.A)));
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
            assertThat(cut.getInputStream().read()).as("closed without an answer").isEqualTo(-1);

            // A frame announced longer than what comes before the client's FIN.
            ByteBuf partial = Unpooled.buffer().writeShort(query.length).writeBytes(query, 0, 10);
            halfSent.getOutputStream().write(ByteBufUtil.getBytes(partial));
            halfSent.shutdownOutput();
            assertThat(halfSent.getInputStream().read()).isEqualTo(-1);

            bystander.getOutputStream().write(tcpFrame(tcpQuery(6, "git.acme.internal", DnsRecordType.A)));
            assertThat(readTcp(new DataInputStream(bystander.getInputStream())).answers())
                    .containsExactly("git.acme.internal. 30 A 10.1.2.3");
        }
        assertThat(udp(query(8, "git.acme.internal", DnsRecordType.A)).answers()).hasSize(1);
    }

    @Test
    void aTcpConnectionWithoutACompleteQueryIsClosedAtTheIdleTimeout() throws Exception {
        try (PrivateDnsServer quick = new PrivateDnsServer(lookup, Duration.ofMillis(300))) {
            InetSocketAddress address = quick.bind(group, new InetSocketAddress("127.0.0.1", 0));
            try (Socket socket = new Socket(address.getAddress(), address.getPort())) {
                socket.setSoTimeout(5000);
                socket.getOutputStream().write(new byte[] {0, 40, 1, 2, 3});
                long start = System.nanoTime();
                assertThat(socket.getInputStream().read()).isEqualTo(-1);
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(4));
            }
        }
    }

    @Test
    void aPortTakenForTcpFailsTheBindAndLeavesNothingBound() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            InetSocketAddress address = new InetSocketAddress("127.0.0.1", taken.getLocalPort());
            PrivateDnsServer other = new PrivateDnsServer(lookup);

            assertThatThrownBy(() -> other.bind(group, address)).isInstanceOf(BindException.class)
                    .hasMessageStartingWith("private DNS: cannot bind TCP on " + address);
            // Nothing stayed half-bound: the same server binds cleanly elsewhere afterwards. (Checking
            // that UDP's port is free again would race with other UDP sockets of the machine.)
            try (other) {
                assertThat(other.bind(group, new InetSocketAddress("127.0.0.1", 0)).getPort()).isPositive();
            }
        }
    }

    // --- clients ---

    InitialDirContext jndi() throws NamingException {
        Hashtable<String, Object> env = new Hashtable<>();
        env.put(Context.INITIAL_CONTEXT_FACTORY, "com.sun.jndi.dns.DnsContextFactory");
        env.put(Context.PROVIDER_URL, "dns://127.0.0.1:" + bound.getPort());
        env.put("com.sun.jndi.dns.timeout.initial", "2000");
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
        byte[] out = bytes(query);
        try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            socket.setSoTimeout(5000);
            socket.send(new java.net.DatagramPacket(out, out.length, bound));
            java.net.DatagramPacket in = new java.net.DatagramPacket(new byte[65535], 65535);
            socket.receive(in);
            EmbeddedChannel decoder = new EmbeddedChannel(new DatagramDnsResponseDecoder());
            decoder.writeInbound(new DatagramPacket(Unpooled.wrappedBuffer(in.getData(), 0, in.getLength()),
                    (InetSocketAddress) socket.getLocalSocketAddress(), bound));
            DnsResponse response = decoder.readInbound();
            try {
                return Answer.of(response, in.getLength());
            } finally {
                response.release();
                decoder.finishAndReleaseAll();
            }
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
    record Answer(int id, DnsOpCode opCode, DnsResponseCode code, boolean authoritative, boolean truncated,
            boolean recursionDesired, List<String> questions, List<String> answers, String opt, int bytes) {
        static Answer of(DnsResponse r, int bytes) throws IOException {
            List<String> questions = new ArrayList<>();
            for (int i = 0; i < r.count(DnsSection.QUESTION); i++) {
                questions.add(r.recordAt(DnsSection.QUESTION, i).name());
            }
            List<String> answers = new ArrayList<>();
            for (int i = 0; i < r.count(DnsSection.ANSWER); i++) {
                DnsRawRecord rec = r.recordAt(DnsSection.ANSWER, i);
                answers.add(rec.name() + " " + rec.timeToLive() + " " + rec.type().name() + " "
                        + InetAddress.getByAddress(ByteBufUtil.getBytes(rec.content())).getHostAddress());
            }
            String opt = null;
            for (int i = 0; i < r.count(DnsSection.ADDITIONAL); i++) {
                DnsRecord rec = r.recordAt(DnsSection.ADDITIONAL, i);
                if (DnsRecordType.OPT.equals(rec.type())) {
                    opt = "OPT class=" + (rec.dnsClass() & 0xffff) + " ttl=" + rec.timeToLive();
                }
            }
            return new Answer(r.id(), r.opCode(), r.code(), r.isAuthoritativeAnswer(), r.isTruncated(), r.isRecursionDesired(),
                    questions, answers, opt, bytes);
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
