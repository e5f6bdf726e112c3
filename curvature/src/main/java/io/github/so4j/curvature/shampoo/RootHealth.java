package io.github.so4j.curvature.shampoo;

/**
 * What the amortized root computations of one or more Shampoo preconditioners have done: how often
 * they ran, and how often a rung of the failure ladder was needed.
 *
 * <p>Counts are of factor matrices (one block's L or R), except {@code computations}, which counts
 * the root computations installed ({@link ShampooPreconditioner#updateRoots()}, or {@link
 * ShampooPreconditioner#nextRoots} followed by {@link ShampooPreconditioner#commit(
 * ShampooPreconditioner.Roots)}).
 *
 * <p><b>Cost</b>: none on the device; a record of six host values.
 *
 * @param computations the number of amortized root computations
 * @param float64Retries factors whose float32 coupled Newton root was not acceptable and was
 *     recomputed in float64 on the device
 * @param hostFallbacks factors whose device root was not acceptable and was computed by a host
 *     eigendecomposition
 * @param failedRoots factors for which no method gave an acceptable root, so that the previous root
 *     was kept
 * @param consecutiveFailures the current number of computations in a row with a failed factor (the
 *     largest over the preconditioners summarized)
 * @param lastProblem a description of the most recent problem, or the empty string
 */
public record RootHealth(
        long computations,
        long float64Retries,
        long hostFallbacks,
        long failedRoots,
        int consecutiveFailures,
        String lastProblem) {

    /** Nothing done yet. */
    public static final RootHealth EMPTY = new RootHealth(0, 0, 0, 0, 0, "");

    /**
     * Returns the counters as numbers, for checkpoints and reports: computations, float64 retries,
     * host fallbacks, failed roots, consecutive failures.
     *
     * @return the five counters in that order
     */
    public long[] counters() {
        return new long[] {
            computations, float64Retries, hostFallbacks, failedRoots, consecutiveFailures
        };
    }

    /**
     * Rebuilds a summary from {@link #counters()} and the last problem.
     *
     * @param counters the five counters in the order of {@link #counters()}
     * @param lastProblem the most recent problem, or the empty string
     * @return the summary
     * @throws IllegalArgumentException if there are not five counters
     */
    public static RootHealth of(long[] counters, String lastProblem) {
        if (counters.length != 5) {
            throw new IllegalArgumentException(
                    "counters must have 5 entries, but had " + counters.length);
        }
        return new RootHealth(
                counters[0],
                counters[1],
                counters[2],
                counters[3],
                Math.toIntExact(counters[4]),
                lastProblem);
    }

    /**
     * Adds the counters of another summary (the most recent problem is taken from {@code other}
     * when it has one).
     *
     * @param other the other summary
     * @return the combined summary
     */
    public RootHealth plus(RootHealth other) {
        return new RootHealth(
                computations + other.computations,
                float64Retries + other.float64Retries,
                hostFallbacks + other.hostFallbacks,
                failedRoots + other.failedRoots,
                Math.max(consecutiveFailures, other.consecutiveFailures),
                other.lastProblem.isEmpty() ? lastProblem : other.lastProblem);
    }
}
