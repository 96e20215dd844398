package dev.underpass.gateway.observe;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.ref.WeakReference;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class GatewayMetricsTest {
    /** Micrometer holds a gauge's state weakly unless told otherwise: a lambda no one else holds would read NaN. */
    @Test
    void theSessionGaugeStillReadsAfterTheGarbageCollectorRan() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        AtomicInteger sessions = new AtomicInteger(3);
        new GatewayMetrics(registry, sessions::get);
        WeakReference<Object> marker = new WeakReference<>(new Object());
        for (int i = 0; i < 20 && marker.get() != null; i++) { // bounded: until a collection has surely run
            System.gc();
        }
        assertThat(marker.get()).as("a collection ran").isNull();
        assertThat(registry.get(GatewayMetrics.SESSIONS).gauge().value()).isEqualTo(3.0);
    }
}
