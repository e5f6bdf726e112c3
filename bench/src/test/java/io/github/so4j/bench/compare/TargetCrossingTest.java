package io.github.so4j.bench.compare;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TargetCrossingTest {

    private static List<RunResult.StepRecord> curve(double... losses) {
        List<RunResult.StepRecord> curve = new ArrayList<>();
        for (int i = 0; i < losses.length; i++) {
            curve.add(new RunResult.StepRecord(i + 1, 0.5 * (i + 1), losses[i], 0.1));
        }
        return curve;
    }

    /**
     * The oracle, written the slow way: for every step, the mean of exactly the last {@code window}
     * losses with BigDecimal arithmetic (exact), compared with the target.
     */
    private static int firstCrossing(double[] losses, double target, int window) {
        for (int last = window - 1; last < losses.length; last++) {
            java.math.BigDecimal sum = java.math.BigDecimal.ZERO;
            boolean finite = true;
            for (int i = last - window + 1; i <= last; i++) {
                if (!Double.isFinite(losses[i])) {
                    finite = false;
                    break;
                }
                sum = sum.add(new java.math.BigDecimal(losses[i]));
            }
            if (finite
                    && sum.compareTo(
                                    new java.math.BigDecimal(target)
                                            .multiply(java.math.BigDecimal.valueOf(window)))
                            <= 0) {
                return last + 1;
            }
        }
        return -1;
    }

    @Test
    void theFirstFullWindowWhoseMeanIsAtMostTheTarget() {
        // window 3: means from step 3 on are 2, 1, 0.6667, 0.3333: 0.5 is first reached at step 6
        TargetCrossing t = TargetCrossing.of(curve(3, 2, 1, 0, 1, 0), 0.5, 3);
        assertEquals(6, t.step());
        assertEquals(3.0, t.seconds(), 0.0, "the time of the crossing step, exactly");
        assertTrue(t.reached());
    }

    @Test
    void aLowSingleBatchBeforeTheWindowIsFullDoesNotCount() {
        TargetCrossing t = TargetCrossing.of(curve(0.1, 0.1, 5), 0.5, 4);
        assertEquals(TargetCrossing.NOT_REACHED, t);
        assertFalse(t.reached());
        assertTrue(Double.isNaN(t.seconds()));
    }

    @Test
    void aWindowWithANonFiniteLossNeverCountsButLaterWindowsDo() {
        // NaN at step 2 and -inf at step 4 (which would pull any mean below the target): the
        // first window of width 2 free of them ends at step 6
        TargetCrossing t =
                TargetCrossing.of(
                        curve(0.1, Double.NaN, 0.1, Double.NEGATIVE_INFINITY, 0.1, 0.1), 0.5, 2);
        assertEquals(6, t.step());
    }

    @Test
    void aHugeLossLeavesNoRoundingBehindOnceOutOfTheWindow() {
        // a running sum would keep 1e32's rounding error (about 1e16) after it left the window
        TargetCrossing t = TargetCrossing.of(curve(1e32, 0.4, 0.4), 0.45, 2);
        assertEquals(3, t.step());
    }

    @Test
    void agreesWithTheExactOracleOnRandomCurves() {
        Random random = new Random(7);
        for (int trial = 0; trial < 200; trial++) {
            double[] losses = new double[1 + random.nextInt(60)];
            for (int i = 0; i < losses.length; i++) {
                losses[i] = 2 * Math.exp(-0.05 * i) * (0.5 + random.nextDouble());
                if (random.nextInt(40) == 0) {
                    losses[i] = random.nextBoolean() ? Double.NaN : Double.POSITIVE_INFINITY;
                }
            }
            int window = 1 + random.nextInt(8);
            double target = 0.2 + random.nextDouble();
            int expected = firstCrossing(losses, target, window);
            // equal unless a window's mean lies within rounding of the target; with continuous
            // random losses that has probability about 1e-16 per window
            assertEquals(
                    expected,
                    TargetCrossing.of(curve(losses), target, window).step(),
                    "trial " + trial);
        }
    }

    @Test
    void aWindowBelowOneIsRefused() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> TargetCrossing.of(curve(1), 1, 0));
        assertEquals("window must be at least 1, but was 0", e.getMessage());
    }
}
