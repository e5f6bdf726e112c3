package io.github.so4j.bench.compare;

import io.github.so4j.optimizers.OptimizerHealth;
import java.util.List;
import java.util.Map;

/**
 * What one training run measured.
 *
 * @param workload the workload's name
 * @param optimizer the optimizer's name
 * @param settings the optimizer's effective settings, {@code key=value} joined by commas
 * @param steps the number of optimizer steps taken
 * @param batchSize the batch size
 * @param seed the seed of initialization and shuffling
 * @param finalTrainLoss the mean loss over the whole training set after training
 * @param testLoss the mean loss over the test set after training
 * @param testAccuracy the fraction of test examples classified correctly, in [0, 1], or NaN for a
 *     workload that does not classify
 * @param msPerStep the mean wall time of a step (forward, backward, update) after warm-up
 * @param trainSeconds the total wall time of all steps
 * @param peakRssMb the peak resident set size of the process during the run, in MiB
 * @param targetLoss the training loss whose first crossing is reported
 * @param stepsToTarget the first step at which the mean loss of the last 20 batches was at most the
 *     target, or -1 if it never was (a window holding a non-finite loss never counts; see {@link
 *     TargetCrossing})
 * @param secondsToTarget the training time up to that step, or NaN
 * @param health the optimizer's health counters (so4j optimizers), or an empty map
 * @param hostReads the device-to-host reads an so4j optimizer made during the timed steps (the
 *     steps after the run's warm-up steps, those {@code msPerStep} averages), the reads of the
 *     harness's own {@code health()} calls left out; null for optimizers that do not count their
 *     reads (DJL's)
 * @param stateBytes the bytes of optimizer state held after the last step (moments, momentum
 *     buffers, windows, factors, inverses, bases; see {@link
 *     io.github.so4j.bench.optimizer.OptimizerStateBytes}), or -1 when the harness does not know
 *     the optimizer's state
 * @param curve the loss after every step
 * @param evaluations the test-set evaluations made during training
 */
public record RunResult(
        String workload,
        String optimizer,
        String settings,
        int steps,
        int batchSize,
        long seed,
        double finalTrainLoss,
        double testLoss,
        double testAccuracy,
        double msPerStep,
        double trainSeconds,
        double peakRssMb,
        double targetLoss,
        int stepsToTarget,
        double secondsToTarget,
        Map<String, Object> health,
        OptimizerHealth.HostReadCount hostReads,
        long stateBytes,
        List<StepRecord> curve,
        List<EvaluationRecord> evaluations) {

    /**
     * Returns whether the run diverged: a batch loss was NaN or infinite, or the final training
     * loss is not finite or above the initial loss (the first batch's, before any update).
     *
     * @return true if the run diverged
     */
    public boolean diverged() {
        return divergence() != null;
    }

    /**
     * Says why the run diverged.
     *
     * @return e.g. {@code "batch loss Infinity at step 12"} or {@code "final training loss 3.1
     *     above the initial 2.3"}, or null if it did not diverge
     */
    public String divergence() {
        for (StepRecord r : curve) {
            if (!Double.isFinite(r.trainLoss())) {
                return "batch loss " + r.trainLoss() + " at step " + r.step();
            }
        }
        if (!Double.isFinite(finalTrainLoss)) {
            return "final training loss " + finalTrainLoss;
        }
        if (!curve.isEmpty() && finalTrainLoss > curve.get(0).trainLoss()) {
            return String.format(
                    java.util.Locale.ROOT,
                    "final training loss %.4g above the initial %.4g",
                    finalTrainLoss,
                    curve.get(0).trainLoss());
        }
        return null;
    }

    /**
     * One optimizer step.
     *
     * @param step the step number, from 1
     * @param seconds the wall time of all steps so far
     * @param trainLoss the loss on this step's batch, before the update
     * @param learningRate the learning rate used
     */
    public record StepRecord(int step, double seconds, double trainLoss, double learningRate) {}

    /**
     * One evaluation on the test set during training (its time is not counted as training).
     *
     * @param step the number of steps taken before it
     * @param seconds the training time before it
     * @param testLoss the mean test loss
     * @param testAccuracy the test accuracy, or NaN
     */
    public record EvaluationRecord(
            int step, double seconds, double testLoss, double testAccuracy) {}
}
