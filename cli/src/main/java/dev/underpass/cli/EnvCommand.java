package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.protocol.HostAndPort;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Prints the environment a CI runner needs to reach the endpoints of its account through the
 * gateway's forward proxy: the conventional proxy variables, upper and lower case (git, curl,
 * Maven, npm and docker each read some of them), with the API key as the proxy password, and
 * Underpass' own variables. The output holds a secret and goes to stdout only, for the shell to
 * evaluate; the key never reaches stderr, an exception message or a log.
 */
@Command(
        name = "env",
        mixinStandardHelpOptions = true,
        description = {
            "Print the proxy environment for a CI runner: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY (SOCKS5), NO_PROXY "
                    + "(upper and lower case), UNDERPASS_GATEWAY and UNDERPASS_PROXY.",
            "The proxy URLs hold the API key: the output is a secret. Use it as",
            "  sh:         eval \"$(underpass env --key-file runner.key)\"",
            "  fish:       underpass env --shell fish | source",
            "  powershell: underpass env --shell powershell | Out-String | iex",
            "then reach endpoints by name: git clone https://NAME/..."
        })
final class EnvCommand implements Callable<Integer> {
    /** The proxy user name; the gateway authenticates the password (the API key) alone. */
    static final String PROXY_USER = "underpass";
    /** Local addresses that never go through the proxy. */
    static final String NO_PROXY = "localhost,127.0.0.1,::1";
    /** The version of {@code GET /v1/gateway}'s answer this CLI understands. */
    static final int GATEWAY_INFO_VERSION = 1;
    /** A host name or address as the gateway may publish it; anything else is refused rather than printed into a shell. */
    private static final Pattern PROXY_HOST = Pattern.compile("[a-z0-9._:-]+");

    /** Lower case, as typed on the command line. */
    enum Shell {
        sh {
            @Override
            String assign(String name, String value) {
                // Nothing is special inside single quotes; a quote ends them, is escaped, and they start again.
                return "export " + name + "='" + value.replace("'", "'\\''") + "'";
            }
        },
        fish {
            @Override
            String assign(String name, String value) {
                // Inside fish's single quotes only \' and \\ are escapes.
                return "set -gx " + name + " '" + value.replace("\\", "\\\\").replace("'", "\\'") + "'";
            }
        },
        powershell {
            @Override
            String assign(String name, String value) {
                // A quote is doubled; PowerShell also takes the typographic single quotes for one.
                return "$env:" + name + " = '" + value.replaceAll("(['\u2018\u2019\u201A\u201B])", "$1$1") + "'";
            }
        };

        /** One statement that sets environment variable {@code name} (a plain identifier) to {@code value}, exported. */
        abstract String assign(String name, String value);
    }

    @Option(
            names = "--shell",
            paramLabel = "SHELL",
            defaultValue = "sh",
            description = "sh (also bash, zsh), fish or powershell. Default: ${DEFAULT-VALUE}.")
    Shell shell = Shell.sh;

    @Option(
            names = "--key-file",
            paramLabel = "FILE",
            description =
                    "Put the API key in FILE into the proxy URLs instead of the logged-in one; recommended: a key "
                            + "narrowed for the runner (underpass key create runner --scope endpoints:connect --out runner.key).")
    Path keyFile;

