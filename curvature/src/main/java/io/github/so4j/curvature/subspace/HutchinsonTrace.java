package io.github.so4j.curvature.subspace;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Objects;
import java.util.Random;

/**
 * Hutchinson's stochastic estimate of the trace of a symmetric operator, with its standard error.
 *
 * <p>For Rademacher vectors z (independent entries \( \pm 1 \)), \( \mathbb{E}[z^\top A z] =
 * \operatorname{tr} A \) and \( \operatorname{Var}[z^\top A z] = 2 (\|A\|_F^2 - \sum_i A_{ii}^2)
 * \). The estimate is the mean of \( z_j^\top A z_j \) over the probes and its standard error the
 * sample standard deviation over \( \sqrt{n} \). Probing stops after {@code maxProbes}, or earlier
 * once at least {@value #MIN_PROBES} probes give a standard error below {@code relativeTolerance}
 * times the estimate's magnitude.
 *
 * <p>Defaults: 100 probes at most, relative tolerance 1e-3 (PyHessian's {@code trace(maxIter=100,
 * tol=1e-3)}; PyHessian stops on the relative change of the running mean, this on its standard
 * error).
 *
 * <p><b>Cost</b>: one operator product and 2d flops per probe, and one host synchronisation per
 * probe. Probes are drawn on the host from the given generator, so a seed fixes them on every
 * device.
 *
 * @see <a href="https://doi.org/10.1080/03610919008812866">paper</a> (Hutchinson 1990)
 */
public final class HutchinsonTrace {

    /** The fewest probes before the early stop may apply. */
    public static final int MIN_PROBES = 10;

    private final int maxProbes;
    private final double relativeTolerance;

    private HutchinsonTrace(Builder builder) {
        this.maxProbes = builder.maxProbes;
        this.relativeTolerance = builder.relativeTolerance;
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
     * A trace estimate.
     *
     * @param trace the mean of \( z^\top A z \) over the probes
     * @param standardError the sample standard deviation over \( \sqrt{n} \) ({@code NaN} for one
     *     probe)
     * @param probes n, the number of probes used
     */
    public record TraceEstimate(double trace, double standardError, int probes) {}

    /**
     * Estimates \( \operatorname{tr} A \).
     *
     * @param operator A, symmetric
     * @param manager the manager for the probes (it fixes the device)
     * @param random the generator of the probes
     * @return the estimate
     */
    public TraceEstimate estimate(SymmetricOperator operator, NDManager manager, Random random) {
        Objects.requireNonNull(random, "random");
        // Welford's running mean and sum of squared deviations: no cancellation when the samples
        // agree to many digits
        double mean = 0;
        double deviations = 0;
        int n = 0;
        while (n < maxProbes) {
            double sample;
            try (NDManager scope = manager.newSubManager()) {
                NDArray z =
                        Vectors.rademacher(
                                scope, operator.dimension(), operator.dataType(), random);
                sample = Vectors.dot(z, operator.times(z));
            }
            n++;
            double delta = sample - mean;
            mean += delta / n;
            deviations += delta * (sample - mean);
            if (n >= MIN_PROBES
                    && standardError(deviations, n) <= relativeTolerance * Math.abs(mean)) {
                break;
            }
        }
        return new TraceEstimate(mean, standardError(deviations, n), n);
    }

    private static double standardError(double deviations, int n) {
        return n < 2 ? Double.NaN : Math.sqrt(deviations / (n - 1) / n);
    }

    /** Builds a {@link HutchinsonTrace}. */
    public static final class Builder {

        private int maxProbes = 100;
        private double relativeTolerance = 1e-3;

        Builder() {}

        /**
         * Sets the most probes.
         *
         * @param maxProbes at least 1; default 100
         * @return this {@code Builder}
         */
        public Builder optMaxProbes(int maxProbes) {
            this.maxProbes = maxProbes;
            return this;
        }

        /**
         * Sets the early stop: standard error at most this times the estimate's magnitude.
         *
         * @param relativeTolerance non-negative, 0 to always use every probe; default 1e-3
         * @return this {@code Builder}
         */
        public Builder optRelativeTolerance(double relativeTolerance) {
            this.relativeTolerance = relativeTolerance;
            return this;
        }

        /**
         * Builds the estimator.
         *
         * @return the estimator
         * @throws IllegalArgumentException naming the setting if one is invalid
         */
        public HutchinsonTrace build() {
            if (maxProbes < 1) {
                throw new IllegalArgumentException(
                        "maxProbes must be at least 1, but was " + maxProbes);
            }
            if (!(relativeTolerance >= 0) || Double.isInfinite(relativeTolerance)) {
                throw new IllegalArgumentException(
                        "relativeTolerance must be finite and non-negative, but was "
                                + relativeTolerance);
            }
            return new HutchinsonTrace(this);
        }
    }
}
