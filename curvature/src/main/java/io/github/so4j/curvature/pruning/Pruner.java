package io.github.so4j.curvature.pruning;

/** Removes weights of a model until a sparsity is reached. */
public interface Pruner {

    /**
     * Removes weights until the given fraction of the prunable weights is zero.
     *
     * @param weights the prunable weights; their model arrays and mask are modified
     * @param sparsity the target fraction, in [current sparsity, 1)
     * @throws IllegalArgumentException if the target is below the current sparsity or not below 1
     */
    void prune(PrunableWeights weights, double sparsity);

    /**
     * Returns how many of the remaining weights to remove to reach a sparsity.
     *
     * @param weights the weights
     * @param sparsity the target, checked
     * @return the count, at least 0
     */
    static long toRemove(PrunableWeights weights, double sparsity) {
        double current = weights.sparsity();
        if (!(sparsity >= current - 1e-12) || !(sparsity < 1)) {
            throw new IllegalArgumentException(
                    "sparsity must be in [" + current + ", 1), but was " + sparsity);
        }
        long target = Math.round(sparsity * weights.dimension());
        long removed = Math.round(current * weights.dimension());
        return Math.max(0, target - removed);
    }
}
