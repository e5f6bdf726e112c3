package io.github.so4j.bench.compare;

import java.util.List;

/**
 * When a run first reached a target training loss: the first step at which the mean of the last
 * {@code window} batch losses was at most the target.
 *
 * <p>A window that holds a non-finite loss (NaN or infinite) never counts as reaching the target,
 * and neither does a step before the first full window. Every window is summed afresh, so the cost
 * is O(steps x window) additions on the host (a run's curve is already there).
 *
 * @param step the step at which the target was reached (from 1), or -1 if it never was
 * @param seconds the training time up to and including that step, or NaN if never reached
 */
public record TargetCrossing(int step, double seconds) {

    /** The crossing of a run that never reached its target. */
    public static final TargetCrossing NOT_REACHED = new TargetCrossing(-1, Double.NaN);

    /**
     * Returns whether the target was reached.
     *
     * @return true if {@link #step()} is at least 1
     */
    public boolean reached() {
        return step >= 1;
    }

    /**
     * Finds the first crossing of a target in a loss curve.
     *
     * @param curve the steps, in order from step 1
     * @param target the target loss
     * @param window how many batches the mean is taken over, at least 1
     * @return the crossing, or {@link #NOT_REACHED}
     * @throws IllegalArgumentException if {@code window} is below 1
     */
    public static TargetCrossing of(List<RunResult.StepRecord> curve, double target, int window) {
        if (window < 1) {
            throw new IllegalArgumentException("window must be at least 1, but was " + window);
        }
        for (int last = window - 1; last < curve.size(); last++) {
            // summed afresh for every window: a running sum would keep the rounding error of a
            // huge loss (1e32 from a diverging step) after that loss left the window
            double sum = 0;
            boolean finite = true;
            for (int i = last - window + 1; i <= last; i++) {
                double loss = curve.get(i).trainLoss();
                finite &= Double.isFinite(loss);
                sum += loss;
            }
            if (finite && sum / window <= target) {
                return new TargetCrossing(curve.get(last).step(), curve.get(last).seconds());
            }
        }
        return NOT_REACHED;
    }
}
