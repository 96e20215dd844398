package dev.underpass.cli;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.gateway.Gateway;
import dev.underpass.gateway.GatewayConfig;
import dev.underpass.gateway.auth.OidcIssuer;
import dev.underpass.testkit.OidcIssuerServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A real gateway on 127.0.0.1 port 0 with OIDC login for users turned on ({@code oidcUsers}),
 * trusting a loopback OIDC issuer ({@link OidcIssuerServer}) that signs the tests' JWTs. The
 * control plane's API alone ({@link ApiFixture}) cannot check JWTs: that is the gateway's part.
 */
final class OidcGatewayFixture implements AutoCloseable {
    /** The audience users' JWTs carry for the gateway's OIDC login (the default of {@code oidcUsers}). */
    static final String AUDIENCE = OidcIssuer.Users.DEFAULT_AUDIENCE;

    final OidcIssuerServer issuer;
    final Gateway server;
    final String gateway;
    final Path caFile;
    final String operatorKey;

    private OidcGatewayFixture(Path dir) throws Exception {
        issuer = new OidcIssuerServer();
        try {
            Path config =
                    Files.writeString(dir.resolve("gateway.yaml"), """
                    agentListen: 127.0.0.1:0
                    apiListen: 127.0.0.1:0
                    proxyListen: 127.0.0.1:0
                    sniListen: 127.0.0.1:0
                    metricsListen: 127.0.0.1:0
                    oidcIssuers:
                      - issuer: %s
                    oidcUsers:
                      issuer: %s
                    """.formatted(issuer.issuer(), issuer.issuer()));
            Path data = dir.resolve("data");
            server = Gateway.start(GatewayConfig.load(config), data);
            gateway = "https://localhost:" + server.apiAddress().getPort();
            caFile = server.caFile();
            operatorKey = Files.readString(data.resolve(Gateway.ADMIN_KEY_FILE)).strip();
        } catch (Exception | Error e) {
            issuer.close();
            throw e;
        }
    }

    /** Starts the gateway; skips the test where the environment would override the CLI's stored login. */
    static OidcGatewayFixture start(Path dir) throws Exception {
        for (String env : List.of(
                CliConfig.GATEWAY_ENV,
                CliConfig.KEY_ENV,
                CliConfig.CA_FILE_ENV,
                CliConfig.OIDC_TOKEN_FILE_ENV,
                CliConfig.ACCOUNT_ENV)) {
            assumeTrue(System.getenv(env) == null, env + " is set in this environment");
        }
        return new OidcGatewayFixture(dir);
    }

    ControlPlane controlPlane() {
        return server.controlPlane();
    }

    /** The operator's principal, for setting up accounts without a request each. */
    Principal operator() {
        return controlPlane().apiKeys().authenticate(operatorKey);
    }

    /** A JWT of the trusted issuer for the users' audience, with {@code subject} as its sub. */
    String token(String subject) {
        return issuer.token(subject, AUDIENCE);
    }

    @Override
    public void close() {
        try {
            server.close();
        } finally {
            issuer.close();
        }
    }
}
