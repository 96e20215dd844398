package dev.underpass.agent.link;

import dev.underpass.agent.config.AgentConfig;
import dev.underpass.protocol.SealedFiles;
import dev.underpass.protocol.SecretBox;
import dev.underpass.protocol.Tls;
import io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The agent's TLS client context: it verifies the gateway ({@link GatewayTrust}) and, for an
 * enrolled agent, presents its client certificate. The client key may be sealed at rest
 * ({@link SecretBox}); it is then opened with {@link SecretBox#KEY_ENV} in memory only.
 */
public final class ClientCertificate {
    /** What the agent's client key is sealed for, whatever its file is called. */
    static final String PURPOSE = "underpass agent client key";

    private ClientCertificate() {}

    public static SslContext sslContext(AgentConfig config) throws IOException {
        return sslContext(config, SecretBox.fromEnvironment());
    }

    /** With {@code box} opening a sealed client key (null: none). */
    static SslContext sslContext(AgentConfig config, SecretBox box) throws IOException {
        var trust = GatewayTrust.of(config);
        boolean hostname = GatewayTrust.verifiesHostname(config);
        if (!config.usesClientCertificate()) {
            return Tls.client(trust, hostname);
        }
        byte[] chain = Files.readAllBytes(Path.of(config.clientCert()));
        byte[] key = SealedFiles.read(Path.of(config.clientKey()), "clientKey " + config.clientKey(), PURPOSE, box);
        try {
            return Tls.client(trust, hostname, chain, key);
        } catch (IOException | IllegalArgumentException e) {
            throw new IOException(
                    "clientCert/clientKey: cannot load " + config.clientCert() + " and " + config.clientKey()
                            + " (expected: the files 'underpass agent enroll' wrote): " + e.getMessage(),
                    e);
        }
    }
}
