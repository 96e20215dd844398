package dev.underpass.controlplane.core;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;

/**
 * API keys and agent tokens: 256 random bits behind a recognisable prefix (so secret scanners
 * and log masking can spot them), stored only as their SHA-256. A slow password hash buys
 * nothing for a secret with this much entropy, and SHA-256 keeps the check cheap on every
 * request and reconnect.
 */
public final class Secrets {
    /** Every agent token starts with this. */
    public static final String AGENT_TOKEN_PREFIX = "upa_";
    /** Every API key starts with this. */
    public static final String API_KEY_PREFIX = "upk_";
    /** Every one-time agent enrollment token starts with this. */
    public static final String ENROLLMENT_TOKEN_PREFIX = "upe_";
    /** A web console session's secret, kept by the browser in an HttpOnly cookie. */
    public static final String CONSOLE_SESSION_PREFIX = "ucs_";
    /** How much of a secret lists show, enough to recognise it and useless to an attacker. */
    public static final int SHOWN_PREFIX_LENGTH = 12;

    private static final SecureRandom RANDOM = new SecureRandom();

    private Secrets() {}

    public static String agentToken() {
        return AGENT_TOKEN_PREFIX + random(32);
    }

    public static String enrollmentToken() {
        return ENROLLMENT_TOKEN_PREFIX + random(32);
    }

    public static String apiKey() {
        return API_KEY_PREFIX + random(32);
    }

    public static String consoleSession() {
        return CONSOLE_SESSION_PREFIX + random(32);
    }

    /** A token that only needs to be unguessable, such as a console session's CSRF token. */
    public static String token() {
        return random(32);
    }

    /** {@code prefix} followed by {@code hexChars} random hex digits: public ids such as {@code ep-...}. */
    public static String id(String prefix, int hexChars) {
        byte[] bytes = new byte[(hexChars + 1) / 2];
        RANDOM.nextBytes(bytes);
        return prefix + HexFormat.of().formatHex(bytes).substring(0, hexChars);
    }

    private static String random(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    public static String shownPrefix(String secret) {
        return secret.substring(0, Math.min(SHOWN_PREFIX_LENGTH, secret.length()));
    }

    public static String sha256Hex(String secret) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    }
}
