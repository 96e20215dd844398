package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** Who the current key, or OIDC token, acts as. */
@Command(
        name = "whoami",
        mixinStandardHelpOptions = true,
        description = "Show the account, user, role and scopes of the API key in use (key oidc for an OIDC login).")
final class WhoamiCommand implements Callable<Integer> {
    @Mixin
    Output output;

    @Override
    public Integer call() {
        JsonNode me;
        CliConfig config = CliConfig.current();
        try (ApiClient api = ApiClient.connect(config)) {
            me = api.get("/v1/whoami");
        }
        output.print(me, out -> {
            Text.field(out, "gateway", config.gateway());
            Text.field(
                    out,
                    "account",
                    Text.of(me.path("account")) + (me.path("operator").asBoolean() ? " (operator)" : ""));
            Text.field(out, "user", Text.of(me.path("user")));
            Text.field(out, "role", Text.of(me.path("role")));
            Text.field(out, "scopes", Text.join(me.path("scopes"), " ", Text::of));
            Text.field(out, "API key", Text.of(me.path("apiKeyId")));
            if (config.oidc()) {
                Text.field(out, "OIDC token file", config.oidcTokenFile());
            }
        });
        return 0;
    }
}
