package io.github.so4j.curvature.linalg;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import java.util.Arrays;
import java.util.Random;

/**
 * Inverse p-th roots on the device with matrix products only: the coupled Newton iteration of
 * scalable Shampoo, batched over matrices of one size.
 *
 * <p>For each symmetric positive semi-definite \( A \) (n x n) of the batch:
 *
 * <ol>
 *   <li>\( \hat\lambda \): the largest eigenvalue, estimated by {@value #POWER_ITERATIONS} steps of
 *       power iteration from a fixed start vector (the Rayleigh quotient, a lower bound); 1 for a
 *       zero matrix.
 *   <li>The ridge \( \epsilon = \epsilon_{rel} \hat\lambda \) and \( A' = A + \epsilon I \).
 *   <li>With \( z = 1 / (\hat\lambda + \epsilon) \), \( X_0 = z^{1/p} I \), \( M_0 = z A' \),
 *       iterate \( T_k = \frac{(p+1) I - M_k}{p} \), \( X_{k+1} = X_k T_k \), \( M_{k+1} = T_k^p
 *       M_k \).
 * </ol>
 *
 * <p>All iterates are polynomials in \( A' \), so \( M_k = X_k^p A' \) throughout, and \( X_k \to
 * A'^{-1/p} \) as \( M_k \to I \). On an eigenvalue x of \( M \) the step is \( x \mapsto x ((p + 1
 * - x) / p)^p \), which converges for \( x \in (0, p + 1) \): eigenvalues of \( M_0 \) lie in \(
 * (0, 1] \) when \( \hat\lambda \) is exact and stay below p + 1 as long as \( \hat\lambda >
 * \lambda_{\max} / (p + 1) \). Small eigenvalues grow by \( ((p+1)/p)^p \) (2.25 for p = 2, 2.44
 * for p = 4) per step until they are close to 1, after which convergence is quadratic: about 20
 * steps for \( \kappa(A') = 10^6 \) (Higham, Functions of Matrices, 2008, section 7.3; Iannazzo,
 * SIAM J. Matrix Anal. Appl. 28, 2006, for the coupled form and its stability).
 *
 * <p>Stopping test: the residual \( r_k = \|M_k - I\|_F / \sqrt{n} \) (which equals \( \|X_k^p A' -
 * I\|_F / \sqrt n \) up to rounding; summed in float64) is computed after every step, with one host
 * read for the batch (through {@link HostReads}, counted). A matrix is done when \( r_k \le \)
 * tolerance (given for float32, scaled to float64 by the ratio of unit roundoffs), or when \( r_k
 * \) stops decreasing (in exact arithmetic it decreases monotonically, so this means the rounding
 * floor, or divergence if the residual is large), or when it is not finite; the batch stops when
 * every matrix is done or after the maximum number of steps. The residual reported is the last \(
 * r_k \); callers accept a root by comparing it with a threshold.
 *
 * <p><b>Cost</b> per step: \( 2 + \lceil \log_2 p \rceil + \mathrm{popcount}(p) - 1 \) batched n x
 * n products (4 for p = 4, 3 for p = 2), about \( 4 n^3 \) multiply-adds per matrix for p = 4, plus
 * one host read ({@link HostReads}); a computation of k steps makes k + 1 reads (the first also
 * brings the ridges back); memory about 6 b n<sup>2</sup> in the input's dtype.
 *
 * @see <a href="https://arxiv.org/abs/2002.09018">paper</a> (scalable Shampoo)
 */
public final class CoupledNewtonInverseRoot implements InverseRootMethod {

    /** The number of power-iteration steps for the largest-eigenvalue estimate. */
    public static final int POWER_ITERATIONS = 10;

    /**
     * The default maximum number of Newton steps: Meta's distributed Shampoo, {@code
     * CoupledNewtonConfig.max_iterations}.
     */
    public static final int DEFAULT_MAX_ITERATIONS = 100;

    /**
     * The default tolerance on the residual of a float32 computation: Meta's distributed Shampoo,
     * {@code CoupledNewtonConfig.tolerance} (about 17 float32 unit roundoffs).
     */
    public static final double DEFAULT_TOLERANCE = 1e-6;

    /** \( 2^{-53} / 2^{-24} \): scales the tolerance from float32 to float64. */
    private static final double FLOAT64_TO_FLOAT32_ROUNDOFF = 0x1.0p-29;

    private final int maxIterations;
    private final double tolerance;

    /** Creates the method with the default maximum number of steps and tolerance. */
    public CoupledNewtonInverseRoot() {
        this(DEFAULT_MAX_ITERATIONS, DEFAULT_TOLERANCE);
    }

    /**
     * Creates the method.
     *
     * @param maxIterations the maximum number of Newton steps, at least 1; default 100
     * @param tolerance the residual at which a float32 matrix is done, non-negative; default 1e-6.
     *     For float64 it is scaled by the ratio of the unit roundoffs, \( 2^{-29} \), so that both
     *     precisions stop at the same number of units of roundoff
     * @throws IllegalArgumentException naming the parameter and value if one is invalid
     */
    public CoupledNewtonInverseRoot(int maxIterations, double tolerance) {
        if (maxIterations < 1) {
            throw new IllegalArgumentException(
                    "maxIterations must be at least 1, but was " + maxIterations);
        }
        if (!(tolerance >= 0) || Double.isInfinite(tolerance)) {
            throw new IllegalArgumentException(
                    "tolerance must be non-negative and finite, but was " + tolerance);
        }
        this.maxIterations = maxIterations;
        this.tolerance = tolerance;
    }

