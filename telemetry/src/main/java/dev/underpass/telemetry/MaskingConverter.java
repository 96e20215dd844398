package dev.underpass.telemetry;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.pattern.CompositeConverter;

/**
 * The Logback conversion word {@code %mask(...)}: writes what its sub-pattern writes with every
 * secret that {@link SecretMasker} recognises masked. Registered in a configuration with
 * {@code <conversionRule conversionWord="mask" class="dev.underpass.telemetry.MaskingConverter"/>}
 * and wrapped around the message and the exception, {@code %mask(%msg%n%ex)}, so that arguments,
 * exception messages and causes are masked too; a pattern that has an {@code %ex} inside
 * {@code %mask} gets no second, unmasked stack trace appended by Logback.
 */
public final class MaskingConverter extends CompositeConverter<ILoggingEvent> {
    @Override
    protected String transform(ILoggingEvent event, String in) {
        return SecretMasker.mask(in);
    }
}
