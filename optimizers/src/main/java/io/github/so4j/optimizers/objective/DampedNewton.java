package io.github.so4j.optimizers.objective;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.subspace.SmoothObjective;
import java.util.Arrays;
import java.util.Objects;

/**
 * Newton's method with the global stepsize schedules of Hanzely, Abdukhakimov and Takáč, for small
 * convex problems.
 *
 * <p>Each iteration forms the Hessian (explicitly, or from d products, see {@link
 * SmoothObjective#hessian}), solves for the Newton direction and moves by a stepsize \( \alpha_k
 * \in (0, 1] \) computed from the Newton decrement, an affine-invariant measure of the gradient:
 *
 * <p>\( n_k = \nabla^2 f(x_k)^{-1} \nabla f(x_k) \), \( g_k = \|\nabla f(x_k)\|^*_{x_k} =
 * \sqrt{\nabla f(x_k)^\top n_k} \)<br>
 * \( x_{k+1} = x_k - \alpha_k n_k \), \( \alpha_k = 1 / (1 + \theta_k) \)
 *
 * <p>The schedules ({@link Schedule}):
 *
 * <ul>
 *   <li>{@link Schedule#rootNewton} (the paper's RN): \( \theta_k = (9 M)^{1/(q-1)}
 *       g_k^{(q-2)/(q-1)} \) for a function whose p-th derivative is \( \nu \)-Hölder continuous in
 *       the local norm with constant \( M \), \( q = p + \nu \in [2, 4] \); the global rate is \(
 *       O(M D^q / k^{q-1}) \), up to \( O(k^{-3}) \) for q = 4 (Lipschitz third derivative). The
 *       step tends to 1 as \( g_k \to 0 \), but the local convergence is superlinear, not
 *       quadratic: \( 1 - \alpha_k \approx \theta_k \), so \( g_{k+1} \approx (9 M)^{1/(q-1)}
 *       g_k^{(2q-3)/(q-1)} \), of order 3/2 for q = 3 and 5/3 for q = 4 (linear for q = 2, where \(
 *       \theta_k \) is constant).
 *   <li>{@link Schedule#universal} (the paper's UN, backtracking for an unknown M): start each
 *       iteration from the previous estimate divided by \( \rho \), and multiply it by \( \rho \)
 *       until the trial point \( x^+ = x_k - \alpha n_k \) satisfies \( \langle \nabla f(x^+), n_k
 *       \rangle \ge \|\nabla f(x^+)\|^{*2}_{x_k} / (2 \alpha \theta) \) (norm in \( x_k \)'s
 *       Hessian, already factored). The condition holds for every \( \theta \) on a quadratic, and
 *       for large \( \theta \) always, so the search ends. Near the optimum (\( g_k \) about 1e-10
 *       in float64) \( \nabla f(x^+) \) is at round-off level and the test compares noise: it may
 *       take a few extra trials there, on a step within \( \theta_k \ll 1 \) of 1 either way.
 *   <li>{@link Schedule#newton}: \( \alpha_k = 1 \), the classical method, which can diverge from a
 *       far start.
 * </ul>
 *
 * <p>Stopping: when \( g_k \le \) {@code tolerance}, or after {@code maxIterations}, or when a
 * value is not finite (divergence, reported as such).
 *
 * <p>Defaults: UN with q = 3, initial M = 1, \( \rho = 2 \) (the smoothness class that logistic
 * regression satisfies in the local norm); at most 100 iterations; tolerance 1e-10.
 *
 * <p><b>Cost</b> per iteration: one Hessian (nd<sup>2</sup> for logistic regression, or d products)
 * and its inverse, d<sup>3</sup> flops in the iterate's dtype; UN adds a gradient per trial. Use
 * float64. Host reads (through {@code HostReads}, counted): the inverse, the decrement and the
 * value per iteration, two per UN trial.
 *
 * @see <a href="https://arxiv.org/abs/2405.18926">Hanzely, Abdukhakimov, Takáč: Newton Method
 *     Revisited: Global Convergence Rates up to O(k^-3) for Stepsize Schedules and Linesearch
 *     Procedures (arXiv 2405.18926; v1 titled Damped Newton Method with Near-Optimal Global O(k^-3)
 *     Convergence Rate)</a>
 */
