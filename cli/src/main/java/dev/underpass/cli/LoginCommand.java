package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.Console;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Checks an API key against the gateway and stores it for the other commands. The key is read
 * from a file, stdin or a prompt, never from an argument, which every user of the host could
 * see in {@code ps}. Or, for OIDC login, checks the JWT in a file with the account named and
 * stores the file's path and the account: the token itself is short-lived, so every command
 * reads the file afresh.
 */
@Command(
        name = "login",
        mixinStandardHelpOptions = true,
        description = {
            "Log in to a gateway with an API key and store it (config.json, mode 0600) for the other commands.",
            "The key comes from --key-file, from stdin with --with-key, or from a prompt; never from an argument.",
            "With --oidc-token-file FILE --account NAME (where the gateway has OIDC login), the path of FILE and",
            "the account are stored instead, and every command reads the user's current JWT from FILE.",
            "UNDERPASS_GATEWAY and UNDERPASS_CA_FILE override the stored values in every command; UNDERPASS_API_KEY,",
            "or UNDERPASS_LOGIN_TOKEN_FILE with UNDERPASS_ACCOUNT, the stored credential."
        })
final class LoginCommand implements Callable<Integer> {
    static final String KEY_PREFIX = "upk_";

    @Option(
            names = "--gateway",
            required = true,
            paramLabel = "https://HOST:PORT",
            description = "The gateway's API address.")
    String gateway;

    @Option(
            names = "--ca-file",
            paramLabel = "FILE",
            description = "Trust the gateway's certificate through this CA (PEM) instead of the system trust store.")
    Path caFile;

    @ArgGroup(exclusive = true)
    KeySource source;

    static final class KeySource {
        @Option(names = "--key-file", paramLabel = "FILE", description = "Read the API key from FILE.")
        Path keyFile;

        @Option(names = "--with-key", description = "Read the API key from stdin.")
        boolean stdin;

        @Option(
                names = "--oidc-token-file",
                paramLabel = "FILE",
                description =
                        "Log in with the user's OIDC token (JWT) in FILE, read again by every command; needs --account.")
        Path oidcTokenFile;
    }

    @Option(
            names = "--account",
            paramLabel = "NAME",
            description =
                    "With --oidc-token-file: the account to log in to (its user whose OIDC subject is the token's sub).")
    String account;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        String base = CliConfig.gatewayUri(gateway).toString();
        String ca = caFile == null ? null : CliConfig.absolute(caFile.toString());
        if (ca != null && !Files.isReadable(Path.of(ca))) {
            throw new IllegalArgumentException("--ca-file: " + caFile + " (expected: a readable PEM file)");
        }
        CliConfig config;
        if (source != null && source.oidcTokenFile != null) {
            if (account == null || account.isBlank()) {
                throw new IllegalArgumentException(
                        "--oidc-token-file needs --account NAME (expected: the account to log "
                                + "in to; the same person may be a user of several accounts)");
            }
            String tokenFile = CliConfig.absolute(source.oidcTokenFile.toString());
            ApiClient.readOidcToken(Path.of(tokenFile)); // a clear refusal before any request
            config = new CliConfig(base, ca, null, tokenFile, account.strip());
        } else {
            if (account != null) {
                throw new IllegalArgumentException("--account: only with --oidc-token-file (expected: an API key "
                        + "belongs to one account, so leave --account out)");
            }
            config = new CliConfig(base, ca, readKey(base));
        }
        JsonNode me;
        try (ApiClient api = ApiClient.connect(config)) {
            me = api.get("/v1/whoami");
        }
        Path dir = CliConfig.dir(System.getenv());
        Path file = config.save(dir);
        var out = spec.commandLine().getOut();
        out.println("logged in to " + base + " as " + Text.of(me.path("user")) + "@" + Text.of(me.path("account"))
                + " (role " + Text.of(me.path("role")) + ")");
        out.println(
                config.oidc()
                        ? "OIDC token file " + config.oidcTokenFile() + " and account " + config.account()
                                + " stored in " + file + " (the token is read from the file by every command)"
                        : "credentials stored in " + file);
        out.flush();
        return 0;
    }

    private String readKey(String base) throws IOException {
        String key;
        if (source != null && source.keyFile != null) {
            try {
                key = Files.readString(source.keyFile);
            } catch (IOException e) {
                throw new IllegalArgumentException(
                        "--key-file: cannot read " + source.keyFile + ": "
                                + e.getClass().getSimpleName() + " (expected: a readable file holding the API key)",
                        e);
            }
        } else if (source != null && source.stdin) {
            key = new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
        } else {
            Console console = System.console();
            if (console == null || !isTerminal(console)) {
                throw new IllegalArgumentException("no terminal to prompt for the API key"
                        + " (expected: --key-file FILE, or --with-key with the key on stdin)");
            }
            char[] typed = console.readPassword("API key for %s: ", base);
            key = typed == null ? "" : new String(typed);
        }
        return checkKey(key);
    }

    /** {@code text} stripped, if it looks like one API key; the refusal never echoes it (it may be another secret). */
    static String checkKey(String text) {
        String key = text.strip();
        if (key.isEmpty()) {
            throw new IllegalArgumentException(
                    "API key: empty (expected: " + KEY_PREFIX + "..., as 'underpass key create' prints it)");
        }
        if (!key.startsWith(KEY_PREFIX) || key.chars().anyMatch(Character::isWhitespace)) {
            throw new IllegalArgumentException("API key: not of the form " + KEY_PREFIX
                    + "... (expected: one API key, as 'underpass key create' prints it; agent tokens do not log in)");
        }
        return key;
    }

    /**
     * From JDK 22 to 24, {@code System.console()} is not null even when stdin is a pipe, and
     * {@code Console.isTerminal()} (JDK 22+) tells; this code is built for JDK 21, which lacks it.
     */
    private static boolean isTerminal(Console console) {
        try {
            return (Boolean) Console.class.getMethod("isTerminal").invoke(console);
        } catch (ReflectiveOperationException e) {
            return true; // JDK 21: a console exists only on a terminal
        }
    }
}
