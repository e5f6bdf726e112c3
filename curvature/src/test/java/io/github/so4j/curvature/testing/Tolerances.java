package io.github.so4j.curvature.testing;

/**
 * Tolerances of the numerical tests, each derived from the precision of the computation it checks
 * rather than tuned until green.
 */
public final class Tolerances {

    /** Unit roundoff of float32, 2<sup>-24</sup>. */
    public static final double FLOAT32_UNIT_ROUNDOFF = 0x1.0p-24;

    /** Unit roundoff of float64, 2<sup>-53</sup>. */
    public static final double FLOAT64_UNIT_ROUNDOFF = 0x1.0p-53;

    /**
     * Relative agreement required of float64 computations with a float64 oracle: 1e-9, which leaves
     * room for a condition number up to about 1e6 (relative error of a backward-stable solve is
     * about \( \kappa \cdot 2^{-53} \approx \kappa \cdot 1.1 \cdot 10^{-16} \)); tests keep the
     * condition numbers of their matrices below that.
     */
    public static final double FLOAT64_RELATIVE = 1e-9;

    private Tolerances() {}

    /**
     * The worst-case relative error bound of a float32 dot product of length n, \( \gamma_n = n u /
     * (1 - n u) \) with \( u = 2^{-24} \) (Higham, Accuracy and Stability of Numerical Algorithms,
     * 2nd ed., eq. 3.4).
     *
     * @param n the length of the dot product
     * @return \( \gamma_n \)
     */
    public static double float32DotProduct(long n) {
        double nu = n * FLOAT32_UNIT_ROUNDOFF;
        return nu / (1 - nu);
    }
}
