package dev.underpass.telemetry;

import ch.qos.logback.classic.pattern.ThrowableProxyConverter;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.StackTraceElementProxy;

/**
 * The Logback conversion word {@code %maskedEx}: a stack trace as {@code %ex} writes it, with the
 * message of every exception in it (causes and suppressed ones included) masked and its control
 * characters escaped, as {@link MaskingConverter} does for the message. Messages often carry
 * input (a header, a host name, a path); the trace's own line breaks stay, and since no message
 * can add one, every line of a trace still begins with a tab, "Caused by" or "Suppressed".
 */
public final class MaskingThrowableConverter extends ThrowableProxyConverter {
    @Override
    protected String throwableProxyToString(IThrowableProxy tp) {
        return super.throwableProxyToString(new Masked(tp));
    }

    private static String clean(String message) {
        return message == null ? null : ControlCharacters.escape(SecretMasker.mask(message));
    }

    /** The same throwable, with cleaned messages all the way down. */
    private record Masked(IThrowableProxy tp) implements IThrowableProxy {
        private static IThrowableProxy of(IThrowableProxy tp) {
            return tp == null ? null : new Masked(tp);
        }

        @Override
        public String getOverridingMessage() {
            return clean(tp.getOverridingMessage());
        }

        @Override
        public String getMessage() {
            return clean(tp.getMessage());
        }

        @Override
        public String getClassName() {
            return tp.getClassName();
        }

        @Override
        public StackTraceElementProxy[] getStackTraceElementProxyArray() {
            return tp.getStackTraceElementProxyArray();
        }

        @Override
        public int getCommonFrames() {
            return tp.getCommonFrames();
        }

        @Override
        public IThrowableProxy getCause() {
            return of(tp.getCause());
        }

        @Override
        public IThrowableProxy[] getSuppressed() {
            IThrowableProxy[] s = tp.getSuppressed();
            if (s == null) {
                return null;
            }
            IThrowableProxy[] out = new IThrowableProxy[s.length];
            for (int i = 0; i < s.length; i++) {
                out[i] = of(s[i]);
            }
            return out;
        }

        @Override
        public boolean isCyclic() {
            return tp.isCyclic();
        }
    }
}
