package io.github.so4j.curvature.linalg;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * A way to compute inverse p-th roots \( (A + \epsilon I)^{-1/p} \) of a batch of symmetric
 * positive semi-definite matrices, with a relative ridge: \( \epsilon = \epsilon_{rel}
 * \lambda_{\max}(A) \) (or \( \epsilon_{rel} \) for a zero matrix).
 *
 * <p>Two methods: {@link CoupledNewtonInverseRoot} runs on the device with matrix products only;
 * {@link EigenInverseRoot} copies the matrices to the host and uses an eigendecomposition in
 * float64 (for small matrices, and as the fall-back when the iteration fails).
 */
public sealed interface InverseRootMethod permits CoupledNewtonInverseRoot, EigenInverseRoot {

    /**
     * Computes \( (A_b + \epsilon_b I)^{-1/p} \) for every matrix of a batch.
     *
     * @param matrices \( A_b \), shape (b, n, n), symmetric positive semi-definite up to rounding,
     *     float32 or float64. Not modified.
     * @param p the root, at least 1
     * @param relativeEpsilon \( \epsilon_{rel} \), non-negative and finite
     * @param owner the manager that will own the roots
     * @return the roots, in the dtype and on the device of {@code matrices}, with the ridges used
     *     and the residuals
     * @throws IllegalArgumentException if a shape or a setting is invalid
     */
    InverseRoots compute(NDArray matrices, int p, double relativeEpsilon, NDManager owner);

    /**
     * Checks the arguments shared by every method.
     *
     * @param matrices the batch
     * @param p the root
     * @param relativeEpsilon the relative ridge
     * @throws IllegalArgumentException naming the argument and its value if one is invalid
     */
    static void checkArguments(NDArray matrices, int p, double relativeEpsilon) {
        var shape = matrices.getShape();
        if (shape.dimension() != 3 || shape.get(1) != shape.get(2) || shape.get(1) < 1) {
            throw new IllegalArgumentException(
                    "matrices must have shape (b, n, n), but had " + shape);
        }
        if (!matrices.getDataType().isFloating()) {
            throw new IllegalArgumentException(
                    "matrices must be floating point, but were " + matrices.getDataType());
        }
        if (p < 1) {
            throw new IllegalArgumentException("p must be at least 1, but was " + p);
        }
        if (!(relativeEpsilon >= 0) || Double.isInfinite(relativeEpsilon)) {
            throw new IllegalArgumentException(
                    "relativeEpsilon must be non-negative and finite, but was " + relativeEpsilon);
        }
    }
}
