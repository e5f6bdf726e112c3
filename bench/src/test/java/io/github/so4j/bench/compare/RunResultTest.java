package io.github.so4j.bench.compare;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RunResultTest {

    private static RunResult run(double finalLoss, double... losses) {
        List<RunResult.StepRecord> curve = new ArrayList<>();
        for (int i = 0; i < losses.length; i++) {
            curve.add(new RunResult.StepRecord(i + 1, i + 1, losses[i], 0.1));
        }
        return new RunResult(
                "mlp",
                "sgd",
                "",
                losses.length,
                128,
                0,
                finalLoss,
                finalLoss,
                0.5,
                1,
                1,
                1,
                0.45,
                -1,
                Double.NaN,
                Map.of(),
                null,
                0,
                curve,
                List.of());
    }

    @Test
    void aRunThatEndsBelowItsInitialLossWithFiniteLossesDidNotDiverge() {
        RunResult r = run(0.5, 2.3, 5.0, 1.0);
        assertFalse(r.diverged(), "a spike above the initial loss on the way is not divergence");
        assertNull(r.divergence());
    }

    @Test
    void anInfiniteOrNanBatchLossIsDivergence() {
        assertEquals(
                "batch loss Infinity at step 2",
                run(0.5, 2.3, Double.POSITIVE_INFINITY, 1).divergence());
        assertEquals("batch loss NaN at step 3", run(0.5, 2.3, 1, Double.NaN).divergence());
    }

    @Test
    void aFinalLossThatIsNotFiniteOrAboveTheInitialIsDivergence() {
        assertEquals("final training loss NaN", run(Double.NaN, 2.3, 1).divergence());
        RunResult above = run(2.4, 2.3, 2.35);
        assertTrue(above.diverged());
        assertEquals("final training loss 2.400 above the initial 2.300", above.divergence());
        assertFalse(run(2.3, 2.3, 2.3).diverged(), "equal to the initial loss is not above it");
    }
}
