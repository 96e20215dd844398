package dev.underpass.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** Removes the stored credential (API key, or OIDC token file and account); the gateway and CA file stay for the next login. */
@Command(
        name = "logout",
        mixinStandardHelpOptions = true,
        description = {
            "Remove the stored API key, or OIDC token file and account, from config.json.",
            "The key itself stays valid on the gateway until it expires or 'underpass key revoke ID' revokes it;",
            "the token file is left as it is."
        })
final class LogoutCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        Path dir = CliConfig.dir(System.getenv());
        CliConfig stored = CliConfig.load(dir);
        var out = spec.commandLine().getOut();
        if (stored.key() == null && stored.oidcTokenFile() == null) {
            out.println("not logged in: no key stored in " + dir.resolve(CliConfig.FILE_NAME));
        } else {
            stored.withoutCredential().save(dir);
            out.println(
                    "logged out of " + stored.gateway() + ": " + (stored.oidc() ? "OIDC token file and account" : "key")
                            + " removed from " + dir.resolve(CliConfig.FILE_NAME));
        }
        out.flush();
        return 0;
    }
}
