package io.github.so4j.curvature.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/**
 * A layer's preconditioned gradient: the directions of its parameters and the squared norm of its
 * gradient in the metric of the damped inverse, \( \langle V, M \rangle = \mathrm{vec}(M)^\top \hat
 * F^{-1} \mathrm{vec}(M) \) (the quantity K-FAC's KL clipping bounds).
 *
 * @param directions \( V \) split into the weight's direction and, if the layer has one, the
 *     bias's, each shaped as its parameter
 * @param squaredNorm \( \langle V, M \rangle \), a scalar
 */
public record LayerDirection(NDList directions, NDArray squaredNorm) {}
