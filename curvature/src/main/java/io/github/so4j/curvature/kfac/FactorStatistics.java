package io.github.so4j.curvature.kfac;

import ai.djl.ndarray.NDArray;

/**
 * One batch's contribution to a layer's Kronecker factors, before it is averaged into them ({@link
 * KroneckerFactors#stage} also says whether both are finite).
 *
 * @param input the input-side statistic \( \hat A \), p x p (the homogeneous bias coordinate last)
 * @param output the output-side statistic \( \hat G \), q x q
 */
public record FactorStatistics(NDArray input, NDArray output) {}
