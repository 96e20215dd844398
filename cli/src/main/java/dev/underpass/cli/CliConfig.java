package dev.underpass.cli;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Set;

/**
 * Where the CLI finds the gateway and its credential: {@code config.json} written by
 * {@code underpass login} (mode 0600, in a 0700 directory), overridden by the environment for
 * scripts and CI. The credential is an API key ({@code key}), or an OIDC login: the path of a
 * file holding the user's JWT ({@code oidcTokenFile}, read afresh for every request, never
 * stored here) and the account to log in to ({@code account}). {@link #toString()} never shows the key.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
record CliConfig(String gateway, String caFile, String key, String oidcTokenFile, String account) {
    static final String FILE_NAME = "config.json";
    static final String DIR_ENV = "UNDERPASS_CONFIG_DIR";
    /**
     * Overrides {@value #DIR_ENV}; tests use it, since they run the CLI in-process and cannot set
     * environment variables.
     */
    static final String DIR_PROPERTY = "underpass.config.dir";

    static final String GATEWAY_ENV = "UNDERPASS_GATEWAY";
    static final String KEY_ENV = "UNDERPASS_API_KEY";
    static final String CA_FILE_ENV = "UNDERPASS_CA_FILE";
    /** With {@value #ACCOUNT_ENV}, an OIDC login instead of the stored credential (the agent reads the same name). */
    static final String OIDC_TOKEN_FILE_ENV = "UNDERPASS_LOGIN_TOKEN_FILE";

    static final String ACCOUNT_ENV = "UNDERPASS_ACCOUNT";

    private static final Set<PosixFilePermission> OWNER_ONLY_FILE = PosixFilePermissions.fromString("rw-------");
    private static final Set<PosixFilePermission> OWNER_ONLY_DIR = PosixFilePermissions.fromString("rwx------");

    /** A login with an API key. */
    CliConfig(String gateway, String caFile, String key) {
        this(gateway, caFile, key, null, null);
    }

    static CliConfig empty() {
        return new CliConfig(null, null, null);
    }

    /** Whether the credential is a user's OIDC token (a token file and an account) rather than an API key. */
    @JsonIgnore
    boolean oidc() {
        return key == null && oidcTokenFile != null;
    }

    /** What commands use: the stored login, overridden by the environment. */
    static CliConfig current() {
        Map<String, String> env = System.getenv();
        return load(dir(env)).overriddenBy(env);
    }

    /** The {@code underpass.config.dir} property, else {@code $UNDERPASS_CONFIG_DIR}, else {@code ~/.config/underpass}. */
    static Path dir(Map<String, String> env) {
        String property = System.getProperty(DIR_PROPERTY);
        if (property != null && !property.isBlank()) {
            return Path.of(property);
        }
        String fromEnv = env.get(DIR_ENV);
        if (fromEnv != null && !fromEnv.isBlank()) {
            return Path.of(fromEnv);
        }
        return Path.of(System.getProperty("user.home"), ".config", "underpass");
    }

    /** The configuration stored in {@code dir}, or an empty one when there is none. */
    static CliConfig load(Path dir) {
        Path file = dir.resolve(FILE_NAME);
        if (!Files.exists(file)) {
            return empty();
        }
        try {
            return ApiClient.JSON.readValue(file.toFile(), CliConfig.class);
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    file + ": cannot read it: " + e.getMessage()
                            + " (expected: the JSON written by 'underpass login'; log in again)",
                    e);
        }
    }

    /**
     * Writes this configuration to {@code dir/config.json} readable by the owner only: a
     * temporary file created 0600, then renamed, so the key is never in a file others can read.
     */
    Path save(Path dir) throws IOException {
        boolean posix = FileSystems.getDefault().supportedFileAttributeViews().contains("posix");
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(
                    dir,
                    posix
                            ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(OWNER_ONLY_DIR)}
                            : new FileAttribute<?>[0]);
        }
        Path tmp = posix
                ? Files.createTempFile(dir, FILE_NAME, ".tmp", PosixFilePermissions.asFileAttribute(OWNER_ONLY_FILE))
                : Files.createTempFile(dir, FILE_NAME, ".tmp");
        try {
            ApiClient.JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), this);
            return Files.move(
                    tmp, dir.resolve(FILE_NAME), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * {@code UNDERPASS_GATEWAY} and {@code UNDERPASS_CA_FILE} each win where set. A credential in
     * the environment replaces the stored one whole: {@code UNDERPASS_API_KEY}, or
     * {@code UNDERPASS_LOGIN_TOKEN_FILE} with {@code UNDERPASS_ACCOUNT} (never the stored account,
     * which may be another's); setting both is refused. Without either, {@code UNDERPASS_ACCOUNT}
     * changes the account of a stored OIDC login.
     */
    CliConfig overriddenBy(Map<String, String> env) {
        String envKey = or(env.get(KEY_ENV), null);
        String envTokenFile = absolute(env.get(OIDC_TOKEN_FILE_ENV));
        String envAccount = or(env.get(ACCOUNT_ENV), null);
        String g = or(env.get(GATEWAY_ENV), gateway);
        String ca = or(absolute(env.get(CA_FILE_ENV)), caFile);
        if (envKey != null && envTokenFile != null) {
            throw new IllegalArgumentException(KEY_ENV + " and " + OIDC_TOKEN_FILE_ENV + " are both set (expected: one "
                    + "credential: an API key, or an OIDC token file with " + ACCOUNT_ENV + ")");
        }
        if (envKey != null) {
            return new CliConfig(g, ca, envKey);
        }
        if (envTokenFile != null) {
            return new CliConfig(g, ca, null, envTokenFile, envAccount);
        }
        return oidc() ? new CliConfig(g, ca, null, oidcTokenFile, or(envAccount, account)) : new CliConfig(g, ca, key);
    }

    /** This configuration without its credential (key, or OIDC token file and account): logged out. */
    CliConfig withoutCredential() {
        return new CliConfig(gateway, caFile, null);
    }

    /** This configuration acting with {@code key} instead of the stored or overriding credential. */
    CliConfig withKey(String key) {
        return new CliConfig(gateway, caFile, key);
    }

    /** This configuration if it names a gateway and a credential; otherwise says how to log in. */
    CliConfig requireLogin() {
        if (gateway == null || (key == null && oidcTokenFile == null)) {
            throw new IllegalStateException("not logged in" + (gateway == null ? "" : " to " + gateway)
                    + " (expected: 'underpass login --gateway https://HOST:PORT', or " + GATEWAY_ENV + " and " + KEY_ENV
                    + ", or " + GATEWAY_ENV + ", " + OIDC_TOKEN_FILE_ENV + " and " + ACCOUNT_ENV + ")");
        }
        if (oidc() && (account == null || account.isBlank())) {
            throw new IllegalStateException(
                    "OIDC token file " + oidcTokenFile + " without an account to log in to (expected: "
                            + ACCOUNT_ENV + "=NAME with " + OIDC_TOKEN_FILE_ENV
                            + ", or 'underpass login --oidc-token-file FILE "
                            + "--account NAME')");
        }
        return this;
    }

    /** The gateway's base URI from {@code https://HOST[:PORT]}; refuses anything that would send the key in clear. */
    static URI gatewayUri(String gateway) {
        URI uri;
        try {
            uri = new URI(gateway.strip());
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("gateway: '" + gateway + "' (expected: https://HOST:PORT)", e);
        }
        if (!"https".equalsIgnoreCase(uri.getScheme())
                || uri.getHost() == null
                || !(uri.getRawPath() == null || uri.getRawPath().isEmpty() || "/".equals(uri.getRawPath()))
                || uri.getRawQuery() != null
                || uri.getRawUserInfo() != null) {
            throw new IllegalArgumentException("gateway: '" + gateway + "' (expected: https://HOST:PORT)");
        }
        return URI.create("https://" + uri.getRawAuthority());
    }

    static String absolute(String path) {
        return path == null || path.isBlank()
                ? null
                : Path.of(path).toAbsolutePath().normalize().toString();
    }

    private static String or(String a, String b) {
        return a != null && !a.isBlank() ? a.strip() : b;
    }

    @Override
    public String toString() {
        return "CliConfig[gateway=" + gateway + ", caFile=" + caFile + ", key=" + (key == null ? "none" : "(set)")
                + (oidcTokenFile == null ? "" : ", oidcTokenFile=" + oidcTokenFile + ", account=" + account) + "]";
    }
}
