package dev.underpass.gateway;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Bytes in the reads they arrive in, from a fuzzer input. Layout (Jazzer's
 * {@link FuzzedDataProvider} takes numbers from the end): the bytes, then the sizes of the first
 * reads as two bytes each (low byte first; the first size last), then one byte with how many
 * sizes there are (0-8); whatever the sizes leave is the last read. docs/fuzzing.md has a script that writes
 * such inputs.
 */
public final class FuzzChunks {
    static final int MAX_SIZES = 8;

    private FuzzChunks() {}

    public static List<byte[]> of(FuzzedDataProvider data) {
        int n = data.consumeInt(0, MAX_SIZES);
        int[] sizes = new int[n];
        for (int i = 0; i < n; i++) {
            sizes[i] = data.consumeInt(1, 65535);
        }
        byte[] bytes = data.consumeRemainingAsBytes();
        List<byte[]> chunks = new ArrayList<>();
        int at = 0;
        for (int size : sizes) {
            if (at >= bytes.length) {
                break;
            }
            int end = Math.min(bytes.length, at + size);
            chunks.add(Arrays.copyOfRange(bytes, at, end));
            at = end;
        }
        if (at < bytes.length) {
            chunks.add(Arrays.copyOfRange(bytes, at, bytes.length));
        }
        return chunks;
    }
}
