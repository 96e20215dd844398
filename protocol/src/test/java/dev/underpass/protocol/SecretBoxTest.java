package dev.underpass.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Encryption at rest: AES-256-GCM with the purpose as associated data, and sealed files. */
class SecretBoxTest {
    static final String PURPOSE = "underpass gateway tls/ca-key.pem";
    static final byte[] SECRET = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n"
            .getBytes(StandardCharsets.US_ASCII);

    @TempDir
    Path dir;

    static SecretBox box() {
        return SecretBox.fromEnvironment(Map.of(SecretBox.KEY_ENV, SecretBox.newKeyText()), SecretBox.KEY_ENV);
    }

    @Test
    void sealedTextOpensToThePlaintextAndSaysWhatItIs() throws Exception {
        SecretBox box = box();
        String sealed = box.seal(SECRET, PURPOSE);
        assertThat(sealed).startsWith("underpass-sealed:v1:").doesNotContain("PRIVATE KEY");
        assertThat(SecretBox.isSealed(sealed)).isTrue();
        assertThat(box.open(sealed, PURPOSE)).isEqualTo(SECRET);
        // A fresh nonce per seal: the same plaintext never seals to the same text.
        assertThat(box.seal(SECRET, PURPOSE)).isNotEqualTo(sealed);
    }

    @Test
    void tamperedTextIsRefused() throws Exception {
        SecretBox box = box();
        String sealed = box.seal(SECRET, PURPOSE);
        byte[] raw = Base64.getDecoder().decode(sealed.substring(SecretBox.PREFIX.length()));
        for (int i : new int[] {0, 12, raw.length / 2, raw.length - 1}) { // nonce, ciphertext, tag
            byte[] changed = raw.clone();
            changed[i] ^= 1;
            String tampered = SecretBox.PREFIX + Base64.getEncoder().encodeToString(changed);
            assertThatThrownBy(() -> box.open(tampered, PURPOSE))
                    .isInstanceOf(SecretBox.OpenException.class)
                    .hasMessageContaining("altered");
        }
        assertThatThrownBy(() -> box.open(SecretBox.PREFIX + "AAAA", PURPOSE)).hasMessageContaining("too short");
        assertThatThrownBy(() -> box.open(SecretBox.PREFIX + "not base64!", PURPOSE))
                .hasMessageContaining("not base64");
        assertThatThrownBy(() -> box.open("plain text", PURPOSE)).hasMessageContaining("not sealed");
    }

    @Test
    void anotherKeyOrPurposeDoesNotOpenIt() {
        String sealed = box().seal(SECRET, PURPOSE);
        assertThatThrownBy(() -> box().open(sealed, PURPOSE))
                .isInstanceOf(SecretBox.OpenException.class)
                .hasMessage("cannot open sealed " + PURPOSE
                        + ": it was sealed with another key, for another purpose, or altered");
        SecretBox box = box();
        String forServer = box.seal(SECRET, "underpass gateway tls/gateway-key.pem");
        assertThatThrownBy(() -> box.open(forServer, PURPOSE)).isInstanceOf(SecretBox.OpenException.class);
    }

    @Test
    void aMalformedKeyIsAClearErrorThatNeverShowsTheKey() {
        String shortKey = Base64.getEncoder().encodeToString(new byte[16]);
        assertThatThrownBy(() -> SecretBox.fromEnvironment(Map.of("K", shortKey), "K"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage(
                        "K: 16 bytes once decoded (expected: base64 of 32 random bytes, e.g. from 'openssl rand -base64 32')")
                .message()
                .doesNotContain(shortKey);
        String notBase64 = "s3cr3t-passphrase-not-base64!";
        assertThatThrownBy(() -> SecretBox.fromEnvironment(Map.of("K", notBase64), "K"))
                .hasMessageStartingWith("K: not base64")
                .message()
                .doesNotContain(notBase64);
        assertThat(SecretBox.fromEnvironment(Map.of(), "K")).isNull();
        assertThat(SecretBox.fromEnvironment(Map.of("K", " "), "K")).isNull();
    }

    @Test
    void filesAreSealedInPlaceAndReadBackOnlyWithTheKey() throws Exception {
        Path file = dir.resolve("ca-key.pem");
        Files.write(file, SECRET);
        assertThat(SealedFiles.read(file, "tls/ca-key.pem", PURPOSE, null)).isEqualTo(SECRET);
        SecretBox box = box();
        assertThat(SealedFiles.sealInPlace(file, "tls/ca-key.pem", PURPOSE, box))
                .isTrue();
        assertThat(Files.readString(file)).startsWith(SecretBox.PREFIX);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
                .isEqualTo("rw-------");
        assertThat(SealedFiles.sealInPlace(file, "tls/ca-key.pem", PURPOSE, box))
                .as("already sealed")
                .isFalse();
        assertThat(SealedFiles.read(file, "tls/ca-key.pem", PURPOSE, box)).isEqualTo(SECRET);
        assertThatThrownBy(() -> SealedFiles.read(file, "tls/ca-key.pem", PURPOSE, null))
                .hasMessage("tls/ca-key.pem is encrypted; set UNDERPASS_SECRET_KEY to the key it was sealed with");
        assertThatThrownBy(() -> SealedFiles.read(file, "tls/ca-key.pem", PURPOSE, box()))
                .hasMessageStartingWith("tls/ca-key.pem is encrypted and UNDERPASS_SECRET_KEY does not open it");
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString()))
                    .as("no temporary file left")
                    .containsExactly("ca-key.pem");
        }
    }
}