public final class DampedNewton {

    private final Schedule schedule;
    private final int maxIterations;
    private final double tolerance;

    private DampedNewton(Builder builder) {
        this.schedule = builder.schedule;
        this.maxIterations = builder.maxIterations;
        this.tolerance = builder.tolerance;
    }

    /**
     * Returns a builder with the defaults.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** A stepsize schedule: how \( \alpha_k \) follows from the Newton decrement. */
    public sealed interface Schedule {

        /**
         * The classical method, \( \alpha_k = 1 \).
         *
         * @return the schedule
         */
        static Schedule newton() {
            return new Newton();
        }

        /**
         * The paper's RN schedule for a known smoothness class.
         *
         * @param q \( p + \nu \) in [2, 4]
         * @param m \( M \), the Hölder constant, positive
         * @return the schedule
         * @throws IllegalArgumentException if q or M is out of range
         */
        static Schedule rootNewton(double q, double m) {
            return new RootNewton(q, m);
        }

        /**
         * The paper's UN backtracking schedule for an unknown constant.
         *
         * @param q \( p + \nu \) in [2, 4]
         * @param initial the first estimate of M, positive
         * @param rho the factor \( \rho > 1 \) of the search
         * @return the schedule
         * @throws IllegalArgumentException if a setting is out of range
         */
        static Schedule universal(double q, double initial, double rho) {
            return new Universal(q, initial, rho);
        }
    }

    /** The classical Newton step. */
    private record Newton() implements Schedule {}

    private record RootNewton(double q, double m) implements Schedule {
        RootNewton {
            checkQ(q);
            checkPositive(m, "M");
        }
    }

    private record Universal(double q, double initial, double rho) implements Schedule {
        Universal {
            checkQ(q);
            checkPositive(initial, "initial M");
            if (!(rho > 1) || Double.isInfinite(rho)) {
                throw new IllegalArgumentException(
                        "rho must be greater than 1 and finite, but was " + rho);
            }
        }
    }

    private static void checkQ(double q) {
        if (!(q >= 2 && q <= 4)) {
            throw new IllegalArgumentException("q must be in [2, 4], but was " + q);
        }
    }