    /** {@inheritDoc} */
    @Override
    public InverseRoots compute(NDArray matrices, int p, double relativeEpsilon, NDManager owner) {
        InverseRootMethod.checkArguments(matrices, p, relativeEpsilon);
        Shape shape = matrices.getShape();
        int batch = Math.toIntExact(shape.get(0));
        int n = Math.toIntExact(shape.get(1));
        DataType type = matrices.getDataType();
        try (Workspace ws = new Workspace(owner, matrices)) {
            NDManager scope = ws.manager();
            NDArray a = matrices.add(matrices.transpose(0, 2, 1)).muli(0.5);
            NDArray eye = scope.eye(n, n, 0, type).expandDims(0);
            NDArray top = largestEigenvalue(a, scope);
            NDArray scale = NDArrays.where(top.gt(0), top, scope.ones(top.getShape(), type));
            NDArray epsilon = scale.mul(relativeEpsilon).reshape(batch, 1, 1);
            NDArray z = scale.reshape(batch, 1, 1).add(epsilon).pow(-1);
            NDArray m = a.add(epsilon.mul(eye)).muli(z);
            NDArray x = eye.mul(z.pow(1.0 / p));
            NDArray shiftedEye = eye.mul((p + 1.0) / p);
            // the first read brings the ridges along with the starting residuals
            double[] start =
                    HostReads.toDoubles(
                            NDArrays.concat(
                                    new NDList(
                                            residualArray(m, eye, n),
                                            epsilon.reshape(batch)
                                                    .toType(DataType.FLOAT64, false))));
            double[] residuals = Arrays.copyOf(start, batch);
            double[] epsilons = Arrays.copyOfRange(start, batch, 2 * batch);
            double stop =
                    type == DataType.FLOAT64 ? tolerance * FLOAT64_TO_FLOAT32_ROUNDOFF : tolerance;
            boolean[] done = new boolean[batch];
            markDone(done, residuals, null, stop);
            int iterations = 0;
            while (iterations < maxIterations && !all(done)) {
                NDArray[] next = step(x, m, shiftedEye, p, scope);
                x.close();
                m.close();
                x = next[0];
                m = next[1];
                iterations++;
                double[] previous = residuals;
                residuals = residuals(m, eye, n);
                markDone(done, residuals, previous, stop);
            }
            for (int b = 0; b < batch; b++) {
                if (!Double.isFinite(residuals[b])) {
                    residuals[b] = Double.NaN;
                }
            }
            return new InverseRoots(ws.keep(x, owner), epsilons, residuals, iterations);
        }
    }

    /** One Newton step in its own scope; returns the new X and M, owned by {@code scope}. */
    private static NDArray[] step(
            NDArray x, NDArray m, NDArray shiftedEye, int p, NDManager scope) {
        try (NDManager temporaries = scope.newSubManager()) {
            temporaries.tempAttachAll(x, m, shiftedEye);
            NDArray t = m.mul(-1.0 / p).addi(shiftedEye);
            NDArray nextX = x.matMul(t);
            NDArray nextM = InverseRootResidual.power(t, p).matMul(m);
            nextX.attach(scope);
            nextM.attach(scope);
            return new NDArray[] {nextX, nextM};
        }
    }

    /** \( \|M - I\|_F / \sqrt{n} \) per matrix, summed in float64; one counted host read. */
    private static double[] residuals(NDArray m, NDArray eye, int n) {
        try (NDManager temporaries = m.getManager().newSubManager()) {
            temporaries.tempAttachAll(m, eye);
            return HostReads.toDoubles(residualArray(m, eye, n));
        }
    }

    /** \( \|M - I\|_F / \sqrt{n} \) per matrix, in float64 on the device, in m's manager. */
    private static NDArray residualArray(NDArray m, NDArray eye, int n) {
        NDArray difference = m.sub(eye).toType(DataType.FLOAT64, false);
        return difference.square().sum(new int[] {1, 2}).div(n).sqrt();
    }

    /** A matrix is done at the tolerance, when not finite, or when its residual stops falling. */
    private static void markDone(
            boolean[] done, double[] residuals, double[] previous, double stop) {
        for (int b = 0; b < done.length; b++) {
            double r = residuals[b];
            if (r <= stop || !Double.isFinite(r) || (previous != null && r >= previous[b])) {
                done[b] = true;
            }
        }
    }

    private static boolean all(boolean[] flags) {
        for (boolean flag : flags) {
            if (!flag) {
                return false;
            }
        }
        return true;
    }

    /**
     * The Rayleigh quotient after {@value #POWER_ITERATIONS} steps of power iteration, shape (b),
     * from a fixed pseudo-random start vector (so that results repeat exactly).
     */
    static NDArray largestEigenvalue(NDArray a, NDManager scope) {
        Shape shape = a.getShape();
        int n = Math.toIntExact(shape.get(1));
        Random random = new Random(n);
        double[] start = new double[n];
        Arrays.setAll(start, i -> random.nextGaussian());
        NDArray v =
                scope.create(start)
                        .toType(a.getDataType(), false)
                        .reshape(1, n, 1)
                        .repeat(0, shape.get(0));
        for (int k = 0; k < POWER_ITERATIONS; k++) {
            NDArray w = a.matMul(v);
            NDArray norm = w.norm(new int[] {1}, true).maximum(Float.MIN_NORMAL);
            v = w.div(norm);
        }
        return v.transpose(0, 2, 1).matMul(a.matMul(v)).reshape(shape.get(0));
    }

    /**
     * Returns the maximum number of Newton steps.
     *
     * @return the maximum number of steps
     */
    public int getMaxIterations() {
        return maxIterations;
    }

    /**
     * Returns the residual at which a float32 matrix is done (scaled by \( 2^{-29} \) for float64).
     *
     * @return the tolerance
     */
    public double getTolerance() {
        return tolerance;
    }
}
