package dev.underpass.controlplane.store;

import java.nio.file.Path;

/**
 * Where the control plane keeps its state: a JDBC URL with user and password. The password
 * never appears in {@link #toString()}.
 */
public record StoreConfig(String url, String user, String password) {
    /** Options that make H2 accept the PostgreSQL dialect of the shared migrations. */
    private static final String H2_OPTIONS = ";MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH";

    /**
     * The embedded database: one file under {@code dataDir/store}, no server to install. It stays
     * open until the gateway closes it, last (not when the JVM starts to exit), so that what is
     * written at shutdown, such as queued audit records, still reaches it.
     */
    public static StoreConfig embedded(Path dataDir) {
        return new StoreConfig(
                "jdbc:h2:file:" + dataDir.resolve("store").resolve("underpass").toAbsolutePath() + H2_OPTIONS
                        + ";DB_CLOSE_ON_EXIT=FALSE",
                "underpass",
                "");
    }

    /** An in-memory embedded database, gone when closed (tests). */
    public static StoreConfig inMemory(String name) {
        return new StoreConfig("jdbc:h2:mem:" + name + ";DB_CLOSE_DELAY=-1" + H2_OPTIONS, "underpass", "");
    }

    public boolean isEmbedded() {
        return url.startsWith("jdbc:h2:");
    }

    /** The URL without its options (they may carry credentials). */
    public String describe() {
        int cut = url.indexOf(url.startsWith("jdbc:h2:") ? ';' : '?');
        return cut < 0 ? url : url.substring(0, cut);
    }

    @Override
    public String toString() {
        return "StoreConfig[url=" + describe() + ", user=" + user + "]";
    }
}
