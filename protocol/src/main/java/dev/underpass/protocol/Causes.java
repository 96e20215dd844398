package dev.underpass.protocol;

/** Short descriptions of failures for one-line log messages. */
public final class Causes {
    private Causes() {}

    /** The innermost cause as {@code SimpleName: message}: what actually went wrong. */
    public static String root(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c.getMessage() == null
                ? c.getClass().getSimpleName()
                : c.getClass().getSimpleName() + ": " + c.getMessage();
    }
}
