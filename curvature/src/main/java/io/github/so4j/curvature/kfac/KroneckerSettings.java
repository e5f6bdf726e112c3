package io.github.so4j.curvature.kfac;

/**
 * The settings shared by every Kronecker-factored block: how factors are averaged and inverted, and
 * when a failing inversion becomes an error.
 *
 * @param factorDecay \( \rho \) of the exponential moving average of the factors, in [0, 1); 0
 *     keeps only the latest statistics
 * @param inversion how the damped inverse is applied
 * @param maxConsecutiveFailures how many refreshes of one block may fail in a row (each keeping the
 *     previous preconditioner) before the next failure throws; at least 0
 * @param hostEigenLimit the largest factor dimension that {@link InversionMode#EIGEN} decomposes on
 *     the host; larger blocks use {@link InversionMode#INVERSE}; at least 1
 * @param factorRank k, the number of eigenpairs {@link InversionMode#LOW_RANK} keeps of each large
 *     factor; at least 1
 */
public record KroneckerSettings(
        double factorDecay,
        InversionMode inversion,
        int maxConsecutiveFailures,
        int hostEigenLimit,
        int factorRank) {

    /** The default k of {@link InversionMode#LOW_RANK}. */
    public static final int DEFAULT_FACTOR_RANK = 32;

    /**
     * The defaults: decay 0.95 (kfac-pytorch's {@code factor_decay}), {@link InversionMode#INVERSE}
     * (kfac-jax's default, which does not use exact inverses), 3 tolerated failures in a row
     * (Meta's Distributed Shampoo, {@code num_tolerated_failed_amortized_computations}), and EIGEN
     * on the host up to 512 (0.4 s per factor with Commons Math on a 2-core CPU, against 3 to 5 s
     * at 785).
     */
    public static final KroneckerSettings DEFAULT =
            new KroneckerSettings(0.95, InversionMode.INVERSE, 3, 512);

    /**
     * Settings with {@link #DEFAULT_FACTOR_RANK}.
     *
     * @param factorDecay \( \rho \) in [0, 1)
     * @param inversion the inversion mode, not null
     * @param maxConsecutiveFailures at least 0
     * @param hostEigenLimit at least 1
     * @throws IllegalArgumentException naming the setting and its value if one is invalid
     */
    public KroneckerSettings(
            double factorDecay,
            InversionMode inversion,
            int maxConsecutiveFailures,
            int hostEigenLimit) {
        this(factorDecay, inversion, maxConsecutiveFailures, hostEigenLimit, DEFAULT_FACTOR_RANK);
    }

    /**
     * Checks the settings.
     *
     * @param factorDecay \( \rho \) in [0, 1)
     * @param inversion the inversion mode, not null
     * @param maxConsecutiveFailures at least 0
     * @param hostEigenLimit at least 1
     * @param factorRank at least 1
     * @throws IllegalArgumentException naming the setting and its value if one is invalid
     */
    public KroneckerSettings {
        if (!(factorDecay >= 0 && factorDecay < 1)) {
            throw new IllegalArgumentException(
                    "factorDecay must be in [0, 1), but was " + factorDecay);
        }
        if (inversion == null) {
            throw new IllegalArgumentException("inversion must not be null");
        }
        if (maxConsecutiveFailures < 0) {
            throw new IllegalArgumentException(
                    "maxConsecutiveFailures must be at least 0, but was " + maxConsecutiveFailures);
        }
        if (hostEigenLimit < 1) {
            throw new IllegalArgumentException(
                    "hostEigenLimit must be at least 1, but was " + hostEigenLimit);
        }
        if (factorRank < 1) {
            throw new IllegalArgumentException(
                    "factorRank must be at least 1, but was " + factorRank);
        }
    }
}
