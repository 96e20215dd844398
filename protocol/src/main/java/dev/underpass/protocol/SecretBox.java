package dev.underpass.protocol;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.Map;
import java.util.Objects;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * Encryption at rest of the secrets that must be kept reversibly: the gateway's private keys and
 * the agent's client key (docs/adr/0015-agent-enrollment-and-encryption-at-rest.md). AES-256-GCM
 * from the JDK, a random 96-bit nonce per seal, and the secret's purpose (for example
 * {@code "gateway tls/ca-key.pem"}) as associated data, so that a sealed file moved into another
 * role does not open. The sealed text is self-describing and versioned:
 * {@code underpass-sealed:v1:<base64(nonce || ciphertext || tag)>}.
 *
 * <p>The key is 32 bytes, base64, from {@link #KEY_ENV}; it is never logged or printed, also not
 * in the error for a malformed one.
 */
public final class SecretBox {
    /** The environment variable holding the key: base64 of 32 random bytes ({@code openssl rand -base64 32}). */
    public static final String KEY_ENV = "UNDERPASS_SECRET_KEY";
    /** Every sealed text starts with this. */
    public static final String PREFIX = "underpass-sealed:v1:";

    private static final int KEY_BYTES = 32;
    private static final int NONCE_BYTES = 12;
    private static final int TAG_BITS = 128;
    private static final SecureRandom RANDOM = new SecureRandom();

    /** A sealed text that cannot be opened: wrong key, tampered, or sealed for another purpose. */
    public static final class OpenException extends Exception {
        public OpenException(String message) {
            super(message);
        }
    }

    private final SecretKeySpec key;

    private SecretBox(byte[] key) {
        this.key = new SecretKeySpec(key, "AES");
    }

    /** A box with this key (32 bytes). */
    public static SecretBox of(byte[] key) {
        Objects.requireNonNull(key, "key");
        if (key.length != KEY_BYTES) {
            throw new IllegalArgumentException("key: " + key.length + " bytes (expected: " + KEY_BYTES + ")");
        }
        return new SecretBox(key.clone());
    }

    /** A new random key, as {@link #KEY_ENV} expects it. */
    public static String newKeyText() {
        byte[] k = new byte[KEY_BYTES];
        RANDOM.nextBytes(k);
        return Base64.getEncoder().encodeToString(k);
    }

    /**
     * The box whose key is in variable {@code name} of {@code env}; null when the variable is unset
     * or empty.
     *
     * @throws IllegalArgumentException naming the variable (never its value) when it is not base64 of 32 bytes
     */
    public static SecretBox fromEnvironment(Map<String, String> env, String name) {
        String text = env.get(name);
        if (text == null || text.isBlank()) {
            return null;
        }
        byte[] k;
        try {
            k = Base64.getDecoder().decode(text.trim());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(name + ": not base64 (expected: base64 of " + KEY_BYTES
                    + " random bytes, e.g. from 'openssl rand -base64 32')");
        }
        if (k.length != KEY_BYTES) {
            throw new IllegalArgumentException(name + ": " + k.length + " bytes once decoded (expected: base64 of "
                    + KEY_BYTES + " random bytes, e.g. from 'openssl rand -base64 32')");
        }
        return new SecretBox(k);
    }

    /** As {@link #fromEnvironment(Map, String)} with {@link #KEY_ENV} of this process. */
    public static SecretBox fromEnvironment() {
        return fromEnvironment(System.getenv(), KEY_ENV);
    }

    /** Whether {@code text} (a file's content) is sealed. */
    public static boolean isSealed(String text) {
        return text != null && text.startsWith(PREFIX);
    }

    /** {@code plaintext} sealed for {@code purpose}, as one line of text. */
    public String seal(byte[] plaintext, String purpose) {
        byte[] nonce = new byte[NONCE_BYTES];
        RANDOM.nextBytes(nonce);
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, nonce));
            c.updateAAD(purpose.getBytes(StandardCharsets.UTF_8));
            byte[] sealed = c.doFinal(plaintext);
            ByteBuffer out =
                    ByteBuffer.allocate(NONCE_BYTES + sealed.length).put(nonce).put(sealed);
            return PREFIX + Base64.getEncoder().encodeToString(out.array());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM is required by every Java platform", e);
        }
    }

    /**
     * The plaintext of {@code sealed}, which was sealed for {@code purpose}.
     *
     * @throws OpenException when it is malformed, of another version, tampered with, sealed with
     *         another key or for another purpose (GCM cannot tell these last three apart)
     */
    public byte[] open(String sealed, String purpose) throws OpenException {
        if (!isSealed(sealed)) {
            throw new OpenException("not sealed text (expected: " + PREFIX + "...)");
        }
        byte[] raw;
        try {
            raw = Base64.getDecoder().decode(sealed.substring(PREFIX.length()).trim());
        } catch (IllegalArgumentException e) {
            throw new OpenException("sealed text is not base64 after " + PREFIX);
        }
        if (raw.length < NONCE_BYTES + TAG_BITS / 8) {
            throw new OpenException("sealed text is too short (" + raw.length + " bytes)");
        }
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, raw, 0, NONCE_BYTES));
            c.updateAAD(purpose.getBytes(StandardCharsets.UTF_8));
            return c.doFinal(Arrays.copyOfRange(raw, NONCE_BYTES, raw.length));
        } catch (AEADBadTagException e) {
            throw new OpenException("cannot open sealed " + purpose + ": it was sealed with another key, for another "
                    + "purpose, or altered");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM is required by every Java platform", e);
        }
    }
}
