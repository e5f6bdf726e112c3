package io.github.so4j.optimizers.objective;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.subspace.Objective;
import io.github.so4j.curvature.subspace.PlanarQuadratic;
import io.github.so4j.curvature.subspace.Vectors;
import java.util.Objects;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealVector;

/**
 * ZO-SAH, the subspace-based approximate Hessian method for zeroth-order optimization: Newton steps
 * in random two-dimensional subspaces, with Hessians fitted to function values.
 *
 * <p>Every {@code switchPeriod} steps the method draws P orthonormal pairs \( (e_1, e_2) \) (the
 * paper's m/2 planes; P = 1 by default) and, in each plane, fits a quadratic \( q(a, b) \) to f at
 * six points \( x + a e_1 + b e_2 \) with \( (a, b) \in \{(0, 0), (\epsilon, 0), (0, \epsilon),
 * (-\epsilon, 0), (0, -\epsilon), (\epsilon, \epsilon)\} \) by regularized least squares ({@link
 * PlanarQuadratic}), keeping its 2 x 2 Hessian \( H_j \). Between switches the planes and their
 * Hessians are reused and each step spends only the three evaluations of forward differences:
 *
 * <p>\( g_j = \frac{1}{\epsilon} \left( f(x + \epsilon e_1) - f(x),\; f(x + \epsilon e_2) - f(x)
 * \right) \) (on a switch step, the fit's gradient, from the same six values)<br>
 * \( v = \sum_j (e_1\; e_2)\, (|H_j| + \delta I)^{-1} g_j \), \( x \leftarrow x - \eta v \)
 *
 * <p>with \( |H| \) the matrix of absolute eigenvalues, so that a non-convex plane still gives a
 * descent direction. The forward-difference evaluations at \( x + \epsilon e_i \) and \( f(x) \)
 * are among the six fit points: a switch step costs 1 + 5P evaluations, other steps 1 + 2P.
 *
 * <p>This follows the paper's description (random two-dimensional subspaces, quadratic fit, Newton
 * step, periodic switching with reuse); the stencil, the reuse of the fitted Hessian between
 * switches and the absolute-eigenvalue damping are this implementation's choices.
 *
 * <p>Defaults: \( \eta = 1 \) (a Newton step), \( \epsilon = 10^{-3} \), one plane, new planes
 * every step, ridge \( 10^{-8} \) on the scaled fit, damping \( \delta = 10^{-4} \). Switching
 * every step was the best setting measured on the ill-conditioned logistic regression of {@code
 * ZerothOrderTest} (d = 20): keeping a plane for 2 steps cost 1.5 times the evaluations to the
 * target, because a Newton step leaves little gradient in its own plane, and summing the steps of 2
 * planes with reused Hessians overshot.
 *
 * <p><b>Cost</b> per step: 1 + 2P evaluations (1 + 5P when switching), plus O(Pd) flops; a switch
 * orthonormalizes 2P Gaussian vectors, O(P<sup>2</sup>d).
 *
 * @see <a href="https://arxiv.org/abs/2507.06125">paper</a>
 */
public final class ZoSah {

    private final double stepSize;
    private final double smoothing;
    private final int planes;
    private final int switchPeriod;
    private final double ridge;
    private final double damping;

    private ZoSah(Builder builder) {
        this.stepSize = builder.stepSize;
        this.smoothing = builder.smoothing;
        this.planes = builder.planes;
        this.switchPeriod = builder.switchPeriod;
        this.ridge = builder.ridge;
        this.damping = builder.damping;
    }

    /**
     * Returns a builder with the defaults.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Minimizes f from a start point within a budget.
     *
     * @param objective f
     * @param start \( x_0 \), shape (d) with d at least 2P. Not modified.
     * @param budget when to stop
     * @param random the generator of the planes
     * @return the run
     * @throws IllegalArgumentException if d is smaller than 2P
     */
    public ZerothOrderRun minimize(
            Objective objective, NDArray start, Budget budget, Random random) {
        Objects.requireNonNull(random, "random");
        long d = start.size();
        if (d < 2L * planes) {
            throw new IllegalArgumentException(
                    "planes must be at most d / 2 = " + d / 2 + ", but was " + planes);
        }
        NDManager owner = start.getManager();
        DataType type = start.getDataType();
        Trace trace = new Trace(objective, budget);
        double[][][] hessians = new double[planes][][];
        double e = smoothing;
        double[] a = {0, e, 0, -e, 0, e};
        double[] b = {0, 0, e, 0, -e, e};
        try (Workspace ws = new Workspace(owner, start)) {
            NDManager scope = ws.manager();
            NDArray x = start.duplicate();
            NDArray basis = null;
            for (long t = 0; ; t++) {
                boolean switching = t % switchPeriod == 0;
                if (trace.done(1 + (switching ? 5L : 2L) * planes)) {
                    break;
                }
                if (switching) {
                    if (basis != null) {
                        basis.close();
                    }
                    try (NDManager draw = scope.newSubManager()) {
                        NDArray gaussian =
                                Vectors.gaussian(draw, 2L * planes * d, type, random)
                                        .reshape(2L * planes, d);
                        basis = Vectors.orthonormalRows(gaussian);
                        basis.attach(scope);
                    }
                }
                NDArray next;
                try (NDManager step = scope.newSubManager()) {
                    step.tempAttachAll(x, basis);
                    double f0 = trace.value(x);
                    trace.record(f0);
                    double[] coefficients = new double[2 * planes];
                    for (int j = 0; j < planes; j++) {
                        NDArray e1 = basis.get(2 * j).mul(e);
                        NDArray e2 = basis.get(2 * j + 1).mul(e);
                        double f1 = trace.value(x.add(e1));
                        double f2 = trace.value(x.add(e2));
                        double[] g;
                        if (switching) {
                            double f3 = trace.value(x.sub(e1));
                            double f4 = trace.value(x.sub(e2));
                            double f5 = trace.value(x.add(e1).add(e2));
                            PlanarQuadratic model =
                                    PlanarQuadratic.fit(
                                            a, b, new double[] {f0, f1, f2, f3, f4, f5}, ridge);
                            hessians[j] = model.hessian();
                            g = model.gradient();
                        } else {
                            g = new double[] {(f1 - f0) / e, (f2 - f0) / e};
                        }
                        double[] s = dampedSolve(hessians[j], g);
                        coefficients[2 * j] = s[0];
                        coefficients[2 * j + 1] = s[1];
                    }
                    NDArray c =
                            step.create(coefficients)
                                    .toType(type, false)
                                    .reshape(new Shape(1, 2L * planes));
                    next = x.sub(c.matMul(basis).reshape(d).mul(stepSize));
                    next.attach(scope);
                }
                x.close();
                x = next;
            }
            return trace.finish(ws.keep(x, owner));
        }
    }

