package io.github.so4j.bench.tune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CriterionTest {

    /** A one-seed point: final loss, steps and seconds to target (-1 / NaN: not reached). */
    private static Score point(
            String lr, double loss, int steps, double seconds, boolean diverged) {
        return new Score(
                "adam", Map.of("lr", lr), List.of(trial(lr, 0, loss, steps, seconds, diverged)));
    }

    private static Trial trial(
            String lr, long seed, double loss, int steps, double seconds, boolean diverged) {
        // a full budget of 1000 steps, target 0.45
        return new Trial(
                "adam", Map.of("lr", lr), seed, 1000, 2.3, loss, steps, seconds, 1, diverged, 0.45);
    }

    @Test
    void fewerStepsToTheTargetWinsOverALowerFinalLoss() {
        Score slowButLow = point("0.001", 0.30, 200, 1.0, false);
        Score fast = point("0.002", 0.35, 120, 2.0, false);
        assertSame(fast, Criterion.STEPS.best(List.of(slowButLow, fast)));
        // measured in seconds the first is faster
        assertSame(slowButLow, Criterion.SECONDS.best(List.of(slowButLow, fast)));
    }

    @Test
    void reachingTheTargetBeatsNotReachingItAndOtherwiseTheFinalLossDecides() {
        Score reached = point("0.001", 0.44, 450, 3.0, false);
        Score lowerButNotReached = point("0.002", 0.30, -1, Double.NaN, false);
        assertSame(reached, Criterion.STEPS.best(List.of(lowerButNotReached, reached)));
        Score worse = point("0.004", 0.60, -1, Double.NaN, false);
        assertSame(lowerButNotReached, Criterion.STEPS.best(List.of(worse, lowerButNotReached)));
    }

    @Test
    void aDivergedPointLosesEvenToAPointFarFromTheTarget() {
        // a run that reached the target early and then blew up
        Score diverged = point("0.1", Double.NaN, 20, 0.1, true);
        Score poor = point("0.0001", 2.0, -1, Double.NaN, false);
        assertSame(poor, Criterion.STEPS.best(List.of(diverged, poor)));
        assertTrue(Criterion.STEPS.order().compare(poor, diverged) < 0);
    }

    @Test
    void aPointThatReachesTheTargetAndEndsAboveItCountsAsNotReached() {
        Score fastThenClimbs = point("0.04", 0.64, 106, 0.5, false);
        Score steady = point("0.01", 0.36, 149, 0.8, false);
        assertTrue(fastThenClimbs.lostTarget());
        assertTrue(!fastThenClimbs.reached() && steady.reached());
        assertSame(steady, Criterion.STEPS.best(List.of(fastThenClimbs, steady)));
        // against points that never reached the target, the final loss decides
        Score neverButLow = point("0.001", 0.50, -1, Double.NaN, false);
        assertSame(neverButLow, Criterion.STEPS.best(List.of(fastThenClimbs, neverButLow)));
        // a run stopped at the target has not lost it, whatever its loss over the whole set
        Trial stopped =
                new Trial("adam", Map.of("lr", "1"), 0, 106, 2.3, 0.5, 106, 0.5, 1, false, 0.45);
        assertTrue(stopped.reached() && !stopped.lostTarget());
    }

    @Test
    void tiesGoToTheLowerFinalLossThenToTheFirstPoint() {
        Score a = point("0.001", 0.36, 150, 1.0, false);
        Score b = point("0.002", 0.35, 150, 1.0, false);
        assertSame(b, Criterion.STEPS.best(List.of(a, b)));
        Score c = point("0.004", 0.35, 150, 1.0, false);
        // b and c are equal: the first listed, the smaller learning rate, is kept
        assertSame(b, Criterion.STEPS.best(List.of(b, c)));
        assertSame(c, Criterion.STEPS.best(List.of(c, b)));
    }

    @Test
    void seedsAreAveragedAndOneDivergedSeedSinksThePoint() {
        Score twoSeeds =
                new Score(
                        "adam",
                        Map.of("lr", "0.001"),
                        List.of(
                                trial("0.001", 0, 0.30, 100, 1.0, false),
                                trial("0.001", 1, 0.40, 200, 3.0, false)));
        assertEquals(150, twoSeeds.meanStepsToTarget(), 0);
        assertEquals(2.0, twoSeeds.meanSecondsToTarget(), 0);
        assertEquals(0.35, twoSeeds.meanFinalLoss(), 1e-15);
        Score oneMissed =
                new Score(
                        "adam",
                        Map.of("lr", "0.002"),
                        List.of(
                                trial("0.002", 0, 0.30, 50, 1.0, false),
                                trial("0.002", 1, 0.50, -1, Double.NaN, false)));
        assertTrue(Double.isNaN(oneMissed.meanStepsToTarget()));
        assertSame(twoSeeds, Criterion.STEPS.best(List.of(oneMissed, twoSeeds)));
        Score oneDiverged =
                new Score(
                        "adam",
                        Map.of("lr", "0.004"),
                        List.of(
                                trial("0.004", 0, 0.20, 10, 0.1, false),
                                trial("0.004", 1, Double.NaN, -1, Double.NaN, true)));
        assertSame(oneMissed, Criterion.STEPS.best(List.of(oneDiverged, oneMissed)));
    }
}
