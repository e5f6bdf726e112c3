package io.github.so4j.curvature.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/**
 * A layer's preconditioned gradient: the directions of its parameters and the squared norm of its
 * gradient in the metric of the damped inverse, \( \langle V, M \rangle = \mathrm{vec}(M)^\top \hat
 * F^{-1} \mathrm{vec}(M) \) (the quantity K-FAC's KL clipping bounds).
 *
 * <p>A direction may come with a scale still to apply, \( V = s \cdot U \): a caller that scales
 * the directions anyway (K-FAC's KL clip) folds s into its own factor and saves a pass over every
 * parameter. {@link #scaled()} applies it.
 *
 * @param directions U, split into the weight's direction and, if the layer has one, the bias's,
 *     each shaped as its parameter
 * @param squaredNorm \( \langle V, M \rangle \) (scale included), a scalar
 * @param scale s, a scalar on the device, or {@code null} for 1 (then U is V)
 */
public record LayerDirection(NDList directions, NDArray squaredNorm, NDArray scale) {

    /**
     * A direction with no scale left to apply.
     *
     * @param directions V, split as in the record
     * @param squaredNorm \( \langle V, M \rangle \)
     */
    public LayerDirection(NDList directions, NDArray squaredNorm) {
        this(directions, squaredNorm, null);
    }

    /**
     * Applies the scale, in place.
     *
     * @return this direction with {@link #directions()} equal to V and no scale
     */
    public LayerDirection scaled() {
        if (scale == null) {
            return this;
        }
        for (NDArray direction : directions) {
            direction.muli(scale);
        }
        return new LayerDirection(directions, squaredNorm);
    }
}
