package dev.underpass.gateway;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;

/**
 * Agent tokens: 256 random bits behind a recognisable prefix (so secret scanners and the log
 * masking can spot them), stored only as their SHA-256. A slow password hash buys nothing for a
 * secret with this much entropy, and SHA-256 keeps the check cheap on every reconnect.
 */
public final class AgentTokens {
    /** Every agent token starts with this. */
    public static final String PREFIX = "upa_";
    private static final SecureRandom RANDOM = new SecureRandom();

    private AgentTokens() {
    }

    public static String generate() {
        byte[] bytes = new byte[32];
        RANDOM.nextBytes(bytes);
        return PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }

    public static String sha256Hex(String token) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    }

}
