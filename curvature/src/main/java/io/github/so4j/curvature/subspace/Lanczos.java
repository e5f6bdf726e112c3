package io.github.so4j.curvature.subspace;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Workspace;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Objects;
import java.util.Random;
import java.util.stream.IntStream;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealVector;

/**
 * The Lanczos method with full reorthogonalization: extreme eigenvalues and eigenvectors of a
 * symmetric operator from a few dozen products, and the tridiagonal matrices that stochastic
 * Lanczos quadrature needs.
 *
 * <p>From a unit start vector \( q_1 \), step j computes \( w = A q_j - \alpha_j q_j - \beta_{j-1}
 * q_{j-1} \) with \( \alpha_j = q_j^\top A q_j \), orthogonalizes w against every earlier \( q_i \)
 * twice (classical Gram-Schmidt, repeated: the "twice is enough" rule of Giraud et al.), and sets
 * \( \beta_j = \|w\| \), \( q_{j+1} = w / \beta_j \). Then \( Q_m^\top A Q_m = T_m \), the
 * symmetric tridiagonal matrix of the \( \alpha \) and \( \beta \), whose eigenpairs \( (\theta_i,
 * s_i) \) (solved on the host in float64 with Commons Math) give Ritz pairs \( (\theta_i, Q_m s_i)
 * \) with residual \( \|A Q_m s_i - \theta_i Q_m s_i\| = \beta_m |s_{m,i}| \). A Ritz value lies
 * within its residual of an eigenvalue of A; the iteration stops once the k wanted Ritz pairs have
 * residuals below {@code tolerance} times the largest \( |\theta| \). If w vanishes (an invariant
 * subspace) before k pairs are found, the basis continues from a random vector orthogonal to it;
 * like any single-vector Krylov method it cannot tell how often an eigenvalue repeats, so copies of
 * a multiple eigenvalue appear only as restarts find them.
 *
 * <p>Defaults: at most {@code max(2k + 20, 40)} steps (capped at d), tolerance 1e-6, the largest
 * eigenvalues (PyHessian's {@code eigenvalues(top_n)} targets the dominant ones with power
 * iteration and tolerance 1e-3).
 *
 * <p><b>Cost</b> for m steps: m products with A, plus about 4md flops and 2 host reads per step
 * (through {@code HostReads}, counted) for the reorthogonalization against the growing basis; the
 * convergence check solves an m x m tridiagonal eigenproblem on the host every 5 steps. Memory: the
 * basis, (m + 1) d numbers in the operator's dtype.
 *
 * @see <a href="https://doi.org/10.1137/1.9781611971163">paper</a> (Parlett, The Symmetric
 *     Eigenvalue Problem, ch. 13)
 */
public final class Lanczos {

    /** Which end of the spectrum to target. */
    public enum Which {
        /** The largest eigenvalues, \( \lambda_1 \ge \lambda_2 \ge \dots \). */
        LARGEST,
        /** The eigenvalues of largest magnitude (for indefinite Hessians). */
        LARGEST_MAGNITUDE
    }

    /** How often, in steps, the tridiagonal eigenproblem is solved to test convergence. */
    private static final int CHECK_EVERY = 5;

    private final int maxSteps;
    private final double tolerance;
    private final Which which;

