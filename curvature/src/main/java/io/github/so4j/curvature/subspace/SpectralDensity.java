package io.github.so4j.curvature.subspace;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import org.apache.commons.math3.linear.EigenDecomposition;

/**
 * The spectral density of a symmetric operator by stochastic Lanczos quadrature (SLQ), as arrays to
 * plot.
 *
 * <p>The density \( \phi(t) = \frac{1}{d} \sum_i \delta(t - \lambda_i) \) satisfies \( \int f\,
 * d\phi = \frac{1}{d} \operatorname{tr} f(A) = \mathbb{E}_v[v^\top f(A) v] \) for random unit v.
 * For each of {@code runs} Rademacher start vectors (normalized), m Lanczos steps give \( T_m \)
 * with eigenpairs \( (\theta_j, s_j) \), and \( v^\top f(A) v \approx \sum_j \tau_j f(\theta_j) \)
 * with \( \tau_j = (e_1^\top s_j)^2 \): the m-point Gauss quadrature rule of the measure \( \sum_i
 * (v^\top u_i)^2 \delta(t - \lambda_i) \), exact for polynomials of degree up to 2m - 1. The
 * density is the average over runs of the rules smoothed with a Gaussian kernel of variance \(
 * \sigma^2 \), on an even grid, normalized to unit integral:
 *
 * <p>\( \phi(t) \approx \frac{1}{n_v} \sum_{r} \sum_j \tau^{(r)}_j \mathcal{N}(t; \theta^{(r)}_j,
 * \sigma^2) \)
 *
 * <p>The defaults follow PyHessian's {@code density(iter=100, n_v=1)} and {@code density_generate}:
 * 100 steps, 1 run, the grid from the smallest node minus 0.01 to the largest plus 0.01 (averaged
 * over runs), \( \sigma^2 = 10^{-5} \max(1, \text{width}) \); 1000 grid points (PyHessian uses
 * 10,000).
 *
 * <p><b>Cost</b>: {@code runs} times m operator products with full reorthogonalization (see {@link
 * Lanczos}); the smoothing is {@code runs * m * bins} kernel evaluations on the host.
 *
 * @see <a href="https://arxiv.org/abs/1912.07145">paper</a> (Yao et al., PyHessian)
 * @see <a href="https://doi.org/10.1137/16M1104974">paper</a> (Ubaru, Chen and Saad, SLQ)
 */
public final class SpectralDensity {

    private final int runs;
    private final int steps;
    private final int bins;
    private final double relativeVariance;
    private final double margin;

