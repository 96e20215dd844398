package dev.underpass.agent.target;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.protocol.HostAndPort;
import io.netty.util.NetUtil;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Where allowlisted names may lead, resolved by the JDK's own resolver from the test hosts file
 * (agent/src/test/resources/hosts): each name there plays a DNS answer an attacker could give.
 */
class TargetAddressesTest {
    static final TargetAddresses ANYWHERE_ORDINARY = new TargetAddresses(List.of(), TargetAddresses.Resolver.SYSTEM);

    @Test
    void aNameLeadingToTheAgentHostOrLinkLocalIsRefusedWithTheAddressesItGot() {
        assertThatThrownBy(() -> ANYWHERE_ORDINARY.resolve(HostAndPort.parse("rebound.underpass.test:22")))
                .isInstanceOf(TargetAddresses.NotAllowed.class)
                .hasMessageContaining("rebound.underpass.test:22 resolved to [127.0.0.1]")
                .hasMessageContaining("targetNetworks");
        assertThatThrownBy(() -> ANYWHERE_ORDINARY.resolve(HostAndPort.parse("metadata.underpass.test:80")))
                .isInstanceOf(TargetAddresses.NotAllowed.class)
                .hasMessageContaining("[169.254.169.254]");
    }

    @Test
    void anOrdinaryAddressOfTheNameIsDialledAndTheSpecialOneSkipped() throws Exception {
        InetSocketAddress at = ANYWHERE_ORDINARY.resolve(HostAndPort.parse("mixed.underpass.test:443"));
        assertThat(at.getAddress().getHostAddress()).isEqualTo("198.18.0.1");
        assertThat(at.getPort()).isEqualTo(443);
        assertThat(at.isUnresolved())
                .as("the checked address is the one dialled: nothing left to resolve")
                .isFalse();
    }

    @Test
    void addressesWrittenAsTargetsAndLocalhostAreDialledAsTheAdministratorWroteThem() throws Exception {
        assertThat(ANYWHERE_ORDINARY
                        .resolve(HostAndPort.parse("127.0.0.1:8080"))
                        .getAddress()
                        .isLoopbackAddress())
                .isTrue();
        assertThat(ANYWHERE_ORDINARY
                        .resolve(HostAndPort.parse("[::1]:8080"))
                        .getAddress()
                        .isLoopbackAddress())
                .isTrue();
        assertThat(ANYWHERE_ORDINARY
                        .resolve(HostAndPort.parse("localhost:8080"))
                        .getAddress()
                        .isLoopbackAddress())
                .isTrue();
    }

    @Test
    void listedNetworksAreTheOnlyPlacesANameMayLeadIncludingSpecialOnesListedOnPurpose() throws Exception {
        TargetAddresses lab = new TargetAddresses(List.of("198.18.0.0/15"), TargetAddresses.Resolver.SYSTEM);
        assertThat(lab.resolve(HostAndPort.parse("mixed.underpass.test:443"))
                        .getAddress()
                        .getHostAddress())
                .isEqualTo("198.18.0.1");
        assertThatThrownBy(() -> lab.resolve(HostAndPort.parse("rebound.underpass.test:22")))
                .isInstanceOf(TargetAddresses.NotAllowed.class)
                .hasMessageContaining("outside targetNetworks [198.18.0.0/15]");

        TargetAddresses loopback = new TargetAddresses(List.of("127.0.0.0/8"), TargetAddresses.Resolver.SYSTEM);
        assertThat(loopback.resolve(HostAndPort.parse("rebound.underpass.test:22"))
                        .getAddress()
                        .getHostAddress())
                .isEqualTo("127.0.0.1");
    }

    @Test
    void specialIpv4AddressesInIpv6ClothingAreRefusedToo() throws Exception {
        for (String v6 : List.of(
                "::ffff:169.254.169.254",
                "::ffff:127.0.0.1",
                "::127.0.0.1",
                "64:ff9b::a9fe:a9fe",
                "2002:7f00:1::1",
                "::ffff:100.100.100.200")) {
            TargetAddresses policy = new TargetAddresses(List.of(), host -> new InetAddress[] {ipv6(v6)});
            assertThatThrownBy(() -> policy.resolve(HostAndPort.parse("evil.example:80")))
                    .as(v6)
                    .isInstanceOf(TargetAddresses.NotAllowed.class);
        }
        TargetAddresses nat64 = new TargetAddresses(List.of(), host -> new InetAddress[] {ipv6("64:ff9b::c612:1")});
        assertThat(nat64.resolve(HostAndPort.parse("public.example:443")).getAddress())
                .as("NAT64 to an ordinary address")
                .isEqualTo(ipv6("64:ff9b::c612:1"));
        TargetAddresses lab =
                new TargetAddresses(List.of("198.18.0.0/15"), host -> new InetAddress[] {ipv6("::ffff:198.18.0.9")});
        assertThat(lab.resolve(HostAndPort.parse("mapped.example:22")).getPort())
                .as("inside the listed network")
                .isEqualTo(22);
    }

    /** An IPv6 address kept as Inet6Address, as some resolvers return mapped addresses. */
    private static InetAddress ipv6(String text) throws UnknownHostException {
        return Inet6Address.getByAddress(null, NetUtil.createByteArrayFromIpAddressString(text), -1);
    }

    @Test
    void aNameThatDoesNotResolveIsAnUnknownHost() {
        assertThatThrownBy(() -> ANYWHERE_ORDINARY.resolve(HostAndPort.parse("nowhere.underpass.test:1")))
                .isInstanceOf(UnknownHostException.class);
    }
}
