package io.github.so4j.curvature.kfac;

/**
 * What a Kronecker-factored block (or a sum of blocks) has done: statistics taken and rejected,
 * preconditioners computed and failed.
 *
 * @param factorUpdates statistics folded into the running factors
 * @param rejectedFactorUpdates statistics rejected because they were not finite (the running
 *     factors were kept)
 * @param refreshes successful computations of the damped inverse
 * @param failedRefreshes failed computations (an exception or a non-finite result); the previous
 *     preconditioner was kept
 * @param inverseFallbacks blocks that use {@link InversionMode#INVERSE} although {@link
 *     InversionMode#EIGEN} was asked for, because a factor exceeds the host eigensolver's limit
 */
public record KroneckerHealth(
        long factorUpdates,
        long rejectedFactorUpdates,
        long refreshes,
        long failedRefreshes,
        long inverseFallbacks) {

    /** No activity. */
    public static final KroneckerHealth NONE = new KroneckerHealth(0, 0, 0, 0, 0);

    /**
     * Returns the entrywise sum of two snapshots.
     *
     * @param other the other snapshot
     * @return the sum
     */
    public KroneckerHealth plus(KroneckerHealth other) {
        return new KroneckerHealth(
                factorUpdates + other.factorUpdates,
                rejectedFactorUpdates + other.rejectedFactorUpdates,
                refreshes + other.refreshes,
                failedRefreshes + other.failedRefreshes,
                inverseFallbacks + other.inverseFallbacks);
    }
}
