package dev.underpass.cli;

import dev.underpass.agent.link.AgentEnrollment;
import dev.underpass.protocol.SecretBox;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code underpass agent enroll}: a one-time token in, a client certificate and its local key out. */
@Command(
        name = "enroll",
        mixinStandardHelpOptions = true,
        description = {
            "Exchange a one-time enrollment token for a client certificate, over the gateway's agent port.",
            "The key is generated here and never leaves this host; with " + SecretBox.KEY_ENV
                    + " set it is written sealed (AES-256-GCM)."
        })
final class AgentEnrollCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--gateway", paramLabel = "HOST:PORT", required = true, description = "The gateway's agent port.")
    String gateway;

    @Mixin
    GatewayTrustOptions trust = new GatewayTrustOptions();

    @Option(
            names = "--enrollment-token-file",
            paramLabel = "FILE",
            required = true,
            description =
                    "File holding the one-time token (upe_...) from 'underpass agent-enrollment create --out FILE'.")
    String tokenFile;

    @Option(
            names = "--out",
            paramLabel = "DIR",
            required = true,
            description = "Directory to write " + AgentEnrollment.CERTIFICATE_FILE + " and " + AgentEnrollment.KEY_FILE
                    + " into (mode 0600).")
    Path out;

    @Override
    public Integer call() throws Exception {
        SecretBox box = SecretBox.fromEnvironment();
        String via = trust.proxy;
        if (via == null) {
            try {
                via = EnvironmentProxy.forHost(
                        dev.underpass.protocol.HostAndPort.parse(gateway).host(), System.getenv());
            } catch (IllegalArgumentException badGateway) {
                via = null; // reported by the enrollment's own checks, with the field name
            }
        }
        var result = AgentEnrollment.enroll(
                new AgentEnrollment.Request(gateway, trust.caFile, trust.pin, tokenFile, out, via), box);
        var w = spec.commandLine().getOut();
        w.println("enrolled as agent certificate " + result.certificateId() + ", valid until " + result.notAfter());
        w.println("wrote " + result.certificate() + " and " + result.key() + " (mode 0600"
                + (result.sealed() ? ", key sealed with " + SecretBox.KEY_ENV : "") + ")");
        w.println("next: underpass agent --gateway " + gateway
                + (trust.caFile != null ? " --ca-file " + trust.caFile : trust.pin != null ? " --pin " + trust.pin : "")
                + " --client-cert " + result.certificate() + " --client-key " + result.key() + " --target HOST:PORT");
        w.flush();
        return 0;
    }
}
