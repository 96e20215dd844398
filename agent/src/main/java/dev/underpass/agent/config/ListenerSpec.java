package dev.underpass.agent.config;

import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Protocol;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One agent listener from the agent's file (bidirectional): a local address in the agent's network
 * and the endpoint of the agent's own account it carries connections to, by its id or by the
 * service it connects to, with the service port: {@code 10.0.0.5:5432 -> ep-0123456789abcdef:5432}
 * or {@code 10.0.0.5:5432 -> platform/db:5432}. The file is authoritative: the
 * agent listens only where it lists, whatever the gateway says.
 */
public record ListenerSpec(HostAndPort address, String endpoint, int servicePort) {
    /** The right-hand side that makes a listener the agent's forward proxy. */
    public static final String PROXY = "proxy";

    private static final Pattern PROXY_FORM = Pattern.compile("\\s*(\\S+)\\s*->\\s*proxy\\s*");

    private static final Pattern FORM = Pattern.compile("\\s*(\\S+)\\s*->\\s*(\\S+):([0-9]{1,5})\\s*");

    /**
     * Parses {@code ADDRESS -> ENDPOINT:SERVICE_PORT}, or {@code ADDRESS -> proxy} for a forward
     * proxy (HTTP CONNECT and SOCKS5) to every available endpoint of the agent's account; throws
     * with what was expected.
     */
    public static ListenerSpec parse(String text) {
        Matcher proxy = PROXY_FORM.matcher(text);
        if (proxy.matches()) {
            return new ListenerSpec(HostAndPort.parseDialable(proxy.group(1)), null, 0);
        }
        Matcher m = FORM.matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException(
                    "expected: ADDRESS -> ENDPOINT:PORT, e.g. 10.0.0.5:5432 -> ep-0123456789abcdef:5432, "
                            + "or ADDRESS -> proxy");
        }
        if (!Protocol.LISTENER_ENDPOINT.matcher(m.group(2)).matches()) {
            throw new IllegalArgumentException("endpoint " + m.group(2)
                    + " (expected: an endpoint id, ep-..., or the service as provider/service)");
        }
        HostAndPort address = HostAndPort.parseDialable(m.group(1));
        int port = Integer.parseInt(m.group(3));
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("service port " + port + " (expected: 1-65535)");
        }
        return new ListenerSpec(address, m.group(2), port);
    }

    /** Whether this listener is the agent's forward proxy rather than one endpoint's. */
    public boolean proxy() {
        return endpoint == null;
    }

    /** The endpoint and service port, as the gateway names them; for a proxy, its address. */
    public String key() {
        return proxy() ? PROXY + "@" + address : endpoint + ":" + servicePort;
    }

    @Override
    public String toString() {
        return address + " -> " + (proxy() ? PROXY : key());
    }
}
