package io.github.so4j.optimizers.objective;

/**
 * When a zeroth-order run stops: after a number of function evaluations, or once the loss at an
 * iterate falls to a target.
 *
 * @param maxEvaluations the most evaluations, at least 1
 * @param target stop once \( f(x_t) \le \) target; {@code Double.NEGATIVE_INFINITY} never stops
 *     early
 */
public record Budget(long maxEvaluations, double target) {

    /**
     * Validates the budget.
     *
     * @param maxEvaluations the most evaluations, at least 1
     * @param target the loss at which to stop, not NaN
     * @throws IllegalArgumentException if maxEvaluations is below 1 or target is NaN
     */
    public Budget {
        if (maxEvaluations < 1) {
            throw new IllegalArgumentException(
                    "maxEvaluations must be at least 1, but was " + maxEvaluations);
        }
        if (Double.isNaN(target)) {
            throw new IllegalArgumentException("target must not be NaN");
        }
    }
}
