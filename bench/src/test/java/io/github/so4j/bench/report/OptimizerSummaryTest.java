package io.github.so4j.bench.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.so4j.bench.compare.RunResult;
import java.util.List;
import org.apache.commons.math3.stat.descriptive.DescriptiveStatistics;
import org.junit.jupiter.api.Test;

class OptimizerSummaryTest {

    /**
     * Against Commons Math's DescriptiveStatistics (sample standard deviation, n - 1). Both compute
     * in float64 from the same five values of order 1; the two-pass formulas differ only in the
     * order of roundings, a few ulps, so 1e-14 relative is ample and still fails for any formula
     * error (n instead of n - 1 changes the result by 12%).
     */
    @Test
    void statsMatchCommonsMath() {
        double[] values = {0.3724, 0.4316, 0.3887, 0.3901, 0.4012};
        OptimizerSummary.Stats stats = OptimizerSummary.Stats.of(values);
        DescriptiveStatistics oracle = new DescriptiveStatistics(values);
        assertEquals(5, stats.count());
        assertEquals(oracle.getMean(), stats.mean(), 1e-14 * oracle.getMean());
        assertEquals(
                oracle.getStandardDeviation(), stats.std(), 1e-14 * oracle.getStandardDeviation());
        assertEquals(oracle.getMin(), stats.min(), 0.0);
        assertEquals(oracle.getMax(), stats.max(), 0.0);
    }

    @Test
    void oneValueHasNoSpreadAndNoneIsNaN() {
        OptimizerSummary.Stats one = OptimizerSummary.Stats.of(new double[] {0.5});
        assertEquals(0.0, one.std(), 0.0);
        assertEquals(0.5, one.min(), 0.0);
        OptimizerSummary.Stats none = OptimizerSummary.Stats.of(new double[0]);
        assertEquals(0, none.count());
        assertTrue(Double.isNaN(none.mean()) && Double.isNaN(none.std()));
    }

    /**
     * Three seeds: two converge (final losses 0.40 and 0.42, reaching 0.45 at different steps), one
     * diverges after reaching the target. Losses and times aggregate the two; step times all three.
     */
    @Test
    void divergedRunsAreLeftOutOfLossesAndTimesToTheTarget() {
        double[] diverging = Runs.falling(60, 2.3, 0.95);
        diverging[50] = Double.POSITIVE_INFINITY;
        List<RunResult> runs =
                List.of(
                        Runs.run("sgd", 0, Runs.falling(60, 2.3, 0.95), 0.40, 0.85),
                        Runs.run("sgd", 1, Runs.falling(60, 2.3, 0.96), 0.42, 0.84),
                        Runs.run("sgd", 2, diverging, Double.NaN, 0.10));
        OptimizerSummary s = OptimizerSummary.of(runs).get(0);
        assertEquals(1, s.divergedRuns());
        assertEquals(2, s.converged(RunResult::finalTrainLoss).count());
        assertEquals(0.41, s.converged(RunResult::finalTrainLoss).mean(), 1e-15);
        assertEquals(3, s.all(RunResult::msPerStep).count());
        assertEquals(2, s.reached().size(), "the diverged seed reached 0.45 before diverging");
        double[] steps = {runs.get(0).stepsToTarget(), runs.get(1).stepsToTarget()};
        assertTrue(steps[0] > 0 && steps[1] > steps[0], "0.96 a step falls slower than 0.95");
        assertEquals((steps[0] + steps[1]) / 2, s.stepsToTarget().mean(), 1e-12);
        assertEquals(steps[0], s.stepsToTarget().min(), 0.0);
        assertEquals(steps[1], s.stepsToTarget().max(), 0.0);
    }
}
