package dev.underpass.agent.config;

import dev.underpass.protocol.HostAndPort;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One agent listener from the agent's file (bidirectional): a local address in the agent's network
 * and the endpoint of the agent's own account it carries connections to, with that endpoint's
 * service port: {@code 10.0.0.5:5432 -> ep-0123456789abcdef:5432}. The file is authoritative: the
 * agent listens only where it lists, whatever the gateway says.
 */
public record ListenerSpec(HostAndPort address, String endpoint, int servicePort) {
    private static final Pattern FORM = Pattern.compile("\\s*(\\S+)\\s*->\\s*(ep-[A-Za-z0-9]{1,64}):([0-9]{1,5})\\s*");

    /** Parses {@code ADDRESS -> ENDPOINT:SERVICE_PORT}; throws with what was expected. */
    public static ListenerSpec parse(String text) {
        Matcher m = FORM.matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException(
                    "expected: ADDRESS -> ENDPOINT:PORT, e.g. 10.0.0.5:5432 -> ep-0123456789abcdef:5432");
        }
        HostAndPort address = HostAndPort.parseDialable(m.group(1));
        int port = Integer.parseInt(m.group(3));
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("service port " + port + " (expected: 1-65535)");
        }
        return new ListenerSpec(address, m.group(2), port);
    }

    /** The endpoint and service port, as the gateway names them. */
    public String key() {
        return endpoint + ":" + servicePort;
    }

    @Override
    public String toString() {
        return address + " -> " + key();
    }
}
