package dev.underpass.gateway.pki;

import dev.underpass.protocol.SealedFiles;
import dev.underpass.protocol.SecretBox;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's key material at start: its server certificate and key (generated or
 * configured) and its agent CA, with the private keys under the data directory's {@code tls/}
 * sealed at rest when {@link SecretBox#KEY_ENV} is set. On a start with the key, plaintext key
 * files are sealed in place (one log line each); a sealed file that the key (or its absence)
 * cannot open stops the start before anything is changed. {@link #reseal} moves the keys to a
 * new {@link SecretBox} key (rotation).
 */
public final class GatewayKeys {
    private static final Logger log = LoggerFactory.getLogger(GatewayKeys.class);
    /** The private keys the gateway keeps in {@code tls/}. */
    public static final List<String> KEY_FILES =
            List.of("ca-key.pem", "gateway-key.pem", AgentCertificateAuthority.KEY_FILE);

    /** What TLS needs: the server chain and key (PEM, the key only in memory), and the CAs. */
    public record Loaded(byte[] certificateChain, byte[] privateKey, Path caFile, AgentCertificateAuthority agentCa) {}

    private GatewayKeys() {}

    /** What a key file is sealed for: its place under the data directory, so that files cannot swap roles. */
    static String purpose(Path keyFile) {
        return "underpass gateway tls/" + keyFile.getFileName();
    }

    /**
     * Where the gateway's certificate comes from: the operator's files ({@code certificate} and
     * {@code privateKey}, both null otherwise), or one generated for {@code serverNames} and the
     * hosts the agent port and the API listen on.
     */
    public record Source(String certificate, String privateKey, List<String> serverNames, List<String> listenHosts) {}

    public static Loaded load(Source source, Path dataDir, SecretBox box) throws IOException {
        Path tls = dataDir.resolve("tls");
        List<Path> keys = new ArrayList<>();
        for (String name : KEY_FILES) {
            Path f = tls.resolve(name);
            if (Files.exists(f)) {
                keys.add(f);
                if (SealedFiles.isSealed(f)) {
                    SealedFiles.read(f, "tls/" + name, purpose(f), box); // fails before anything changes
                }
            }
        }
        if (box != null) {
            for (Path f : keys) {
                if (SealedFiles.sealInPlace(f, "tls/" + f.getFileName(), purpose(f), box)) {
                    log.info("sealed {} with the key in {} (encryption at rest)", f, SecretBox.KEY_ENV);
                }
            }
        }
        byte[] chain;
        byte[] key;
        Path ca = null;
        if (source.certificate() != null) {
            Path certFile = Path.of(source.certificate());
            Path keyFile = Path.of(source.privateKey());
            chain = readable(certFile, "tls.certificate");
            readable(keyFile, "tls.privateKey");
            key = SealedFiles.read(keyFile, "tls.privateKey " + keyFile, "underpass gateway tls.privateKey", box);
        } else {
            GatewayCertificates generated = GatewayCertificates.ensure(
                    tls, GatewayCertificates.certificateNames(source.serverNames(), source.listenHosts()), box);
            chain = Files.readAllBytes(generated.certificateFile());
            key = SealedFiles.read(
                    generated.privateKeyFile(), "tls/gateway-key.pem", purpose(generated.privateKeyFile()), box);
            ca = generated.caFile();
        }
        return new Loaded(chain, key, ca, AgentCertificateAuthority.ensure(tls, box));
    }

    /**
     * Re-seals the private keys under {@code dataDir}'s {@code tls/} with {@code next}: every key
     * is opened with {@code current} (null: they are plaintext) before any is rewritten, so a
     * wrong key changes nothing; a key that already opens with {@code next} (a run that was
     * interrupted) is left as it is. The gateway reads its keys only when it starts: restart it
     * with {@code next} in {@link SecretBox#KEY_ENV}. Returns the files rewritten.
     */
    public static List<Path> reseal(Path dataDir, SecretBox current, SecretBox next) throws IOException {
        java.util.Objects.requireNonNull(next, "next");
        Path tls = dataDir.resolve("tls");
        java.util.Map<Path, byte[]> opened = new java.util.LinkedHashMap<>();
        for (String name : KEY_FILES) {
            Path f = tls.resolve(name);
            if (!Files.exists(f)) {
                continue;
            }
            try {
                opened.put(f, SealedFiles.read(f, "tls/" + name, purpose(f), current));
            } catch (IOException notCurrent) {
                if (!SealedFiles.isSealed(f)) {
                    throw notCurrent;
                }
                try {
                    SealedFiles.read(f, "tls/" + name, purpose(f), next);
                } catch (IOException neither) {
                    throw notCurrent;
                }
            }
        }
        if (opened.isEmpty() && !Files.isDirectory(tls)) {
            throw new IOException(
                    tls + ": no such directory (expected: the data directory of a gateway that has started once)");
        }
        for (var e : opened.entrySet()) {
            SealedFiles.writePrivate(e.getKey(), e.getValue(), purpose(e.getKey()), next);
            log.info("re-sealed {} with the new key", e.getKey());
        }
        return List.copyOf(opened.keySet());
    }

    private static byte[] readable(Path file, String field) throws IOException {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IOException(field + ": " + file + " (expected: a readable PEM file): " + e.getMessage(), e);
        }
    }
}
