package dev.underpass.telemetry;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.pattern.CompositeConverter;

/**
 * The Logback conversion word {@code %mask(...)}: writes what its sub-pattern writes with every
 * secret that {@link SecretMasker} recognises masked and every control character escaped
 * ({@link ControlCharacters}), so that a value from outside can neither leak a secret nor start
 * a forged line. Registered in a configuration with
 * {@code <conversionRule conversionWord="mask" class="dev.underpass.telemetry.MaskingConverter"/>}
 * and wrapped around the message, {@code %mask(%msg){}%n%maskedEx}: the pattern's own line end and
 * the stack trace's lines stay outside it ({@link MaskingThrowableConverter} treats exception
 * messages the same way). The empty {@code {}} ends the composite: without it Logback reads a
 * {@code %} right after its {@code )} as text.
 */
public final class MaskingConverter extends CompositeConverter<ILoggingEvent> {
    @Override
    protected String transform(ILoggingEvent event, String in) {
        return ControlCharacters.escape(SecretMasker.mask(in));
    }
}
