package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.controlplane.service.HealthState;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/** The hops of {@code underpass test} and their verdicts: pass, fail or skip, each with what was seen. */
final class ConnectionChecks {
    /** Ports that speak TLS from the first byte, where a handshake says more than a bare connection. */
    static final Set<Integer> TLS_PORTS = Set.of(443, 465, 636, 993, 995, 5671, 6443, 8443, 9443);

    static final int CONNECT_TIMEOUT_MS = 5_000;
    /** How long the TCP check waits for the gateway to reset a connection whose target cannot be reached. */
    static final int SETTLE_MS = 3_000;

    record Check(String name, String verdict, String detail) {}

    private final List<Check> checks = new ArrayList<>();

    void pass(String name, String detail) {
        checks.add(new Check(name, "pass", detail));
    }

    void fail(String name, String detail) {
        checks.add(new Check(name, "FAIL", detail));
    }

    void skip(String name, String detail) {
        checks.add(new Check(name, "skip", detail));
    }

    int size() {
        return checks.size();
    }

    List<Check> all() {
        return List.copyOf(checks);
    }

    boolean failed() {
        return checks.stream().anyMatch(c -> c.verdict().equals("FAIL"));
    }

    /**
     * The checks that follow from the gateway's diagnosis of the endpoint; with {@code listener}
     * (the address of one of the account's agent listeners for it), the last hops go through that
     * listener instead of the endpoint's address, after a check that the gateway keeps it open
     * ({@code listeners}: the API's list of the agents that listen for the endpoint).
     */
    void endpoint(JsonNode d, Integer wanted, boolean forceTls, String listener, JsonNode listeners) {
        String state = d.path("state").asText();
        if (!"available".equals(state)) {
            fail(
                    "endpoint",
                    d.path("id").asText() + " (" + d.path("service").asText() + ") is " + state + ": "
                            + d.path("stateReason").asText() + " (expected: available; see 'underpass endpoint show')");
            return;
        }
        pass("endpoint", d.path("id").asText() + " (" + d.path("service").asText() + ") is available");
        JsonNode port = null;
        List<String> ports = new ArrayList<>();
        for (JsonNode p : d.path("ports")) {
            ports.add(p.path("servicePort").asText());
            if (port == null && (wanted == null || p.path("servicePort").asInt() == wanted)) {
                port = p;
            }
        }
        if (port == null || !port.hasNonNull("address")) {
            fail("port", wanted + " is not a port of this endpoint you can connect to (its ports: " + ports + ")");
            return;
        }
        int servicePort = port.path("servicePort").asInt();
        String address = port.path("address").asText();
        if (!port.has("agentSessions")) {
            skip("agents", "not known to this API (no gateway data plane behind it)");
        } else if (port.path("agentSessions").asInt() == 0) {
            fail(
                    "agents",
                    "no agent of the provider is connected and advertises port " + servicePort + "'s targets "
                            + "(the provider must run 'underpass agent --target ...' for them)");
        } else {
            pass("agents", port.path("agentSessions").asInt() + " live agent session(s) serve port " + servicePort);
        }
        targetHealth(port.path("targetHealth"), servicePort);
        if (listener != null) {
            if (!agentListener(listener, listeners, servicePort)) {
                return;
            }
            address = listener;
        }
        if (!tcp(address, servicePort)) {
            return;
        }
        if (forceTls || TLS_PORTS.contains(servicePort)) {
            tls(address, d.path("dnsNames"));
        } else {
            skip("tls", "port " + servicePort + " is not known for TLS (--tls tries a handshake anyway)");
        }
    }

    /** Whether an agent of the account listens on {@code address} for the port, and the gateway lets it take connections. */
    private boolean agentListener(String address, JsonNode listeners, int servicePort) {
        for (JsonNode l : listeners == null ? List.<JsonNode>of() : listeners.path("items")) {
            if (!address.equals(l.path("address").asText())
                    || l.path("servicePort").asInt() != servicePort) {
                continue;
            }
            String who = "agent " + l.path("agent").asText() + " (session "
                    + l.path("session").asText() + ")";
            if (l.path("open").asBoolean()) {
                pass("agent listener", who + " listens on " + address + " for port " + servicePort);
                return true;
            }
            fail(
                    "agent listener",
                    who + " keeps " + address + " closed: " + l.path("reason").asText());
            return false;
        }
        fail(
                "agent listener",
                "no agent of this account, linked to the node that answered, listens on " + address + " for port "
                        + servicePort + " (expected in the agent's file: listen: \"" + address + " -> ENDPOINT:"
                        + servicePort + "\"; see 'underpass endpoint show')");
        return false;
    }

    /** The provider's agents' verdicts on the port's targets, as counts per state. */
    private void targetHealth(JsonNode counts, int servicePort) {
        if (counts.isMissingNode() || counts.isNull()) {
            skip("target health", "not known to this API (no gateway data plane behind it)");
            return;
        }
        int healthy = counts.path(HealthState.HEALTHY.text()).asInt();
        int unhealthy = counts.path(HealthState.UNHEALTHY.text()).asInt();
        int initial = counts.path(HealthState.INITIAL.text()).asInt();
        int total = 0;
        for (JsonNode n : counts) {
            total += n.asInt();
        }
        String summary = healthy + " of " + total + " target(s) of port " + servicePort + " healthy"
                + (unhealthy > 0 ? ", " + unhealthy + " unhealthy" : "")
                + (initial > 0 ? ", " + initial + " not checked yet" : "");
        if (healthy > 0) {
            pass("target health", summary);
        } else if (initial > 0) {
            skip("target health", summary);
        } else {
            fail(
                    "target health",
                    summary + " (the provider's agents cannot reach them; see 'underpass service health'"
                            + " as the provider)");
        }
    }

