package io.github.so4j.curvature.linalg;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.HostReads;
import java.util.Arrays;
import org.apache.commons.math3.exception.MathIllegalStateException;
import org.apache.commons.math3.exception.MathRuntimeException;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealMatrix;

/**
 * Inverse p-th roots on the host, from a symmetric eigendecomposition in float64 (Commons Math):
 * for small matrices, where a device iteration costs more in per-operation overhead than the host's
 * O(n<sup>3</sup>) work, and as the fall-back when the coupled Newton iteration fails.
 *
 * <p>For \( A = Q \operatorname{diag}(\lambda) Q^\top \) (symmetrized first: \( (A + A^\top) / 2
 * \)):
 *
 * <p>\( \epsilon = \epsilon_{rel} \lambda_{\max} \) (\( \epsilon_{rel} \) for a matrix without a
 * positive eigenvalue)<br>
 * \( X = Q \operatorname{diag}((\max(\lambda_i, 0) + \epsilon)^{-1/p}) Q^\top \)
 *
 * <p>Eigenvalues below zero, which a positive semi-definite matrix has only through rounding (a
 * statistic with an exact null vector, such as the output layer's \( \sum G G^\top \) under softmax
 * cross-entropy, computes it as \( \pm u \lambda_{\max} \)), are raised to zero before the ridge is
 * added, as Meta's Shampoo perturbs them: the method roots the nearest positive semi-definite
 * matrix \( \hat A = Q \operatorname{diag}(\max(\lambda, 0)) Q^\top \), and the root is finite for
 * any finite input. The residual reported is that of \( \hat A \), evaluated on the eigenvalues, \(
 * \sqrt{\frac{1}{n} \sum_i (\mu_i^p (\max(\lambda_i, 0) + \epsilon) - 1)^2} \) with \( \mu_i \) the
 * root's eigenvalues: rounding-level for a successful decomposition (it does not include the
 * decomposition's own backward error, about \( n \cdot 10^{-16} \)), NaN for a matrix with a
 * non-finite entry or one the decomposition fails on, whose root is NaN too.
 *
 * <p><b>Cost</b>: about 9n<sup>3</sup> flops per matrix in Java (tridiagonalization, implicit QL
 * with eigenvectors, and the product), plus copying the batch to the host (one counted read, {@link
 * HostReads}) and back.
 */
public final class EigenInverseRoot implements InverseRootMethod {

    /** Creates the method. */
    public EigenInverseRoot() {}

    /** {@inheritDoc} */
    @Override
    public InverseRoots compute(NDArray matrices, int p, double relativeEpsilon, NDManager owner) {
        InverseRootMethod.checkArguments(matrices, p, relativeEpsilon);
        Shape shape = matrices.getShape();
        int batch = Math.toIntExact(shape.get(0));
        int n = Math.toIntExact(shape.get(1));
        double[] flat = HostReads.toDoubles(matrices);
        double[] roots = new double[flat.length];
        double[] epsilons = new double[batch];
        double[] residuals = new double[batch];
        for (int b = 0; b < batch; b++) {
            double[][] a = new double[n][n];
            int offset = b * n * n;
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    a[i][j] = flat[offset + i * n + j];
                }
            }
            Root root = of(new Array2DRowRealMatrix(a, false), p, relativeEpsilon);
            epsilons[b] = root.epsilon();
            residuals[b] = root.residual();
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    roots[offset + i * n + j] = root.root().getEntry(i, j);
                }
            }
        }
        NDArray result =
                owner.create(roots, shape)
                        .toType(matrices.getDataType(), false)
                        .toDevice(matrices.getDevice(), false);
        return new InverseRoots(result, epsilons, residuals, 0);
    }

    /**
     * One inverse root in float64.
     *
     * @param root \( X = (\hat A + \epsilon I)^{-1/p} \), \( \hat A \) being A with negative
     *     eigenvalues raised to zero
     * @param epsilon \( \epsilon \), the ridge used
     * @param residual the residual of \( \hat A \), evaluated on the eigenvalues (see the class
     *     documentation)
     */
    public record Root(RealMatrix root, double epsilon, double residual) {}

    /**
     * Computes one inverse root in float64.
     *
     * @param a A, symmetric up to rounding (it is symmetrized). Not modified.
     * @param p the root, at least 1
     * @param relativeEpsilon \( \epsilon_{rel} \)
     * @return the root, the ridge and the residual; NaN entries if A is not finite or the
     *     decomposition fails
     */
    public static Root of(RealMatrix a, int p, double relativeEpsilon) {
        int n = a.getRowDimension();
        RealMatrix symmetric = a.add(a.transpose()).scalarMultiply(0.5);
        double[] lambda;
        RealMatrix q;
        try {
            if (!finite(symmetric)) {
                return failed(n);
            }
            EigenDecomposition eigen = new EigenDecomposition(symmetric);
            lambda = eigen.getRealEigenvalues();
            q = eigen.getV();
        } catch (MathRuntimeException | MathIllegalStateException e) {
            return failed(n);
        }
        double top = 0;
        for (double l : lambda) {
            top = Math.max(top, l);
        }
        double epsilon = relativeEpsilon * (top > 0 ? top : 1);
        double[] mu = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            mu[i] = Math.pow(Math.max(lambda[i], 0) + epsilon, -1.0 / p);
            double error = Math.pow(mu[i], p) * (Math.max(lambda[i], 0) + epsilon) - 1;
            sum += error * error;
        }
        double[][] v = q.getData();
        double[][] x = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = i; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) {
                    s += v[i][k] * mu[k] * v[j][k];
                }
                x[i][j] = s;
                x[j][i] = s;
            }
        }
        double residual = Math.sqrt(sum / n);
        return new Root(new Array2DRowRealMatrix(x, false), epsilon, residual);
    }

    private static boolean finite(RealMatrix a) {
        for (int i = 0; i < a.getRowDimension(); i++) {
            for (int j = 0; j < a.getColumnDimension(); j++) {
                if (!Double.isFinite(a.getEntry(i, j))) {
                    return false;
                }
            }
        }
        return true;
    }

    private static Root failed(int n) {
        double[][] nan = new double[n][n];
        for (double[] row : nan) {
            Arrays.fill(row, Double.NaN);
        }
        return new Root(new Array2DRowRealMatrix(nan, false), Double.NaN, Double.NaN);
    }
}
