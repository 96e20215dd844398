package dev.underpass.cli;

import dev.underpass.gateway.pki.GatewayKeys;
import dev.underpass.protocol.SecretBox;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code underpass gateway reseal}: rotates the key that seals the gateway's private keys at rest. */
@Command(
        name = "reseal",
        mixinStandardHelpOptions = true,
        description = {
            "Re-seal the gateway's private keys (DATA_DIR/tls) with a new key: they are opened with "
                    + SecretBox.KEY_ENV + " (unset: they are plaintext) and sealed with the key in --new-key-env.",
            "Nothing changes unless every key opens. Then restart the gateway with the new key in " + SecretBox.KEY_ENV
                    + "."
        })
final class GatewayResealCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(
            names = "--data-dir",
            paramLabel = "DIR",
            defaultValue = "${env:UNDERPASS_DATA_DIR:-underpass-data}",
            description = "The gateway's data directory (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(
            names = "--new-key-env",
            paramLabel = "VAR",
            required = true,
            description =
                    "The environment variable holding the new key (base64 of 32 bytes, e.g. from 'openssl rand -base64 32').")
    String newKeyEnv;

    @Override
    public Integer call() throws Exception {
        SecretBox next = SecretBox.fromEnvironment(System.getenv(), newKeyEnv);
        if (next == null) {
            throw new IllegalArgumentException(
                    "--new-key-env: " + newKeyEnv + " is not set (expected: the variable holding " + "the new key)");
        }
        var files = GatewayKeys.reseal(dataDir, SecretBox.fromEnvironment(), next);
        var out = spec.commandLine().getOut();
        files.forEach(f -> out.println("re-sealed " + f));
        out.println("done: start the gateway with " + SecretBox.KEY_ENV + " set to the value of " + newKeyEnv);
        out.flush();
        return 0;
    }
}