    @Option(
            names = "--account",
            paramLabel = "NAME",
            description = "Refuse unless the key belongs to account NAME: a guard against handing a runner another "
                    + "account's key (the key decides which account's endpoints the runner reaches).")
    String account;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        CliConfig config = CliConfig.current();
        if (keyFile != null) {
            config = config.withKey(readKey(keyFile));
        }
        config = config.requireLogin();
        if (config.key() == null) {
            throw new IllegalArgumentException(
                    "the proxy takes API keys only, and this login is an OIDC token (expected: "
                            + "--key-file FILE with an API key for the runner, or " + CliConfig.KEY_ENV + ")");
        }
        JsonNode info;
        try (ApiClient api = ApiClient.connect(config)) {
            info = api.get("/v1/gateway"); // also proves that the key works before it goes into anyone's environment
            if (account != null) {
                String actual = api.get("/v1/whoami").path("account").asText();
                if (!account.equals(actual)) {
                    throw new picocli.CommandLine.ParameterException(
                            spec.commandLine(),
                            "--account: the key in use belongs to " + "account " + actual + ", not " + account
                                    + " (expected: --key-file with a key of " + account + ")");
                }
            }
        }
        HostAndPort proxy = proxyOf(info);
        if (!isLoopback(proxy.host())) {
            // The proxy speaks plain HTTP: its Basic credentials cross the network readable.
            spec.commandLine()
                    .getErr()
                    .println("underpass: note: the proxy at " + proxy + " receives this key unencrypted; "
                            + "give runners a key of their own narrowed to endpoints:connect (--key-file), and keep the proxy on a "
                            + "private network");
        }
        PrintWriter out = spec.commandLine().getOut();
        out.print(render(shell, CliConfig.gatewayUri(config.gateway()).toString(), proxy, config.key()));
        out.flush();
        return 0;
    }

    private static boolean isLoopback(String host) {
        return host.equals("localhost") || host.startsWith("127.") || host.equals("::1") || host.equals("[::1]");
    }

    /** The script for {@code shell}: a comment saying it holds a secret, then one line per variable. */
    static String render(Shell shell, String gateway, HostAndPort proxy, String key) {
        StringBuilder s = new StringBuilder("# underpass env for " + gateway
                + ": contains a secret (an API key in the proxy URLs); do not log, print or share it\n");
        variables(gateway, proxy, key)
                .forEach((name, value) -> s.append(shell.assign(name, value)).append('\n'));
        return s.toString();
    }

    /** Loopback, and the gateway's API host: the runner's own calls to the API do not go through the proxy. */
    static String noProxy(String gateway) {
        String host = java.net.URI.create(gateway).getHost();
        if (host == null || host.isEmpty()) {
            return NO_PROXY;
        }
        String bare = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
        return java.util.Arrays.asList(NO_PROXY.split(",")).contains(bare) ? NO_PROXY : NO_PROXY + "," + bare;
    }

    /** Every variable, in the order printed. */
    static Map<String, String> variables(String gateway, HostAndPort proxy, String key) {
        String credentials = PROXY_USER + ":" + userinfo(key) + "@" + proxy;
        Map<String, String> v = new LinkedHashMap<>();
        for (String name : new String[] {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}) {
            v.put(name, "http://" + credentials);
        }
        v.put(
                "ALL_PROXY",
                "socks5h://" + credentials); // socks5h: the proxy resolves the name, as endpoint names are private
        v.put("all_proxy", "socks5h://" + credentials);
        String noProxy = noProxy(gateway);
        v.put("NO_PROXY", noProxy);
        v.put("no_proxy", noProxy);
        v.put(CliConfig.GATEWAY_ENV, gateway);
        v.put("UNDERPASS_PROXY", proxy.toString());
        return v;
    }

    /**
     * {@code text} percent-encoded for the user-info part of a URL: everything but RFC 3986's
     * unreserved characters (and {@code *}) is encoded, a space as {@code %20}, never {@code +}.
     */
    static String userinfo(String text) {
        return URLEncoder.encode(text, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** The proxy address of {@code GET /v1/gateway}'s answer, checked before it is printed into a shell. */
    static HostAndPort proxyOf(JsonNode info) {
        if (info == null || !info.isObject()) {
            throw new ApiError(
                    0,
                    "GET /v1/gateway: the gateway's answer is no JSON object (expected: {\"proxy\": \"HOST:PORT\", ...})");
        }
        int version = info.path("version").asInt(-1);
        if (version != GATEWAY_INFO_VERSION) {
            throw new ApiError(
                    0,
                    "GET /v1/gateway: version " + info.path("version") + " (expected: " + GATEWAY_INFO_VERSION
                            + "; the gateway is newer than this CLI: update the CLI)");
        }
        String text = info.path("proxy").asText("");
        HostAndPort proxy;
        try {
            proxy = HostAndPort.parseDialable(text);
        } catch (IllegalArgumentException e) {
            proxy = null;
        }
        if (proxy == null || !PROXY_HOST.matcher(proxy.host()).matches()) {
            throw new ApiError(
                    0, "GET /v1/gateway: proxy '" + text + "' (expected: HOST:PORT of the gateway's forward proxy)");
        }
        return proxy;
    }

    private static String readKey(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    "--key-file: cannot read " + file + ": " + e.getClass().getSimpleName()
                            + " (expected: a readable file holding the API key)",
                    e);
        }
        try {
            return LoginCommand.checkKey(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--key-file " + file + ": " + e.getMessage(), e);
        }
    }
}
