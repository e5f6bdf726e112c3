package io.github.so4j.curvature.linalg;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;

/**
 * How far a matrix is from being an inverse p-th root: the relative residual \( \|X^p (A + \epsilon
 * I) - I\|_F / \|I\|_F \), evaluated in float64 on the device of the arrays.
 *
 * <p>For an exact root the residual is 0; a residual r means that the eigenvalues of \( X^p (A +
 * \epsilon I) \) deviate from 1 by r in root mean square, so that those of X deviate from the exact
 * root's by about r / p relative. The same function serves the tests, the acceptance test of roots
 * computed in float64 and reports.
 *
 * <p>Precision: evaluated in float64, the residual of a float64 root is accurate to about \(
 * \kappa(A + \epsilon I) \cdot 2^{-53} \). A float32 root cannot be judged this way once the
 * condition number is large: rounding X to float32 alone perturbs \( X^p A \) by up to about \( p
 * \kappa \cdot 2^{-24} \) in its off-diagonal terms (0.24 for p = 4 and \( \kappa = 10^6 \)), so
 * float32 roots are judged by the coupled Newton residual instead (see {@link
 * CoupledNewtonInverseRoot}).
 *
 * <p><b>Cost</b>: about \( (\lceil \log_2 p \rceil + \mathrm{popcount}(p)) \) n<sup>3</sup>
 * multiply-adds per matrix in float64, and one counted host read ({@link HostReads}) per call.
 */
public final class InverseRootResidual {

    private InverseRootResidual() {}

    /**
     * Returns the residual of one matrix.
     *
     * @param a A, shape (n, n), symmetric. Not modified.
     * @param root X, shape (n, n). Not modified.
     * @param p the root, at least 1
     * @param epsilon \( \epsilon \), the ridge added to A
     * @return \( \|X^p (A + \epsilon I) - I\|_F / \sqrt{n} \); {@code NaN} if anything is not
     *     finite
     */
    @SuppressWarnings("try") // the workspace only collects the temporaries of the body
    public static double of(NDArray a, NDArray root, int p, double epsilon) {
        Shape shape = a.getShape();
        if (shape.dimension() != 2) {
            throw new IllegalArgumentException("a must have shape (n, n), but had " + shape);
        }
        // borrow each array once: borrowing one twice would hand it to the workspace for good
        try (Workspace ws = new Workspace(a.getManager(), a, root == a ? null : root)) {
            return perMatrix(a.expandDims(0), root.expandDims(0), p, new double[] {epsilon})[0];
        }
    }

    /**
     * Returns the residual of every matrix of a batch.
     *
     * @param a the matrices A, shape (b, n, n), symmetric. Not modified.
     * @param roots the roots X, shape (b, n, n). Not modified.
     * @param p the root, at least 1
     * @param epsilons \( \epsilon_b \), one per matrix
     * @return the b residuals; {@code NaN} where anything is not finite
     */
    public static double[] perMatrix(NDArray a, NDArray roots, int p, double[] epsilons) {
        Shape shape = a.getShape();
        if (shape.dimension() != 3 || shape.get(1) != shape.get(2)) {
            throw new IllegalArgumentException("a must have shape (b, n, n), but had " + shape);
        }
        if (!roots.getShape().equals(shape)) {
            throw new IllegalArgumentException(
                    "roots must have the shape of a, " + shape + ", but had " + roots.getShape());
        }
        if (p < 1) {
            throw new IllegalArgumentException("p must be at least 1, but was " + p);
        }
        if (epsilons.length != shape.get(0)) {
            throw new IllegalArgumentException(
                    "epsilons must have " + shape.get(0) + " entries, but had " + epsilons.length);
        }
        int n = Math.toIntExact(shape.get(1));
        try (Workspace ws = new Workspace(a.getManager(), a, roots == a ? null : roots)) {
            NDManager scope = ws.manager();
            NDArray eye = scope.eye(n, n, 0, DataType.FLOAT64).expandDims(0);
            NDArray ridge = scope.create(epsilons).reshape(-1, 1, 1).mul(eye);
            NDArray shifted = a.toType(DataType.FLOAT64, false).add(ridge);
            NDArray x = roots.toType(DataType.FLOAT64, false);
            NDArray residual = power(x, p).matMul(shifted).sub(eye);
            return HostReads.toDoubles(residual.square().sum(new int[] {1, 2}).div(n).sqrt());
        }
    }

    /** X^p by repeated squaring, batched. */
    static NDArray power(NDArray x, int p) {
        NDArray result = null;
        NDArray square = x;
        int remaining = p;
        while (true) {
            if ((remaining & 1) != 0) {
                result = result == null ? square : result.matMul(square);
            }
            remaining >>= 1;
            if (remaining == 0) {
                return result;
            }
            square = square.matMul(square);
        }
    }
}
