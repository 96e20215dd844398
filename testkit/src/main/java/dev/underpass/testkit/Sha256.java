package dev.underpass.testkit;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** SHA-256 without checked exceptions. */
public final class Sha256 {
    private final MessageDigest digest;

    public Sha256() {
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public void update(byte[] b, int off, int len) {
        digest.update(b, off, len);
    }

    public String hex() {
        return HexFormat.of().formatHex(digest.digest());
    }
}
