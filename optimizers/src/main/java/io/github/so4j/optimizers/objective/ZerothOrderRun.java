package io.github.so4j.optimizers.objective;

import ai.djl.ndarray.NDArray;

/**
 * The record of a zeroth-order run: the loss at each iterate and the number of function evaluations
 * spent when it was known.
 *
 * @param solution the last iterate, owned by the start's manager
 * @param evaluations the cumulative number of evaluations at each recorded iterate
 * @param values \( f(x_t) \) at each recorded iterate
 * @param reachedTarget whether a recorded value fell to the target or below
 */
public record ZerothOrderRun(
        NDArray solution, long[] evaluations, double[] values, boolean reachedTarget) {

    /**
     * Returns the evaluations spent until the loss first fell to a level.
     *
     * @param level the loss level
     * @return the evaluations, or -1 if the run never reached it
     */
    public long evaluationsTo(double level) {
        for (int t = 0; t < values.length; t++) {
            if (values[t] <= level) {
                return evaluations[t];
            }
        }
        return -1;
    }

    /**
     * Returns the last recorded loss.
     *
     * @return \( f(x_T) \)
     */
    public double finalValue() {
        return values[values.length - 1];
    }
}
