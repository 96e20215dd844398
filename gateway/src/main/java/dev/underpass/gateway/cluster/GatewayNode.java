package dev.underpass.gateway.cluster;

import dev.underpass.controlplane.cluster.Nodes;
import dev.underpass.gateway.consumer.EndpointPorts;
import dev.underpass.gateway.events.ConnectionEvents;
import dev.underpass.gateway.link.AgentRegistry;
import dev.underpass.gateway.link.PeerNodes;
import dev.underpass.gateway.pki.AgentCertificateAuthority;
import dev.underpass.protocol.Tls;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import javax.net.ssl.TrustManagerFactory;

/**
 * This gateway process as one node of the cluster (docs/cluster.md): its heartbeat in the store,
 * its links to the other nodes and the relay of consumer connections over them, both ways.
 * Every gateway is a node, a gateway alone being a cluster of one.
 */
public final class GatewayNode implements AutoCloseable {
    private final NodeHeartbeat heartbeat;
    private final PeerLinks links;
    private final PeerRelay relay;
    private final RelayAcceptor acceptor;
    private final EndpointPorts ports;

    /** What a node is built from. */
    public record Parts(
            Nodes nodes,
            String id,
            String version,
            AgentRegistry registry,
            BooleanSupplier draining,
            AgentCertificateAuthority agentCa,
            Path gatewayCa,
            EventLoopGroup group,
            ConnectionEvents events,
            EndpointPorts ports,
            PeerView peers,
            Duration connectTimeout) {}

    private GatewayNode(Parts p, PeerLinks links) {
        this.heartbeat = new NodeHeartbeat(p.nodes(), p.id(), p.version(), p.registry(), p.draining(), p.peers());
        this.links = links;
        this.relay = new PeerRelay(heartbeat, links, p.events());
        this.acceptor = new RelayAcceptor(p.agentCa(), heartbeat, p.ports());
        this.ports = p.ports();
    }

    /**
     * A node that does not beat yet. Its links to peers present a fresh node certificate of the
     * agent CA and trust the peers' certificates by the gateway's CA ({@code gatewayCa}; when the
     * operator brought the certificate, the system's trust store and the peers' names).
     */
    public static GatewayNode create(Parts p) throws IOException {
        AgentCertificateAuthority.NodeCertificate mine = p.agentCa().nodeCertificate(p.id());
        var tls = Tls.client(trust(p.gatewayCa()), p.gatewayCa() == null, mine.chainPem(), mine.keyPem());
        return new GatewayNode(p, new PeerLinks(tls, p.group(), Nodes.INTERVAL, p.connectTimeout()));
    }

    private static TrustManagerFactory trust(Path ca) throws IOException {
        try {
            TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            if (ca == null) {
                f.init((KeyStore) null);
                return f;
            }
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            try (InputStream in = Files.newInputStream(ca)) {
                int i = 0;
                for (var c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                    store.setCertificateEntry("ca" + i++, (X509Certificate) c);
                }
            }
            f.init(store);
            return f;
        } catch (GeneralSecurityException e) {
            throw new IOException(
                    "cannot trust the gateway CA " + ca + " for links to peer nodes: " + e.getMessage(), e);
        }
    }

    /** What the agent port needs of the cluster: peers' relay streams, and every node's address for agents. */
    public PeerNodes peerNodes() {
        return acceptor;
    }

    /** Beats (once before returning), and relays to peers from now on. */
    public void start(String agentAddress, String apiAddress) throws Exception {
        heartbeat.start(agentAddress, apiAddress);
        ports.peers(relay);
    }

    /** This node drains: the others should stop relaying here at once, not at the next beat. */
    public void draining() {
        heartbeat.beatSoon();
    }

    /** Why this node cannot take part in the cluster now (its heartbeat fails), or null: for readiness. */
    public String problem() {
        return heartbeat.problem();
    }

    public String id() {
        return heartbeat.id();
    }

    /** Leaves the list of nodes at once and closes the links to peers. */
    @Override
    public void close() {
        heartbeat.close();
        links.close();
    }
}
