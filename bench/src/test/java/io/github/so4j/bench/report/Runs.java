package io.github.so4j.bench.report;

import io.github.so4j.bench.compare.RunResult;
import io.github.so4j.bench.compare.TargetCrossing;
import io.github.so4j.bench.compare.TrainingRun;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Synthetic runs for the report's tests: a loss curve given step by step, 10 ms a step. */
final class Runs {

    private Runs() {}

    /**
     * A run of the mlp with the given batch losses, final losses and accuracy, target 0.45, three
     * evaluations whose test loss follows the curve.
     */
    static RunResult run(
            String optimizer, long seed, double[] losses, double finalLoss, double accuracy) {
        List<RunResult.StepRecord> curve = new ArrayList<>();
        for (int i = 0; i < losses.length; i++) {
            curve.add(new RunResult.StepRecord(i + 1, 0.01 * (i + 1), losses[i], 0.1));
        }
        List<RunResult.EvaluationRecord> evaluations = new ArrayList<>();
        for (int k = 1; k <= 3; k++) {
            int step = k * losses.length / 3;
            evaluations.add(
                    new RunResult.EvaluationRecord(
                            step, 0.01 * step, losses[step - 1] + 0.05, accuracy));
        }
        TargetCrossing target = TargetCrossing.of(curve, 0.45, TrainingRun.TARGET_WINDOW);
        return new RunResult(
                "mlp",
                optimizer,
                "lr=0.1",
                losses.length,
                128,
                seed,
                finalLoss,
                finalLoss + 0.05,
                accuracy,
                10,
                0.01 * losses.length,
                700,
                0.45,
                target.step(),
                target.seconds(),
                Map.of(),
                null,
                1000,
                curve,
                evaluations);
    }

    /** Losses falling geometrically from {@code start} by {@code factor} a step. */
    static double[] falling(int steps, double start, double factor) {
        double[] losses = new double[steps];
        for (int i = 0; i < steps; i++) {
            losses[i] = start * Math.pow(factor, i);
        }
        return losses;
    }
}
