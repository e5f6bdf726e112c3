package io.github.so4j.curvature.subspace;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.CholeskyDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;

/**
 * A quadratic model of a function on a plane, fitted to function values by regularized least
 * squares: the curvature estimate of ZO-SAH.
 *
 * <p>In coordinates \( (a, b) \) of a two-dimensional subspace the model is \( q(a, b) = c + g_1 a
 * + g_2 b + \frac{1}{2}(h_{11} a^2 + 2 h_{12} a b + h_{22} b^2) \), six coefficients \( \beta \),
 * linear in the features \( \phi(a, b) = (1, a, b, a^2/2, ab, b^2/2) \). Given values \( f_i \) at
 * points \( (a_i, b_i) \), the fit minimizes \( \sum_i (f_i - \phi_i^\top \beta)^2 + \rho
 * \|\beta_{h}\|^2 \), where the ridge \( \rho \) acts on the three second-order coefficients only
 * (so that a degenerate stencil still yields a finite Hessian), by the normal equations with a
 * Cholesky factorization in float64. Six points in general position determine the quadratic; a
 * function that is quadratic on the plane is recovered exactly when \( \rho = 0 \).
 *
 * <p>Features are scaled by the stencil's radius before fitting, so that the normal equations are
 * well conditioned whatever the step size.
 *
 * @param constant c
 * @param gradient \( (g_1, g_2) \)
 * @param hessian \( \begin{pmatrix} h_{11} &amp; h_{12} \\ h_{12} &amp; h_{22} \end{pmatrix} \)
 * @see <a href="https://arxiv.org/abs/2507.06125">paper</a> (Kim et al., ZO-SAH)
 */
public record PlanarQuadratic(double constant, double[] gradient, double[][] hessian) {

    /**
     * Fits the model.
     *
     * @param a the first coordinates of the points
     * @param b the second coordinates
     * @param values the function values at the points
     * @param ridge \( \rho \), non-negative, relative to the scaled features
     * @return the fitted model
     * @throws IllegalArgumentException if there are fewer than six points, the arrays differ in
     *     length, a value is not finite, or the stencil does not determine the model and \( \rho =
     *     0 \)
     */
    public static PlanarQuadratic fit(double[] a, double[] b, double[] values, double ridge) {
        int n = values.length;
        if (a.length != n || b.length != n) {
            throw new IllegalArgumentException(
                    "a, b and values must have the same length, but had "
                            + a.length
                            + ", "
                            + b.length
                            + " and "
                            + n);
        }
        if (n < 6) {
            throw new IllegalArgumentException(
                    "a quadratic in two variables needs at least 6 points, but had " + n);
        }
        if (!(ridge >= 0) || Double.isInfinite(ridge)) {
            throw new IllegalArgumentException(
                    "ridge must be finite and non-negative, but was " + ridge);
        }
        double radius = 0;
        for (int i = 0; i < n; i++) {
            if (!Double.isFinite(values[i])) {
                throw new IllegalArgumentException("values must be finite, but had " + values[i]);
            }
            radius = Math.max(radius, Math.max(Math.abs(a[i]), Math.abs(b[i])));
        }
        double scale = radius > 0 ? radius : 1;
        RealMatrix features = new Array2DRowRealMatrix(n, 6);
        for (int i = 0; i < n; i++) {
            double u = a[i] / scale;
            double v = b[i] / scale;
            features.setRow(i, new double[] {1, u, v, u * u / 2, u * v, v * v / 2});
        }
        RealMatrix normal = features.transpose().multiply(features);
        for (int j = 3; j < 6; j++) {
            normal.addToEntry(j, j, ridge);
        }
        RealVector right = features.transpose().operate(new ArrayRealVector(values));
        RealVector beta;
        try {
            beta = new CholeskyDecomposition(normal, 1e-14, 1e-14).getSolver().solve(right);
        } catch (org.apache.commons.math3.exception.MathArithmeticException
                | org.apache.commons.math3.linear.NonPositiveDefiniteMatrixException
                | org.apache.commons.math3.linear.NonSymmetricMatrixException e) {
            throw new IllegalArgumentException(
                    "the points do not determine a quadratic; add points or a ridge", e);
        }
        double s2 = scale * scale;
        return new PlanarQuadratic(
                beta.getEntry(0),
                new double[] {beta.getEntry(1) / scale, beta.getEntry(2) / scale},
                new double[][] {
                    {beta.getEntry(3) / s2, beta.getEntry(4) / s2},
                    {beta.getEntry(4) / s2, beta.getEntry(5) / s2}
                });
    }
}
