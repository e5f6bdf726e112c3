package io.github.so4j.curvature.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;

/**
 * Global magnitude pruning: removes the remaining weights of smallest absolute value, across all
 * prunable parameters at once, and leaves the others unchanged. The baseline of the M-FAC paper's
 * pruning experiments.
 *
 * <p><b>Cost</b>: one sort of the d remaining magnitudes.
 */
public final class MagnitudePruner implements Pruner {

    /** {@inheritDoc} */
    @Override
    public void prune(PrunableWeights weights, double sparsity) {
        long drop = Pruner.toRemove(weights, sparsity);
        if (drop == 0) {
            return;
        }
        try (NDManager scope = weights.mask().getManager().newSubManager()) {
            NDArray present = weights.mask().nonzero().reshape(-1);
            present.attach(scope);
            NDArray values = weights.values(scope);
            NDArray remaining = values.get(new NDIndex("{}", present));
            NDArray order = remaining.abs().argSort();
            NDArray dropped = present.get(new NDIndex("{}", order.get(new NDIndex("0:{}", drop))));
            weights.remove(dropped);
            weights.write(values);
        }
    }
}