    private Lanczos(Builder builder) {
        this.maxSteps = builder.maxSteps;
        this.tolerance = builder.tolerance;
        this.which = builder.which;
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
     * Ritz pairs of a symmetric operator.
     *
     * @param values the Ritz values, in the order of {@link Which} (largest first)
     * @param vectors the Ritz vectors as rows, shape (k, d), unit length
     * @param residuals \( \|A y_i - \theta_i y_i\| \) for each pair
     * @param steps the number of Lanczos steps (operator products) taken
     * @param converged whether every residual met the tolerance
     */
    public record Eigenpairs(
            double[] values, NDArray vectors, double[] residuals, int steps, boolean converged) {}

    /**
     * A Lanczos tridiagonal matrix \( T_m = Q_m^\top A Q_m \).
     *
     * @param alphas the diagonal, length m
     * @param betas the off-diagonal, length m - 1
     */
    public record Tridiagonal(double[] alphas, double[] betas) {

        /**
         * Returns m, the number of steps.
         *
         * @return the order of the matrix
         */
        public int size() {
            return alphas.length;
        }
    }

    /**
     * Finds k extreme eigenpairs from a given start vector.
     *
     * @param operator A, symmetric
     * @param k the number of pairs, from 1 to d
     * @param start the start vector, shape (d), not zero. Not modified.
     * @param random the generator for restarts after an invariant subspace
     * @return the pairs; the vectors are owned by {@code start}'s manager
     * @throws IllegalArgumentException if k is out of range or the start vector is invalid
     */
    public Eigenpairs eigenpairs(SymmetricOperator operator, int k, NDArray start, Random random) {
        long d = operator.dimension();
        Objects.requireNonNull(random, "random");
        if (k < 1 || k > d) {
            throw new IllegalArgumentException(
                    "k must be between 1 and d = " + d + ", but was " + k);
        }
        int m = (int) Math.min(d, maxSteps > 0 ? maxSteps : Math.max(2 * k + 20, 40));
        if (m < k) {
            throw new IllegalArgumentException(
                    "maxSteps must be at least k = " + k + ", but was " + maxSteps);
        }
        Vectors.checkFlat(start, d, "start");
        NDManager owner = start.getManager();
        try (Workspace ws = new Workspace(owner, start)) {
            Run run = new Run(operator, start, m, ws.manager(), random, true);
            Ritz ritz = null;
            while (run.steps() < m) {
                run.step();
                int j = run.steps();
                if (j >= k && (j % CHECK_EVERY == 0 || j == m || run.exhausted())) {
                    ritz = ritz(run, k);
                    if (ritz.converged || run.exhausted()) {
                        break;
                    }
                }
            }
            if (ritz == null || ritz.steps != run.steps()) {
                ritz = ritz(run, k);
            }
            NDArray vectors = run.combine(ritz.coefficients);
            return new Eigenpairs(
                    ritz.values,
                    ws.keep(vectors, owner),
                    ritz.residuals,
                    run.steps(),
                    ritz.converged);
        }
    }

    /**
     * Runs m steps from a start vector and returns the tridiagonal matrix (fewer than m steps if
     * the Krylov space is exhausted first), for Gauss quadrature of \( q_1^\top f(A) q_1 \).
     *
     * @param operator A, symmetric
     * @param start the start vector, shape (d), not zero. Not modified.
     * @param steps m, at least 1; at most d steps are taken
     * @return \( T_m \)
     */
    public static Tridiagonal tridiagonal(SymmetricOperator operator, NDArray start, int steps) {
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be at least 1, but was " + steps);
        }
        long d = operator.dimension();
        Vectors.checkFlat(start, d, "start");
        int m = (int) Math.min(d, steps);
        try (Workspace ws = new Workspace(start.getManager(), start)) {
            Run run = new Run(operator, start, m, ws.manager(), null, false);
            while (run.steps() < m && !run.exhausted()) {
                run.step();
            }
            return run.tridiagonal();
        }
    }

    private record Ritz(
            double[] values,
            double[] residuals,
            double[][] coefficients,
            int steps,
            boolean converged) {}

    /** The k wanted Ritz pairs of the current tridiagonal matrix. */
    private Ritz ritz(Run run, int k) {
        Tridiagonal t = run.tridiagonal();
        int j = t.size();
        EigenDecomposition eigen = new EigenDecomposition(t.alphas(), t.betas());
        double[] theta = eigen.getRealEigenvalues();
        Comparator<Integer> order =
                which == Which.LARGEST
                        ? Comparator.comparingDouble((Integer i) -> -theta[i])
                        : Comparator.comparingDouble((Integer i) -> -Math.abs(theta[i]));
        Integer[] chosen =
                IntStream.range(0, j).boxed().sorted(order).limit(k).toArray(Integer[]::new);
        double scale = Arrays.stream(theta).map(Math::abs).max().orElse(0);
        double[] values = new double[k];
        double[] residuals = new double[k];
        double[][] coefficients = new double[k][];
        boolean converged = true;
        for (int i = 0; i < k; i++) {
            int index = chosen[i];
            RealVector s = eigen.getEigenvector(index);
            values[i] = theta[index];
            residuals[i] = run.lastBeta() * Math.abs(s.getEntry(j - 1));
            coefficients[i] = s.toArray();
            converged &= residuals[i] <= tolerance * scale;
        }
        return new Ritz(values, residuals, coefficients, j, converged);
    }

    /** The state of one Lanczos run: the basis on the device, the coefficients on the host. */
    private static final class Run {

        private final SymmetricOperator operator;
        private final NDManager scope;
        private final NDArray basis;
        private final long dimension;
        private final Random random;
        private final boolean restart;
        private final double[] alphas;
        private final double[] betas;
        private NDArray current;
        private int steps;
        private double lastBeta;
        private double scale;
        private boolean exhausted;

        Run(
                SymmetricOperator operator,
                NDArray start,
                int m,
                NDManager scope,
                Random random,
                boolean restart) {
            this.operator = operator;
            this.scope = scope;
            this.dimension = operator.dimension();
            this.random = random;
            this.restart = restart;
            this.alphas = new double[m];
            this.betas = new double[m];
            DataType type = operator.dataType();
            if (start.getDataType() != type) {
                throw new IllegalArgumentException(
                        "start must be " + type + ", but was " + start.getDataType());
            }
            double norm = Math.sqrt(Vectors.dot(start, start));
            if (!Double.isFinite(norm)) {
                throw new IllegalArgumentException(
                        "start must be finite, but its norm was " + norm);
            }
            if (norm == 0) {
                throw new IllegalArgumentException("start must not be the zero vector");
            }
            this.basis = scope.zeros(new Shape(m + 1, dimension), type);
            this.current = start.div(norm);
            store(0, current);
        }

        int steps() {
            return steps;
        }

        boolean exhausted() {
            return exhausted;
        }