    private static void checkPositive(double value, String name) {
        if (!(value > 0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException(
                    name + " must be positive and finite, but was " + value);
        }
    }

    /**
     * The record of a run.
     *
     * @param solution the last iterate, owned by the start's manager
     * @param values \( f(x_k) \) for k = 0..iterations
     * @param decrements \( g_k \) for k = 0..iterations (NaN where not computed)
     * @param stepsizes \( \alpha_k \) for each iteration taken
     * @param trials the number of trial points UN evaluated (equal to the iterations otherwise)
     * @param converged whether \( g_k \le \) tolerance was reached
     * @param diverged whether a value or decrement stopped being finite
     */
    public record Run(
            NDArray solution,
            double[] values,
            double[] decrements,
            double[] stepsizes,
            int trials,
            boolean converged,
            boolean diverged) {

        /**
         * Returns the number of iterations taken.
         *
         * @return the number of steps
         */
        public int iterations() {
            return stepsizes.length;
        }
    }

    /**
     * Minimizes a convex objective from a start point.
     *
     * @param objective f, convex, with a positive definite Hessian along the path
     * @param start \( x_0 \), shape (d). Not modified.
     * @return the run
     */
    public Run minimize(SmoothObjective objective, NDArray start) {
        Objects.requireNonNull(objective, "objective");
        NDManager owner = start.getManager();
        double[] values = new double[maxIterations + 1];
        double[] decrements = new double[maxIterations + 1];
        double[] stepsizes = new double[maxIterations];
        Arrays.fill(decrements, Double.NaN);
        double estimate = schedule instanceof Universal u ? u.initial() * u.rho() : 0;
        int trials = 0;
        int k = 0;
        boolean converged = false;
        boolean diverged = false;
        try (Workspace ws = new Workspace(owner, start)) {
            NDManager scope = ws.manager();
            NDArray x = start.duplicate();
            values[0] = objective.value(x);
            while (true) {
                if (!Double.isFinite(values[k])) {
                    diverged = true;
                    break;
                }
                NDArray next;
                try (NDManager step = scope.newSubManager()) {
                    step.tempAttachAll(x);
                    NDArray gradient = objective.gradient(x);
                    NDArray inverse = HostReads.inverse(objective.hessian(x));
                    NDArray direction = inverse.matMul(gradient);
                    double decrement = Math.sqrt(dot(gradient, direction));
                    decrements[k] = decrement;
                    if (!Double.isFinite(decrement)) {
                        diverged = true;
                        break;
                    }
                    if (decrement <= tolerance) {
                        converged = true;
                        break;
                    }
                    if (k == maxIterations) {
                        break;
                    }
                    double alpha;
                    if (schedule instanceof Universal u) {
                        estimate /= u.rho();
                        while (true) {
                            trials++;
                            double theta = theta(u.q(), estimate, decrement);
                            alpha = 1 / (1 + theta);
                            NDArray trial = x.sub(direction.mul(alpha));
                            NDArray g = objective.gradient(trial);
                            double left = dot(g, direction);
                            double right = dot(g, inverse.matMul(g)) / (2 * alpha * theta);
                            if (left >= right || !Double.isFinite(theta) || estimate > 1e300) {
                                break;
                            }
                            estimate *= u.rho();
                        }
                    } else if (schedule instanceof RootNewton r) {
                        trials++;
                        alpha = 1 / (1 + theta(r.q(), r.m(), decrement));
                    } else {
                        trials++;
                        alpha = 1;
                    }
                    stepsizes[k] = alpha;
                    next = x.sub(direction.mul(alpha));
                    next.attach(scope);
                }
                x.close();
                x = next;
                k++;
                values[k] = objective.value(x);
            }
            NDArray solution = ws.keep(x, owner);
            return new Run(
                    solution,
                    Arrays.copyOf(values, k + 1),
                    Arrays.copyOf(decrements, k + 1),
                    Arrays.copyOf(stepsizes, k),
                    trials,
                    converged,
                    diverged);
        }
    }

    /** \( \theta = (9 M)^{1/(q-1)} g^{(q-2)/(q-1)} \). */
    static double theta(double q, double m, double decrement) {
        return Math.pow(9 * m, 1 / (q - 1)) * Math.pow(decrement, (q - 2) / (q - 1));
    }

    private static double dot(NDArray a, NDArray b) {
        return HostReads.toDouble(a.mul(b).sum());
    }

    /** Builds a {@link DampedNewton}. */
    public static final class Builder {

        private Schedule schedule = Schedule.universal(3, 1, 2);
        private int maxIterations = 100;
        private double tolerance = 1e-10;

        Builder() {}

        /**
         * Sets the stepsize schedule.
         *
         * @param schedule default {@code universal(3, 1, 2)}
         * @return this {@code Builder}
         */
        public Builder optSchedule(Schedule schedule) {
            this.schedule = schedule;
            return this;
        }

        /**
         * Sets the most iterations.
         *
         * @param maxIterations non-negative; default 100
         * @return this {@code Builder}
         */
        public Builder optMaxIterations(int maxIterations) {
            this.maxIterations = maxIterations;
            return this;
        }

        /**
         * Sets the stopping tolerance on the Newton decrement \( g_k \) (for which \( f(x_k) - f^*
         * \approx g_k^2 / 2 \) near the optimum).
         *
         * @param tolerance non-negative; default 1e-10
         * @return this {@code Builder}
         */
        public Builder optTolerance(double tolerance) {
            this.tolerance = tolerance;
            return this;
        }

        /**
         * Builds the method.
         *
         * @return the method
         * @throws IllegalArgumentException naming the setting if one is invalid
         */
        public DampedNewton build() {
            if (schedule == null) {
                throw new IllegalArgumentException("schedule must not be null");
            }
            if (maxIterations < 0) {
                throw new IllegalArgumentException(
                        "maxIterations must be non-negative, but was " + maxIterations);
            }
            if (!(tolerance >= 0) || Double.isInfinite(tolerance)) {
                throw new IllegalArgumentException(
                        "tolerance must be finite and non-negative, but was " + tolerance);
            }
            return new DampedNewton(this);
        }
    }
}