    private boolean tcp(String address, int servicePort) {
        InetSocketAddress to = socketAddress(address);
        try (Socket s = new Socket()) {
            s.connect(to, CONNECT_TIMEOUT_MS);
            s.setSoTimeout(SETTLE_MS);
            InputStream in = s.getInputStream();
            byte[] first = new byte[64];
            int n;
            try {
                n = in.read(first);
            } catch (SocketTimeoutException quiet) {
                pass(
                        "tcp",
                        "connected to " + address + " (port " + servicePort + "); no reset within " + SETTLE_MS / 1000
                                + " s and the target has not spoken (normal where the client speaks first, as in HTTP and TLS)");
                return true;
            }
            if (n < 0) {
                fail(
                        "tcp",
                        "connected to " + address + ", then the gateway closed it: the target did not accept "
                                + "(the gateway's log says why)");
                return false;
            }
            pass("tcp", "connected to " + address + "; the target spoke first: \"" + printable(first, n) + "\"");
            return true;
        } catch (SocketException reset) {
            fail(
                    "tcp",
                    "connection to " + address + " reset: " + reset.getMessage() + " (the agent could not reach the "
                            + "target, or no agent serves it; the gateway's log says why)");
        } catch (IOException e) {
            fail(
                    "tcp",
                    "cannot connect to " + address + ": " + e.getMessage() + " (expected: the endpoint's address, "
                            + "reachable from here)");
        }
        return false;
    }

    private void tls(String address, JsonNode dnsNames) {
        String name = dnsNames.isArray() && !dnsNames.isEmpty()
                ? dnsNames.get(dnsNames.size() - 1).asText()
                : null;
        CapturingTrust trust = new CapturingTrust();
        try (Socket raw = new Socket()) {
            raw.connect(socketAddress(address), CONNECT_TIMEOUT_MS);
            raw.setSoTimeout(CONNECT_TIMEOUT_MS);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, new TrustManager[] {trust}, null);
            InetSocketAddress to = socketAddress(address);
            try (SSLSocket ssl =
                    (SSLSocket) ctx.getSocketFactory().createSocket(raw, to.getHostString(), to.getPort(), false)) {
                if (name != null) {
                    SSLParameters p = ssl.getSSLParameters();
                    p.setServerNames(List.of(new SNIHostName(name)));
                    ssl.setSSLParameters(p);
                }
                ssl.startHandshake();
                X509Certificate cert = trust.chain == null ? null : trust.chain[0];
                List<String> covered = cert == null ? List.of() : dnsNames(cert);
                if (name != null && cert != null && covered.stream().noneMatch(c -> matches(c, name))) {
                    // Issue 12: git and curl refused the endpoint's generated name that the README showed them.
                    fail(
                            "tls",
                            ssl.getSession().getProtocol() + " handshake with the target, but its certificate covers "
                                    + (covered.isEmpty() ? "no DNS name" : String.join(", ", covered)) + ", not " + name
                                    + ": clients that check the name (git, curl) refuse it; reach the service by a name its "
                                    + "certificate covers, as its verified private DNS name (the provider sets one with "
                                    + "'underpass service update --private-dns-name NAME')");
                    return;
                }
                pass(
                        "tls",
                        ssl.getSession().getProtocol() + " handshake with the target"
                                + (cert == null
                                        ? ""
                                        : "; certificate "
                                                + cert.getSubjectX500Principal().getName() + ", issued by "
                                                + cert.getIssuerX500Principal().getName()
                                                + (name == null ? "" : ", covers " + name)
                                                + " (its issuer is not verified here)"));
            }
        } catch (Exception e) {
            fail(
                    "tls",
                    "no TLS handshake through " + address + ": " + e.getMessage()
                            + " (does the target speak TLS on this port?)");
        }
    }

    /** The DNS names a certificate covers (its subject alternative names of type DNS). */
    private static List<String> dnsNames(X509Certificate cert) {
        try {
            var sans = cert.getSubjectAlternativeNames();
            return sans == null
                    ? List.of()
                    : sans.stream()
                            .filter(san -> Integer.valueOf(2).equals(san.get(0)))
                            .map(san -> String.valueOf(san.get(1)))
                            .toList();
        } catch (java.security.cert.CertificateParsingException e) {
            return List.of();
        }
    }

    /** Whether a certificate's DNS name covers {@code host}: equal, or a wildcard for exactly one leftmost label. */
    static boolean matches(String pattern, String host) {
        String p = pattern.toLowerCase(java.util.Locale.ROOT);
        String h = host.toLowerCase(java.util.Locale.ROOT);
        if (p.startsWith("*.")) {
            int dot = h.indexOf('.');
            return dot > 0 && h.substring(dot).equals(p.substring(1));
        }
        return p.equals(h);
    }

    private static InetSocketAddress socketAddress(String address) {
        int colon = address.lastIndexOf(':');
        String host = address.substring(0, colon);
        if (host.startsWith("[")) {
            host = host.substring(1, host.length() - 1);
        }
        return new InetSocketAddress(host, Integer.parseInt(address.substring(colon + 1)));
    }

    private static String printable(byte[] bytes, int n) {
        StringBuilder s = new StringBuilder();
        for (char c : new String(bytes, 0, n, StandardCharsets.ISO_8859_1).toCharArray()) {
            s.append(c >= 32 && c < 127 ? c : '.');
        }
        return s.toString();
    }

    /** Accepts any certificate, to report what the target presents; the report says it was not verified. */
    private static final class CapturingTrust implements X509TrustManager {
        X509Certificate[] chain;

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
            throw new UnsupportedOperationException("client certificates are not checked here");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {
            this.chain = chain;
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
