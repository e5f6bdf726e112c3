package io.github.so4j.curvature;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.Test;

/** Counts on the device that stay readable after their model's arrays were freed. */
class DeviceCountersTest {

    @Test
    void countsSurviveTheirLifetimeManagerAndEveryReadIsCounted() {
        try (NDManager root = NDManager.newBaseManager()) {
            NDManager model = root.newSubManager();
            DeviceCounters counters = new DeviceCounters(model, new long[] {1, 2});
            counters.replace(counters.array().add(root.create(new long[] {3, 4})));
            long before = HostReads.count();
            assertArrayEquals(new long[] {4, 6}, counters.read());
            assertEquals(1, HostReads.count() - before);
            counters.replace(counters.array().add(root.create(new long[] {1, 1})));
            model.close();
            // closing the model read the counts once, as they were then
            assertEquals(2, HostReads.count() - before);
            assertFalse(counters.isOpen());
            assertArrayEquals(new long[] {5, 7}, counters.read());
            assertEquals(2, HostReads.count() - before);
            assertThrows(IllegalStateException.class, counters::array);
        }
    }

    @Test
    void closingFreesWithoutAReadAndUntiesFromTheLifetime() {
        try (NDManager root = NDManager.newBaseManager()) {
            NDManager model = root.newSubManager();
            DeviceCounters counters = new DeviceCounters(model, 3);
            long before = HostReads.count();
            counters.close();
            model.close();
            assertEquals(0, HostReads.count() - before);
            assertArrayEquals(new long[] {0, 0, 0}, counters.read());
        }
    }
}
