package dev.underpass.agent.config;

import io.netty.handler.ipfilter.IpFilterRuleType;
import io.netty.handler.ipfilter.IpSubnetFilterRule;
import io.netty.util.NetUtil;
import java.util.ArrayList;
import java.util.List;

/**
 * The CIDR blocks of {@code targetNetworks}: checked here with the configuration, turned into
 * Netty's subnet rules for the target checks, so both read a block the same way.
 */
public final class TargetNetworks {
    private TargetNetworks() {}

    /** Every malformed entry of {@code networks}, as {@code targetNetworks[i]: ... (expected: ...)}. */
    static List<String> validate(List<String> networks) {
        List<String> errors = new ArrayList<>();
        for (int i = 0; i < networks.size(); i++) {
            try {
                rule(networks.get(i));
            } catch (RuntimeException e) {
                errors.add("targetNetworks[" + i + "]: " + networks.get(i)
                        + " (expected: a CIDR block such as 10.20.0.0/16 " + "or fd00:1234::/48)");
            }
        }
        return errors;
    }

    /** The rules of {@code cidrs}, which {@link AgentConfig#validate()} has accepted. */
    public static List<IpSubnetFilterRule> rules(List<String> cidrs) {
        return cidrs.stream().map(TargetNetworks::rule).toList();
    }

    private static IpSubnetFilterRule rule(String cidr) {
        int slash = cidr.indexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("no prefix length");
        }
        String address = cidr.substring(0, slash);
        int prefix = Integer.parseInt(cidr.substring(slash + 1));
        if (!NetUtil.isValidIpV4Address(address) && !NetUtil.isValidIpV6Address(address)) {
            throw new IllegalArgumentException("not an address");
        }
        return new IpSubnetFilterRule(address, prefix, IpFilterRuleType.ACCEPT);
    }
}