        double lastBeta() {
            return lastBeta;
        }

        /** One step: the product, the three-term recurrence, full reorthogonalization. */
        void step() {
            int j = steps;
            NDArray next;
            try (NDManager step = scope.newSubManager()) {
                step.tempAttachAll(current, basis);
                NDArray w = operator.times(current);
                double alpha = Vectors.dot(current, w);
                w = w.sub(current.mul(alpha));
                if (j > 0) {
                    w = w.sub(basis.get(j - 1).mul(betas[j - 1]));
                }
                w = orthogonalize(w, j + 1);
                double beta = Math.sqrt(Vectors.dot(w, w));
                alphas[j] = alpha;
                steps = j + 1;
                lastBeta = beta;
                scale = Math.max(scale, Math.abs(alpha) + beta + (j > 0 ? betas[j - 1] : 0));
                if (!(beta > breakdown() * scale) || steps == dimension) {
                    // an invariant subspace: restart orthogonally or stop
                    lastBeta = 0;
                    if (!restart || steps == dimension || steps == alphas.length) {
                        exhausted = true;
                        return;
                    }
                    w =
                            orthogonalize(
                                    Vectors.gaussian(step, dimension, w.getDataType(), random),
                                    j + 1);
                    w = w.div(Math.sqrt(Vectors.dot(w, w)));
                    betas[j] = 0;
                } else {
                    betas[j] = beta;
                    w = w.div(beta);
                }
                if (steps < basis.getShape().get(0)) {
                    store(steps, w);
                }
                next = w;
                next.attach(scope);
            }
            NDArray previous = current;
            current = next;
            previous.close();
        }

        /**
         * The relative size below which \( \beta \) counts as zero: a hundred machine epsilons of
         * the basis's dtype, above the level that rounding leaves after reorthogonalization.
         */
        private double breakdown() {
            return basis.getDataType() == DataType.FLOAT64 ? 100 * 0x1.0p-52 : 100 * 0x1.0p-23;
        }

        /** Two passes of classical Gram-Schmidt against the first {@code count} basis vectors. */
        private NDArray orthogonalize(NDArray w, int count) {
            NDArray q = basis.get(new NDIndex("0:{}", count));
            for (int pass = 0; pass < 2; pass++) {
                NDArray coefficients = q.matMul(w);
                w = w.sub(coefficients.matMul(q));
            }
            return w;
        }

        private void store(int row, NDArray vector) {
            try (NDManager temporary = scope.newSubManager()) {
                temporary.tempAttachAll(basis);
                basis.set(new NDIndex(row), vector);
            }
        }

        Tridiagonal tridiagonal() {
            return new Tridiagonal(
                    Arrays.copyOf(alphas, steps), Arrays.copyOf(betas, Math.max(steps - 1, 0)));
        }

        /** Rows \( (Q_j s_i)^\top \) for the given coefficient vectors. */
        NDArray combine(double[][] coefficients) {
            int k = coefficients.length;
            double[] flat = new double[k * steps];
            for (int i = 0; i < k; i++) {
                System.arraycopy(coefficients[i], 0, flat, i * steps, steps);
            }
            NDArray s = scope.create(flat, new Shape(k, steps)).toType(basis.getDataType(), false);
            return s.matMul(basis.get(new NDIndex("0:{}", steps)));
        }
    }

    /** Builds a {@link Lanczos}. */
    public static final class Builder {

        private int maxSteps;
        private double tolerance = 1e-6;
        private Which which = Which.LARGEST;

        Builder() {}

        /**
         * Sets the most steps (operator products) a search may take.
         *
         * @param maxSteps at least 1; default 0, meaning {@code max(2k + 20, 40)}; capped at d
         * @return this {@code Builder}
         */
        public Builder optMaxSteps(int maxSteps) {
            this.maxSteps = maxSteps;
            return this;
        }

        /**
         * Sets the convergence test: each wanted residual at most this times the largest Ritz
         * value's magnitude.
         *
         * @param tolerance positive; default 1e-6
         * @return this {@code Builder}
         */
        public Builder optTolerance(double tolerance) {
            this.tolerance = tolerance;
            return this;
        }

        /**
         * Sets which eigenvalues are wanted.
         *
         * @param which LARGEST (default) or LARGEST_MAGNITUDE
         * @return this {@code Builder}
         */
        public Builder optWhich(Which which) {
            this.which = which;
            return this;
        }

        /**
         * Builds the solver.
         *
         * @return the solver
         * @throws IllegalArgumentException naming the setting if one is invalid
         */
        public Lanczos build() {
            if (maxSteps < 0) {
                throw new IllegalArgumentException(
                        "maxSteps must be at least 1 (or 0 for automatic), but was " + maxSteps);
            }
            if (!(tolerance > 0) || Double.isInfinite(tolerance)) {
                throw new IllegalArgumentException(
                        "tolerance must be positive and finite, but was " + tolerance);
            }
            if (which == null) {
                throw new IllegalArgumentException("which must not be null");
            }
            return new Lanczos(this);
        }
    }
}
