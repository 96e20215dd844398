package dev.underpass.controlplane.endpoint;

import dev.underpass.controlplane.endpoint.Endpoints.Event;
import dev.underpass.controlplane.endpoint.Endpoints.Port;
import dev.underpass.controlplane.endpoint.Endpoints.View;
import dev.underpass.controlplane.service.PrivateNameState;
import java.util.ArrayList;
import java.util.List;
import org.jdbi.v3.core.Handle;

/** Endpoints as each party sees them, and the names and addresses consumers reach them by. */
final class EndpointViews {
    private final String domain;
    private final String host;

    EndpointViews(String domain, String host) {
        this.domain = domain;
        this.host = host;
    }

    /**
     * An endpoint as {@code viewer} (an account name) sees it. Events made by the other party's
     * principals name only their account: user names and key ids stay inside each tenant.
     */
    View load(Handle h, long seq, boolean consumerView, boolean withEvents, String viewer) {
        EndpointRows.Base b = EndpointRows.base(h, seq);
        List<String> dnsNames = null;
        List<Port> ports = null;
        if (consumerView) {
            dnsNames = new ArrayList<>();
            dnsNames.add(dnsName(b.id(), b.ref()));
            if (b.dns() != null && b.dnsState() == PrivateNameState.VERIFIED) {
                dnsNames.add(b.dns());
            }
            ports = new ArrayList<>();
            for (var p : EndpointRows.ports(h, seq).entrySet()) {
                ports.add(new Port(p.getKey(), p.getValue(), host + ":" + p.getValue()));
            }
            if (b.state() != EndpointState.AVAILABLE) {
                ports = List.of(); // allocated ports mean nothing until the endpoint is available
            }
        }
        List<Event> events = withEvents
                ? EndpointRows.events(h, seq).stream()
                        .map(e -> new Event(e.at(), e.from(), e.to(), actorFor(e.actor(), viewer), e.reason()))
                        .toList()
                : null;
        return new View(
                b.id(), b.account(), b.ref(), b.state(), b.reason(), dnsNames, ports, b.created(), b.updated(), events);
    }

    /** {@code user@account (key id)} for the actor's own account, {@code account ACCOUNT} for the other one. */
    static String actorFor(String actor, String viewer) {
        int at = actor.indexOf('@');
        if (at < 0) {
            return actor; // the gateway
        }
        int end = actor.indexOf(' ', at);
        String account = actor.substring(at + 1, end < 0 ? actor.length() : end);
        return account.equals(viewer) ? actor : "account " + account;
    }

    /** The generated DNS name of an endpoint: {@code id.service.provider.domain}. */
    String dnsName(String id, String serviceRef) {
        String[] parts = serviceRef.split("/", 2);
        return id + "." + parts[1] + "." + parts[0] + "." + domain;
    }

    /** Whether {@code name} (lower case, no final dot) has the form of a generated name. */
    boolean generated(String name) {
        return name.endsWith("." + domain) && name.startsWith("ep-");
    }
}
