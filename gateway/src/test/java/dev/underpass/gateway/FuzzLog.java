package dev.underpass.gateway;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.slf4j.LoggerFactory;

/**
 * The gateway's log while a fuzz test runs: what would go to the console (a line per refused
 * request, millions of them) is dropped, except lines that {@code unexpected} picks, which a fuzz
 * test takes with {@link #take()} after each input and fails on, and Netty's errors (leak
 * reports), which go to stderr. Restores the loggers when closed.
 */
public final class FuzzLog implements AutoCloseable {
    private final Map<Logger, Level> levels = new HashMap<>();
    private final Map<Logger, Boolean> additivity = new HashMap<>();
    private final List<String> unexpected = new ArrayList<>();
    private final AppenderBase<ILoggingEvent> appender;

    /**
     * @param level the level the loggers under {@code underpass.gateway} log at meanwhile
     * @param unexpected which of their lines are findings
     */
    public FuzzLog(Level level, Predicate<ILoggingEvent> unexpected) {
        appender = new AppenderBase<>() {
            @Override
            protected void append(ILoggingEvent e) {
                if (e.getLoggerName().startsWith("io.netty")) {
                    // Netty's own errors, such as a ByteBuf leak report (found at some later GC,
                    // so not pinned to an input): shown, to be looked into.
                    System.err.println(
                            "FuzzLog: " + e.getLoggerName() + " " + e.getLevel() + " " + e.getFormattedMessage());
                } else if (unexpected.test(e)) {
                    synchronized (FuzzLog.this.unexpected) {
                        FuzzLog.this.unexpected.add(
                                e.getLoggerName() + " " + e.getLevel() + " " + e.getFormattedMessage()
                                        + (e.getThrowableProxy() == null
                                                ? ""
                                                : " " + e.getThrowableProxy().getClassName() + ": "
                                                        + e.getThrowableProxy().getMessage()));
                    }
                }
            }
        };
        appender.setContext((ch.qos.logback.classic.LoggerContext) LoggerFactory.getILoggerFactory());
        appender.start();
        for (String name : List.of("underpass.gateway", "io.netty")) {
            Logger logger = (Logger) LoggerFactory.getLogger(name);
            levels.put(logger, logger.getLevel());
            additivity.put(logger, logger.isAdditive());
            logger.setLevel(name.equals("io.netty") ? Level.ERROR : level);
            logger.setAdditive(false);
            logger.addAppender(appender);
        }
    }

    /** The unexpected lines since the last call. */
    public List<String> take() {
        synchronized (unexpected) {
            List<String> lines = List.copyOf(unexpected);
            unexpected.clear();
            return lines;
        }
    }

    @Override
    public void close() {
        levels.forEach((logger, level) -> {
            logger.detachAppender(appender);
            logger.setLevel(level);
            logger.setAdditive(additivity.get(logger));
        });
        appender.stop();
    }
}
