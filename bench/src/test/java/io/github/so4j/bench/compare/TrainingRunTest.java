package io.github.so4j.bench.compare;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.so4j.optimizers.OptimizerHealth;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TrainingRunTest {

    private static OptimizerHealth health(long reads, long stepsWithReads) {
        return new OptimizerHealth(
                10,
                0,
                0,
                0,
                0,
                "",
                new OptimizerHealth.HostReadCount(reads, stepsWithReads),
                Map.of());
    }

    @Test
    void timedHostReadsLeaveOutTheReadsOfTheHealthCalls() {
        // before the window: 3 reads so far (its own included), 2 of the warm-up steps read;
        // after: 10 reads, 5 steps with reads; the second health() call read once more
        OptimizerHealth.HostReadCount before = new OptimizerHealth.HostReadCount(3, 2);
        OptimizerHealth.HostReadCount timed =
                TrainingRun.timedHostReads(before, health(10, 5), health(11, 5));
        assertEquals(new OptimizerHealth.HostReadCount(6, 3), timed);
    }

    @Test
    void noReadInTheWindowGivesZero() {
        OptimizerHealth.HostReadCount before = new OptimizerHealth.HostReadCount(4, 1);
        assertEquals(
                new OptimizerHealth.HostReadCount(0, 0),
                TrainingRun.timedHostReads(before, health(5, 1), health(6, 1)));
    }

    @Test
    void aWindowFromTheFirstStepStartsFromZero() {
        assertEquals(
                new OptimizerHealth.HostReadCount(2, 2),
                TrainingRun.timedHostReads(
                        new OptimizerHealth.HostReadCount(0, 0), health(3, 2), health(4, 2)));
    }
}
