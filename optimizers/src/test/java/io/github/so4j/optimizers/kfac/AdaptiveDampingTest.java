package io.github.so4j.optimizers.kfac;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The Levenberg-Marquardt rule against a plain-Java reference of kfac-jax's update. */
class AdaptiveDampingTest {

    /**
     * kfac-jax's {@code _compute_new_damping_and_rho}, written out: NaN counts as -100, below 0.25
     * divide by decay^T, above 0.75 multiply, then clip.
     */
    private static double reference(double lambda, double rho, int interval, double decay) {
        double r = Double.isNaN(rho) ? -100 : rho;
        double factor = Math.pow(decay, interval);
        double next = lambda;
        if (r < 0.25) {
            next = lambda / factor;
        } else if (r > 0.75) {
            next = lambda * factor;
        }
        return Math.min(1000, Math.max(1e-5, next));
    }

    @Test
    void sequenceFollowsTheReferenceRule() {
        AdaptiveDamping rule = new AdaptiveDamping(150, 1e-5, 1000, 5, 0.95);
        Random random = new Random(7);
        double lambda = 150;
        for (int i = 0; i < 400; i++) {
            double rho =
                    switch (i % 7) {
                        case 0 -> Double.NaN;
                        case 1 -> 0.25; // on the threshold: unchanged
                        case 2 -> 0.75; // on the threshold: unchanged
                        default -> random.nextDouble() * 2 - 0.5;
                    };
            lambda = reference(lambda, rho, 5, 0.95);
            // the same operations in the same order: equal to the last bit
            assertEquals(lambda, rule.adapt(rho), 0.0, "adaptation " + i);
        }
    }

    @Test
    void oneAdaptationMovesByDecayToTheInterval() {
        AdaptiveDamping rule = new AdaptiveDamping(150, 1e-5, 1000, 5, 0.95);
        assertEquals(150 / Math.pow(0.95, 5), rule.adapt(0.1), 1e-12);
        assertEquals(150, rule.adapt(0.9), 1e-12);
        assertEquals(150, rule.adapt(0.5), 0.0);
        assertEquals(150 * 0.95 * 0.95 * 0.95 * 0.95 * 0.95, rule.adapt(1.0), 1e-12);
    }

    @Test
    void boundsClip() {
        AdaptiveDamping high = new AdaptiveDamping(999, 1e-5, 1000, 5, 0.95);
        assertEquals(1000, high.adapt(-1), 0.0);
        assertEquals(1000, high.adapt(Double.NaN), 0.0);
        AdaptiveDamping low = new AdaptiveDamping(1.1e-5, 1e-5, 1000, 5, 0.95);
        assertEquals(1e-5, low.adapt(1), 0.0);
    }

    @Test
    void adaptsAtStepsOneSixEleven() {
        AdaptiveDamping rule = new AdaptiveDamping(1, 1e-5, 1000, 5, 0.95);
        for (long t = 1; t <= 20; t++) {
            assertEquals(t == 1 || t == 6 || t == 11 || t == 16, rule.adapts(t), "t = " + t);
        }
        assertTrue(new AdaptiveDamping(1, 1e-5, 1000, 1, 0.95).adapts(2));
    }

    @Test
    void reductionRatioIsNanWhenNotFinite() {
        assertEquals(0.5, AdaptiveDamping.reductionRatio(-1, -2), 0.0);
        assertTrue(Double.isNaN(AdaptiveDamping.reductionRatio(-1, 0)));
        assertTrue(Double.isNaN(AdaptiveDamping.reductionRatio(Double.NaN, -1)));
        assertFalse(Double.isNaN(AdaptiveDamping.reductionRatio(1, -1)));
    }

    @Test
    void badSettingsAreNamed() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new AdaptiveDamping(150, 0, 1000, 5, 0.95));
        assertTrue(e.getMessage().contains("dampingBounds"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new AdaptiveDamping(2000, 1e-5, 1000, 5, 0.95));
        assertTrue(e.getMessage().contains("2000"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new AdaptiveDamping(150, 1e-5, 1000, 0, 0.95));
        assertTrue(e.getMessage().contains("dampingAdaptationInterval"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new AdaptiveDamping(150, 1e-5, 1000, 5, 1.0));
        assertTrue(e.getMessage().contains("dampingAdaptationDecay"), e.getMessage());
    }
}
