package io.github.so4j.curvature.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import io.github.so4j.curvature.mfac.BlockFisher;

/**
 * Optimal Brain Surgeon pruning with M-FAC's blockwise inverse empirical Fisher, as in the M-FAC
 * paper's pruning experiments.
 *
 * <p>Each recomputation step collects m gradients at the current weights, builds the blockwise \(
 * F^{-1} \) over the weights still present ({@link BlockFisher}), removes the set Q of weights with
 * the smallest saliency, and corrects the others by the OBS update, treating the removed weights
 * independently (the reference code's rule):
 *
 * <p>\( \rho_i = \frac{w_i^2}{2 [F^{-1}]_{ii}} \)<br>
 * \( \delta w = - F^{-1} \sum_{q \in Q} \frac{w_q}{[F^{-1}]_{qq}} e_q \), then \( w_q = 0 \) for \(
 * q \in Q \)
 *
 * <p>The sparsity grows over R steps geometrically in the remaining density: step j reaches \( 1 -
 * (1 - s_0) f^j \) with \( f = ((1 - s) / (1 - s_0))^{1/R} \), re-estimating the gradients between
 * steps. Defaults from the reference ({@code main_prun.py}): m = 64 gradients, blocks of B = 128,
 * \( \lambda = 10^{-5} \), R = 16.
 *
 * <p><b>Cost</b> per step: m backward passes, then O(d m<sup>2</sup>) for the blockwise inverse and
 * O(dm) for the diagonal and the correction; memory 2dm for the gradients and the factors.
 *
 * @see <a href="https://arxiv.org/abs/2107.03356">paper</a>
 */
public final class ObsPruner implements Pruner {

    private final GradientSource gradients;
    private final int gradientCount;
    private final int blockSize;
    private final double damping;
    private final int recomputations;

    private ObsPruner(Builder builder) {
        this.gradients = builder.gradients;
        this.gradientCount = builder.gradientCount;
        this.blockSize = builder.blockSize;
        this.damping = builder.damping;
        this.recomputations = builder.recomputations;
    }

    /**
     * Returns a builder.
     *
     * @return a new builder with the reference defaults
     */
    public static Builder builder() {
        return new Builder();
    }

    /** {@inheritDoc} */
    @Override
    public void prune(PrunableWeights weights, double sparsity) {
        Pruner.toRemove(weights, sparsity);
        double start = weights.sparsity();
        double factor = Math.pow((1 - sparsity) / (1 - start), 1.0 / recomputations);
        for (int j = 1; j <= recomputations; j++) {
            double step = j == recomputations ? sparsity : 1 - (1 - start) * Math.pow(factor, j);
            pruneOnce(weights, step);
        }
    }

    private void pruneOnce(PrunableWeights weights, double sparsity) {
        long drop = Pruner.toRemove(weights, sparsity);
        if (drop == 0) {
            return;
        }
        try (NDManager scope = weights.mask().getManager().newSubManager()) {
            NDArray present = weights.mask().nonzero().reshape(-1);
            present.attach(scope);
            NDIndex atPresent = new NDIndex("{}", present);
            NDList rows = new NDList(gradientCount);
            for (int i = 0; i < gradientCount; i++) {
                gradients.backwardNext();
                rows.add(weights.gradients(scope).get(atPresent));
            }
            NDArray values = weights.values(scope);
            NDArray remaining = values.get(atPresent);
            try (BlockFisher fisher =
                    new BlockFisher(scope, NDArrays.stack(rows), blockSize, damping)) {
                NDArray diagonal = fisher.inverseDiagonal(scope);
                NDArray saliency = remaining.square().div(diagonal.mul(2));
                NDArray dropped = saliency.argSort().get(new NDIndex("0:{}", drop));
                NDIndex atDropped = new NDIndex("{}", dropped);
                NDArray removal = scope.zeros(remaining.getShape(), remaining.getDataType());
                removal.set(atDropped, remaining.get(atDropped).div(diagonal.get(atDropped)).neg());
                NDArray corrected = remaining.add(fisher.inverseTimes(removal));
                values.set(atPresent, corrected);
                weights.remove(present.get(atDropped));
                weights.write(values);
            }
        }
    }

    /** Builds an {@link ObsPruner}; the gradient source is required. */
    public static final class Builder {

        private GradientSource gradients;
        private int gradientCount = 64;
        private int blockSize = 128;
        private double damping = 1e-5;
        private int recomputations = 16;

        Builder() {}

        /**
         * Sets where the gradients come from (required).
         *
         * @param gradients the source
         * @return this {@code Builder}
         */
        public Builder setGradientSource(GradientSource gradients) {
            this.gradients = gradients;
            return this;
        }

        /**
         * Sets m, the number of gradients per recomputation.
         *
         * @param gradientCount m, at least 1; default 64
         * @return this {@code Builder}
         */
        public Builder optGradients(int gradientCount) {
            this.gradientCount = gradientCount;
            return this;
        }

        /**
         * Sets B, the block size of the inverse Fisher.
         *
         * @param blockSize B, at least 1; default 128
         * @return this {@code Builder}
         */
        public Builder optBlockSize(int blockSize) {
            this.blockSize = blockSize;
            return this;
        }

        /**
         * Sets \( \lambda \).
         *
         * @param damping \( \lambda \), positive and finite; default 1e-5
         * @return this {@code Builder}
         */
        public Builder optDamping(double damping) {
            this.damping = damping;
            return this;
        }

        /**
         * Sets R, the number of recomputation steps.
         *
         * @param recomputations R, at least 1; default 16
         * @return this {@code Builder}
         */
        public Builder optRecomputations(int recomputations) {
            this.recomputations = recomputations;
            return this;
        }

        /**
         * Builds the pruner.
         *
         * @return the pruner
         * @throws IllegalArgumentException naming the setting and its value if one is invalid
         */
        public ObsPruner build() {
            if (gradients == null) {
                throw new IllegalArgumentException("gradientSource is required");
            }
            if (gradientCount < 1) {
                throw new IllegalArgumentException(
                        "gradients must be at least 1, but was " + gradientCount);
            }
            if (blockSize < 1) {
                throw new IllegalArgumentException(
                        "blockSize must be at least 1, but was " + blockSize);
            }
            if (!(damping > 0) || Double.isInfinite(damping)) {
                throw new IllegalArgumentException(
                        "damping must be positive and finite, but was " + damping);
            }
            if (recomputations < 1) {
                throw new IllegalArgumentException(
                        "recomputations must be at least 1, but was " + recomputations);
            }
            return new ObsPruner(this);
        }
    }
}
