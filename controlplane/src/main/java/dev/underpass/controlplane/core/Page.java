package dev.underpass.controlplane.core;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.function.ToLongFunction;

/**
 * One page of a list, and the token for the next one (absent on the last page). Pages follow the
 * order of creation, so that objects created meanwhile never shift a page under a reader.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Page<T>(List<T> items, String nextPageToken) {
    public static final int DEFAULT_LIMIT = 50;
    public static final int MAX_LIMIT = 500;

    /** Where a page starts and how long it is, from the {@code limit} and {@code pageToken} of a request. */
    public record Request(int limit, long after) {
        public static Request of(Integer limit, String pageToken) {
            int n = limit == null ? DEFAULT_LIMIT : limit;
            if (n < 1 || n > MAX_LIMIT) {
                throw Refused.invalid("limit: " + n + " (expected: 1-" + MAX_LIMIT + ")");
            }
            long after = 0;
            if (pageToken != null && !pageToken.isEmpty()) {
                try {
                    String text = new String(Base64.getUrlDecoder().decode(pageToken), StandardCharsets.UTF_8);
                    if (!text.startsWith("after:")) {
                        throw new IllegalArgumentException(text);
                    }
                    after = Long.parseLong(text.substring(6));
                } catch (IllegalArgumentException e) {
                    throw Refused.invalid("pageToken: " + pageToken
                            + " (expected: the nextPageToken of the previous page, unchanged)");
                }
            }
            return new Request(n, after);
        }

        public static Request first() {
            return new Request(DEFAULT_LIMIT, 0);
        }
    }

    /**
     * A page from {@code rows}, fetched with one row more than the limit so that the presence of
     * a next page is known; {@code seq} gives the order key of a row.
     */
    public static <T> Page<T> of(List<T> rows, Request request, ToLongFunction<T> seq) {
        if (rows.size() <= request.limit()) {
            return new Page<>(List.copyOf(rows), null);
        }
        List<T> items = List.copyOf(rows.subList(0, request.limit()));
        String token = Base64.getUrlEncoder()
                .withoutPadding()
                .encodeToString(("after:" + seq.applyAsLong(items.getLast())).getBytes(StandardCharsets.UTF_8));
        return new Page<>(items, token);
    }

    public <R> Page<R> map(java.util.function.Function<T, R> f) {
        return new Page<>(items.stream().map(f).toList(), nextPageToken);
    }
}
