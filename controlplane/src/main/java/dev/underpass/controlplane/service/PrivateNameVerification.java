package dev.underpass.controlplane.service;

import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Scope;
import java.util.ArrayList;
import java.util.Hashtable;
import java.util.List;
import javax.naming.NamingEnumeration;
import javax.naming.NamingException;
import javax.naming.directory.Attribute;
import javax.naming.directory.Attributes;
import javax.naming.directory.InitialDirContext;

/**
 * Verification of a service's private DNS name: the provider publishes a TXT record with the
 * service's verification value, the gateway looks it up, and only a verified name is given to
 * consumers (so that nobody can claim a name they do not own).
 */
public final class PrivateNameVerification {
    /** Looks up the TXT records of a name. */
    public interface TxtLookup {
        List<String> txt(String name) throws NamingException;
    }

    public record Result(String service, String name, PrivateNameState state, String detail) {}

    private final Services services;
    private final TxtLookup lookup;

    public PrivateNameVerification(Services services, TxtLookup lookup) {
        this.services = services;
        this.lookup = lookup;
    }

    /** TXT lookups through the JDK's DNS client, against {@code server} (host:port) or the system's resolvers. */
    @SuppressWarnings(
            "BanJNDI") // the DNS provider only (fixed factory): it returns TXT strings, never deserializes objects
    public static TxtLookup jndi(String server) {
        return name -> {
            Hashtable<String, String> env = new Hashtable<>();
            env.put("java.naming.factory.initial", "com.sun.jndi.dns.DnsContextFactory");
            env.put("java.naming.provider.url", server == null ? "dns:" : "dns://" + server);
            env.put("com.sun.jndi.dns.timeout.initial", "2000");
            env.put("com.sun.jndi.dns.timeout.retries", "2");
            InitialDirContext ctx = new InitialDirContext(env);
            try {
                Attributes attrs = ctx.getAttributes(name, new String[] {"TXT"});
                Attribute txt = attrs.get("TXT");
                List<String> values = new ArrayList<>();
                if (txt != null) {
                    NamingEnumeration<?> e = txt.getAll();
                    while (e.hasMore()) {
                        values.add(String.valueOf(e.next()).replace("\"", ""));
                    }
                }
                return values;
            } finally {
                ctx.close();
            }
        };
    }

    public Result verify(Principal p, String serviceName) {
        p.require(Scope.SERVICES_WRITE);
        Services.View v = services.get(p, serviceName);
        if (v.privateDns() == null) {
            throw Refused.conflict("service '" + serviceName + "' has no private DNS name (expected: set one with "
                    + "'underpass service update " + serviceName + " --private-dns-name NAME' first)");
        }
        String record = v.privateDns().verificationRecord();
        String expected = v.privateDns().verificationValue();
        PrivateNameState state;
        String detail;
        try {
            List<String> values = lookup.txt(record);
            if (values.contains(expected)) {
                state = PrivateNameState.VERIFIED;
                detail = "TXT " + record + " has the verification value";
            } else {
                state = PrivateNameState.FAILED;
                detail = "TXT " + record + " has "
                        + (values.isEmpty() ? "no value" : values.size() + " value(s), none the expected one")
                        + " (expected: \"" + expected + "\")";
            }
        } catch (NamingException e) {
            state = PrivateNameState.FAILED;
            detail = "cannot look up TXT " + record + ": " + e.getClass().getSimpleName()
                    + (e.getExplanation() == null ? "" : " " + e.getExplanation()) + " (expected: a TXT record \""
                    + expected + "\")";
        }
        services.setDnsState(p, serviceName, v.privateDns().name(), expected, state, detail);
        return new Result(v.reference(), v.privateDns().name(), state, detail);
    }
}
