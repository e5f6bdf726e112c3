package io.github.so4j.optimizers.kfac;

/**
 * The Levenberg-Marquardt rule that adapts K-FAC's damping \( \lambda \) from the reduction ratio
 * of the batch objective (Martens and Grosse 2015, section 6.5; kfac-jax's {@code
 * use_adaptive_damping}).
 *
 * <p>On an adaptation step, after the update \( \delta \):
 *
 * <p>\( \rho = \dfrac{F(\theta + \delta) - F(\theta)}{q(\delta) - q(0)} \) (F the batch objective,
 * q its quadratic model, see {@link QuadraticModel})<br>
 * \( \lambda \leftarrow \lambda / \omega \) if \( \rho &lt; 1/4 \) (or \( \rho \) is NaN), \(
 * \lambda \leftarrow \lambda \omega \) if \( \rho &gt; 3/4 \), unchanged otherwise; then clipped to
 * \( [\lambda _{\min}, \lambda_{\max}] \)
 *
 * <p>with \( \omega = \text{decay}^{T} \) for adaptations every T steps (the decay is "per step":
 * kfac-jax's {@code damping_adaptation_decay ** damping_adaptation_interval}). Adaptation steps are
 * the taken steps with index t such that \( (t - 1) \bmod T = 0 \) (t = 1, 1 + T, ...), as kfac-jax
 * adapts at its 0-based counts 0, T, 2T, ...
 *
 * <p>The value lives on the host: the ratio is read once per adaptation step. <b>Cost</b>: O(1).
 */
public final class AdaptiveDamping {

    /** Below this reduction ratio the damping rises. */
    public static final double LOWER_THRESHOLD = 0.25;

    /** Above this reduction ratio the damping falls. */
    public static final double UPPER_THRESHOLD = 0.75;

    /** The ratio a NaN ratio counts as (kfac-jax's {@code nan_to_num(rho, nan=-100)}). */
    static final double NAN_RATIO = -100;

    private final double min;
    private final double max;
    private final int interval;
    private final double factor;
    private double value;

    /**
     * Creates the rule.
     *
     * @param initial the first \( \lambda \), in [min, max]
     * @param min the lower bound, positive
     * @param max the upper bound, at least min and finite
     * @param interval T, the steps between adaptations, at least 1
     * @param decay the decay per step, in (0, 1)
     * @throws IllegalArgumentException naming the setting and its value if one is invalid
     */
    public AdaptiveDamping(double initial, double min, double max, int interval, double decay) {
        check(initial, min, max, interval, decay);
        this.min = min;
        this.max = max;
        this.interval = interval;
        this.factor = Math.pow(decay, interval);
        this.value = initial;
    }

    /**
     * Checks the settings of the rule.
     *
     * @param initial the first damping
     * @param min the lower bound
     * @param max the upper bound
     * @param interval steps between adaptations
     * @param decay decay per step
     * @throws IllegalArgumentException naming the setting and its value if one is invalid
     */
    public static void check(double initial, double min, double max, int interval, double decay) {
        if (!(min > 0) || !(max >= min) || Double.isInfinite(max)) {
            throw new IllegalArgumentException(
                    "dampingBounds must satisfy 0 < min <= max < Infinity, but were ["
                            + min
                            + ", "
                            + max
                            + "]");
        }
        if (!(initial >= min && initial <= max)) {
            throw new IllegalArgumentException(
                    "damping must lie within dampingBounds ["
                            + min
                            + ", "
                            + max
                            + "] for adaptive damping, but was "
                            + initial);
        }
        if (interval < 1) {
            throw new IllegalArgumentException(
                    "dampingAdaptationInterval must be at least 1, but was " + interval);
        }
        if (!(decay > 0 && decay < 1)) {
            throw new IllegalArgumentException(
                    "dampingAdaptationDecay must be in (0, 1), but was " + decay);
        }
    }

    /**
     * Returns the current damping.
     *
     * @return \( \lambda \)
     */
    public double value() {
        return value;
    }

    /**
     * Sets the damping, as a checkpoint restores it.
     *
     * @param damping \( \lambda \) in [min, max]
     * @throws IllegalArgumentException if it is outside the bounds
     */
    public void restore(double damping) {
        if (!(damping >= min && damping <= max)) {
            throw new IllegalArgumentException(
                    "the checkpoint's damping "
                            + damping
                            + " lies outside the bounds ["
                            + min
                            + ", "
                            + max
                            + "]");
        }
        this.value = damping;
    }

    /**
     * Tells whether the taken step with this index adapts the damping.
     *
     * @param index the 1-based index among taken steps
     * @return whether \( (t - 1) \bmod T = 0 \)
     */
    public boolean adapts(long index) {
        return (index - 1) % interval == 0;
    }

    /**
     * Returns the multiplier of one adaptation.
     *
     * @return \( \text{decay}^T \)
     */
    public double factor() {
        return factor;
    }

    /**
     * Adapts the damping to a reduction ratio.
     *
     * @param rho \( \rho \); NaN counts as a failed step
     * @return the new \( \lambda \)
     */
    public double adapt(double rho) {
        double r = Double.isNaN(rho) ? NAN_RATIO : rho;
        if (r < LOWER_THRESHOLD) {
            value = value / factor;
        } else if (r > UPPER_THRESHOLD) {
            value = value * factor;
        }
        value = Math.min(max, Math.max(min, value));
        return value;
    }

    /**
     * The reduction ratio \( \rho = (F(\theta + \delta) - F(\theta)) / (q(\delta) - q(0)) \).
     *
     * @param change \( F(\theta + \delta) - F(\theta) \)
     * @param predicted \( q(\delta) - q(0) \)
     * @return \( \rho \); NaN if either is not finite or the prediction is 0
     */
    public static double reductionRatio(double change, double predicted) {
        double rho = change / predicted;
        return Double.isFinite(rho) ? rho : Double.NaN;
    }
}