    /** \( (|H| + \delta I)^{-1} g \) for a symmetric 2 x 2 H. */
    private double[] dampedSolve(double[][] hessian, double[] g) {
        EigenDecomposition eigen = new EigenDecomposition(new Array2DRowRealMatrix(hessian));
        double[] result = new double[2];
        for (int i = 0; i < 2; i++) {
            RealVector u = eigen.getEigenvector(i);
            double weight =
                    (u.getEntry(0) * g[0] + u.getEntry(1) * g[1])
                            / (Math.abs(eigen.getRealEigenvalue(i)) + damping);
            result[0] += weight * u.getEntry(0);
            result[1] += weight * u.getEntry(1);
        }
        return result;
    }

    /** Builds a {@link ZoSah}. */
    public static final class Builder {

        private double stepSize = 1;
        private double smoothing = 1e-3;
        private int planes = 1;
        private int switchPeriod = 1;
        private double ridge = 1e-8;
        private double damping = 1e-4;

        Builder() {}

        /**
         * Sets \( \eta \), the fraction of the Newton step taken.
         *
         * @param stepSize positive; default 1
         * @return this {@code Builder}
         */
        public Builder optStepSize(double stepSize) {
            this.stepSize = stepSize;
            return this;
        }

        /**
         * Sets \( \epsilon \), the stencil's radius.
         *
         * @param smoothing positive; default 1e-3
         * @return this {@code Builder}
         */
        public Builder optSmoothing(double smoothing) {
            this.smoothing = smoothing;
            return this;
        }

        /**
         * Sets P, the number of orthogonal planes per step (the paper's m / 2).
         *
         * @param planes at least 1; default 1
         * @return this {@code Builder}
         */
        public Builder optPlanes(int planes) {
            this.planes = planes;
            return this;
        }

        /**
         * Sets how many steps share the planes and their fitted Hessians.
         *
         * @param switchPeriod at least 1; default 1 (see the class javadoc)
         * @return this {@code Builder}
         */
        public Builder optSwitchPeriod(int switchPeriod) {
            this.switchPeriod = switchPeriod;
            return this;
        }

        /**
         * Sets the ridge of the quadratic fit (on the second-order coefficients, in stencil units).
         *
         * @param ridge non-negative; default 1e-8
         * @return this {@code Builder}
         */
        public Builder optRidge(double ridge) {
            this.ridge = ridge;
            return this;
        }

        /**
         * Sets \( \delta \), added to the absolute eigenvalues of each plane's Hessian.
         *
         * @param damping positive; default 1e-4
         * @return this {@code Builder}
         */
        public Builder optDamping(double damping) {
            this.damping = damping;
            return this;
        }

        /**
         * Builds the method.
         *
         * @return the method
         * @throws IllegalArgumentException naming the setting if one is invalid
         */
        public ZoSah build() {
            positive(stepSize, "stepSize");
            positive(smoothing, "smoothing");
            positive(damping, "damping");
            if (planes < 1) {
                throw new IllegalArgumentException("planes must be at least 1, but was " + planes);
            }
            if (switchPeriod < 1) {
                throw new IllegalArgumentException(
                        "switchPeriod must be at least 1, but was " + switchPeriod);
            }
            if (!(ridge >= 0) || Double.isInfinite(ridge)) {
                throw new IllegalArgumentException(
                        "ridge must be finite and non-negative, but was " + ridge);
            }
            return new ZoSah(this);
        }

        private static void positive(double value, String name) {
            if (!(value > 0) || Double.isInfinite(value)) {
                throw new IllegalArgumentException(
                        name + " must be positive and finite, but was " + value);
            }
        }
    }
}