    private SpectralDensity(Builder builder) {
        this.runs = builder.runs;
        this.steps = builder.steps;
        this.bins = builder.bins;
        this.relativeVariance = builder.relativeVariance;
        this.margin = builder.margin;
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
     * The Gauss quadrature rule of one start vector.
     *
     * @param nodes \( \theta_j \), the eigenvalues of \( T_m \), ascending
     * @param weights \( \tau_j = (e_1^\top s_j)^2 \), summing to 1
     */
    public record Quadrature(double[] nodes, double[] weights) {}

    /**
     * A smoothed spectral density.
     *
     * @param grid the evenly spaced points t
     * @param density \( \phi(t) \) at each point, integrating to 1 over the grid
     * @param rules the quadrature rule of each run
     */
    public record Density(double[] grid, double[] density, List<Quadrature> rules) {}

    /**
     * Runs m Lanczos steps from a start vector and returns its Gauss quadrature rule.
     *
     * @param operator A, symmetric
     * @param start the start vector, not zero (normalized here). Not modified.
     * @param steps m; fewer nodes result if the Krylov space is exhausted first
     * @return the nodes and weights
     */
    public static Quadrature quadrature(SymmetricOperator operator, NDArray start, int steps) {
        Lanczos.Tridiagonal t = Lanczos.tridiagonal(operator, start, steps);
        EigenDecomposition eigen = new EigenDecomposition(t.alphas(), t.betas());
        double[] theta = eigen.getRealEigenvalues();
        int m = theta.length;
        Integer[] order = new Integer[m];
        for (int i = 0; i < m; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Double.compare(theta[a], theta[b]));
        double[] nodes = new double[m];
        double[] weights = new double[m];
        for (int i = 0; i < m; i++) {
            nodes[i] = theta[order[i]];
            double first = eigen.getEigenvector(order[i]).getEntry(0);
            weights[i] = first * first;
        }
        return new Quadrature(nodes, weights);
    }

    /**
     * Estimates the spectral density from {@code runs} Rademacher start vectors.
     *
     * @param operator A, symmetric
     * @param manager the manager for the start vectors (it fixes the device)
     * @param random the generator of the start vectors
     * @return the density and the rules it was smoothed from
     */
    public Density estimate(SymmetricOperator operator, NDManager manager, Random random) {
        Objects.requireNonNull(random, "random");
        List<Quadrature> rules = new ArrayList<>(runs);
        for (int r = 0; r < runs; r++) {
            try (NDManager scope = manager.newSubManager()) {
                NDArray start =
                        Vectors.rademacher(
                                scope, operator.dimension(), operator.dataType(), random);
                rules.add(quadrature(operator, start, steps));
            }
        }
        return smooth(rules);
    }

    /**
     * Smooths quadrature rules into a density on an even grid (PyHessian's {@code
     * density_generate}).
     *
     * @param rules one rule per run, at least one
     * @return the density
     */
    public Density smooth(List<Quadrature> rules) {
        if (rules.isEmpty()) {
            throw new IllegalArgumentException("rules must not be empty");
        }
        double low = 0;
        double high = 0;
        for (Quadrature rule : rules) {
            low += rule.nodes()[0];
            high += rule.nodes()[rule.nodes().length - 1];
        }
        low = low / rules.size() - margin;
        high = high / rules.size() + margin;
        double variance = relativeVariance * Math.max(1, high - low);
        double[] grid = new double[bins];
        double spacing = bins > 1 ? (high - low) / (bins - 1) : 0;
        for (int i = 0; i < bins; i++) {
            grid[i] = low + i * spacing;
        }
        double[] density = new double[bins];
        double normal = 1 / Math.sqrt(2 * Math.PI * variance);
        for (Quadrature rule : rules) {
            for (int j = 0; j < rule.nodes().length; j++) {
                double node = rule.nodes()[j];
                double weight = rule.weights()[j] / rules.size();
                for (int i = 0; i < bins; i++) {
                    double u = grid[i] - node;
                    density[i] += weight * normal * Math.exp(-u * u / (2 * variance));
                }
            }
        }
        double total = 0;
        for (double value : density) {
            total += value * spacing;
        }
        if (total > 0) {
            for (int i = 0; i < bins; i++) {
                density[i] /= total;
            }
        }
        return new Density(grid, density, List.copyOf(rules));
    }

    /** Builds a {@link SpectralDensity}. */
    public static final class Builder {

        private int runs = 1;
        private int steps = 100;
        private int bins = 1000;
        private double relativeVariance = 1e-5;
        private double margin = 0.01;

        Builder() {}

        /**
         * Sets the number of random start vectors.
         *
         * @param runs at least 1; default 1 (PyHessian's n_v)
         * @return this {@code Builder}
         */
        public Builder optRuns(int runs) {
            this.runs = runs;
            return this;
        }

        /**
         * Sets m, the Lanczos steps per run.
         *
         * @param steps at least 1; default 100 (PyHessian's iter)
         * @return this {@code Builder}
         */
        public Builder optSteps(int steps) {
            this.steps = steps;
            return this;
        }

        /**
         * Sets the number of grid points.
         *
         * @param bins at least 2; default 1000
         * @return this {@code Builder}
         */
        public Builder optBins(int bins) {
            this.bins = bins;
            return this;
        }

        /**
         * Sets the kernel variance relative to the grid's width: \( \sigma^2 = r \max(1,
         * \text{width}) \).
         *
         * @param relativeVariance r, positive; default 1e-5 (PyHessian's sigma_squared)
         * @return this {@code Builder}
         */
        public Builder optRelativeVariance(double relativeVariance) {
            this.relativeVariance = relativeVariance;
            return this;
        }

        /**
         * Sets how far the grid extends beyond the extreme nodes.
         *
         * @param margin non-negative; default 0.01 (PyHessian's overhead)
         * @return this {@code Builder}
         */
        public Builder optMargin(double margin) {
            this.margin = margin;
            return this;
        }

        /**
         * Builds the estimator.
         *
         * @return the estimator
         * @throws IllegalArgumentException naming the setting if one is invalid
         */
        public SpectralDensity build() {
            if (runs < 1) {
                throw new IllegalArgumentException("runs must be at least 1, but was " + runs);
            }
            if (steps < 1) {
                throw new IllegalArgumentException("steps must be at least 1, but was " + steps);
            }
            if (bins < 2) {
                throw new IllegalArgumentException("bins must be at least 2, but was " + bins);
            }
            if (!(relativeVariance > 0) || Double.isInfinite(relativeVariance)) {
                throw new IllegalArgumentException(
                        "relativeVariance must be positive and finite, but was "
                                + relativeVariance);
            }
            if (!(margin >= 0) || Double.isInfinite(margin)) {
                throw new IllegalArgumentException(
                        "margin must be finite and non-negative, but was " + margin);
            }
            return new SpectralDensity(this);
        }
    }
}
