package io.github.so4j.curvature.subspace;

import ai.djl.ndarray.NDArray;

/**
 * A loss given as a function of a flat parameter vector, known through its values only: what
 * zeroth-order methods work with.
 *
 * <p>{@link BlockObjective} wraps a DJL block, loss and batch; {@link SmoothObjective} adds
 * derivatives.
 */
@FunctionalInterface
public interface Objective {

    /**
     * Evaluates the loss.
     *
     * @param x the parameters, shape (d). Not modified.
     * @return \( f(x) \)
     */
    double value(NDArray x);
}
