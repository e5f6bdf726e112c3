package io.github.so4j.curvature.kfac;

import ai.djl.ndarray.NDArray;

/**
 * One batch's contribution to a layer's Kronecker factors, before it is averaged into them.
 *
 * @param input the input-side statistic \( \hat A \), p x p (the homogeneous bias coordinate last)
 * @param output the output-side statistic \( \hat G \), q x q
 */
public record FactorStatistics(NDArray input, NDArray output) {

    /**
     * Returns a probe of both statistics for {@link FiniteProbe#resolve}.
     *
     * @return a float32 scalar, 0 when both are finite and NaN otherwise, owned by {@code input}'s
     *     manager
     */
    public NDArray finiteProbe() {
        return FiniteProbe.of(input).add(FiniteProbe.of(output));
    }
}
