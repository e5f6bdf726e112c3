package io.github.so4j.optimizers;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A snapshot of what an optimizer did: steps taken and skipped, and why.
 *
 * @param steps the number of optimizer steps begun (taken or skipped)
 * @param skippedSteps the number of steps skipped entirely (no weight and no state changed)
 * @param nonFiniteGradientSteps of the skipped steps, those with a NaN or infinite gradient
 * @param rejectedStatisticsSteps of the skipped steps, those whose curvature statistics were not
 *     finite although the gradients were (for example a squared norm overflowing float32)
 * @param restarts how often the curvature state was restarted because the set or the shapes of the
 *     parameters changed
 * @param lastProblem a description of the most recent problem, or the empty string
 * @param hostReads the device-to-host reads the optimizer made, and on how many steps
 * @param curvature the optimizer's own curvature counters by name (for example failed inversions or
 *     roots, fallbacks taken, the last residual), empty when it has none
 */
public record OptimizerHealth(
        long steps,
        long skippedSteps,
        long nonFiniteGradientSteps,
        long rejectedStatisticsSteps,
        long restarts,
        String lastProblem,
        HostReadCount hostReads,
        Map<String, Object> curvature) {

    /**
     * Device-to-host reads that the optimizer's steps made (see {@code HostReads}): how many, and
     * on how many steps. Reads outside steps (by {@code health()} or a checkpoint) are not counted;
     * checkpoints carry the counts, so a resumed run continues them.
     *
     * @param reads the number of reads
     * @param stepsWithReads the number of steps that made at least one
     */
    public record HostReadCount(long reads, long stepsWithReads) {}

    /**
     * Copies the curvature counters.
     *
     * @param steps the number of steps begun
     * @param skippedSteps the number of steps skipped
     * @param nonFiniteGradientSteps skipped for non-finite gradients
     * @param rejectedStatisticsSteps skipped for non-finite statistics
     * @param restarts restarts of the curvature state
     * @param lastProblem the most recent problem
     * @param hostReads the device-to-host reads
     * @param curvature the curvature counters
     */
    public OptimizerHealth {
        curvature = Collections.unmodifiableMap(new LinkedHashMap<>(curvature));
    }
}
