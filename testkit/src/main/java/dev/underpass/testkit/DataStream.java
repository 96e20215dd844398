package dev.underpass.testkit;

import java.util.SplittableRandom;

/** A reproducible stream of pseudo-random bytes: the same seed gives the same bytes. */
public final class DataStream {
    private final SplittableRandom random;

    public DataStream(long seed) {
        random = new SplittableRandom(seed);
    }

    /** Fills {@code buf[0..n)} with the next bytes of the stream; {@code n} must be a multiple of 8 or the last chunk. */
    public void next(byte[] buf, int n) {
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            long v = random.nextLong();
            buf[i] = (byte) v;
            buf[i + 1] = (byte) (v >>> 8);
            buf[i + 2] = (byte) (v >>> 16);
            buf[i + 3] = (byte) (v >>> 24);
            buf[i + 4] = (byte) (v >>> 32);
            buf[i + 5] = (byte) (v >>> 40);
            buf[i + 6] = (byte) (v >>> 48);
            buf[i + 7] = (byte) (v >>> 56);
        }
        if (i < n) {
            long v = random.nextLong();
            for (; i < n; i++, v >>>= 8) {
                buf[i] = (byte) v;
            }
        }
    }

    /** SHA-256 (hex) of the first {@code length} bytes for {@code seed}, in chunks of {@code chunk}. */
    public static String sha256(long seed, long length, int chunk) {
        DataStream d = new DataStream(seed);
        Sha256 sha = new Sha256();
        byte[] buf = new byte[chunk];
        for (long left = length; left > 0; ) {
            int n = (int) Math.min(chunk, left);
            d.next(buf, n);
            sha.update(buf, 0, n);
            left -= n;
        }
        return sha.hex();
    }
}
