package io.github.so4j.curvature.linalg;

import ai.djl.ndarray.NDArray;

/**
 * The inverse p-th roots of a batch of symmetric positive semi-definite matrices, with what it took
 * to compute them.
 *
 * @param roots \( X_b \approx (A_b + \epsilon_b I)^{-1/p} \), shape (b, n, n), on the device and in
 *     the dtype of the input
 * @param epsilons \( \epsilon_b \), the absolute ridge actually added to each matrix (the relative
 *     epsilon times the matrix's largest-eigenvalue estimate), so that an oracle can use the same
 * @param residuals each root's residual \( \|X^p (A + \epsilon I) - I\|_F / \sqrt{n} \) as the
 *     method measured it (see the method's documentation); {@code NaN} where the root is not finite
 * @param iterations the number of iterations the method ran (0 for a direct method)
 */
public record InverseRoots(NDArray roots, double[] epsilons, double[] residuals, int iterations) {

    /**
     * Returns whether every root is finite and its residual at most the threshold.
     *
     * @param threshold the largest acceptable residual
     * @return whether all roots are acceptable
     */
    public boolean allWithin(double threshold) {
        for (int b = 0; b < residuals.length; b++) {
            if (!within(b, threshold)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Returns whether root b is finite and its residual at most the threshold.
     *
     * @param b the index of the root in the batch
     * @param threshold the largest acceptable residual
     * @return whether root b is acceptable
     */
    public boolean within(int b, double threshold) {
        return residuals[b] <= threshold;
    }

    /**
     * Returns the largest residual of the batch ({@code NaN} if any is {@code NaN}).
     *
     * @return the largest residual
     */
    public double maxResidual() {
        double max = 0;
        for (double r : residuals) {
            if (Double.isNaN(r)) {
                return Double.NaN;
            }
            max = Math.max(max, r);
        }
        return max;
    }
}
