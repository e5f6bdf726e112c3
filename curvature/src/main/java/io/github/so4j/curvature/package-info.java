/**
 * Curvature estimates (Fisher and Hessian structure) on DJL {@link ai.djl.ndarray.NDArray}s.
 *
 * <p>This module knows matrices, not training: it turns gradients (and, for K-FAC, layer inputs and
 * output gradients) into curvature estimates and applies their damped inverses or inverse roots to
 * vectors, on whatever device the arrays live. {@link io.github.so4j.curvature.Devices} picks the
 * device that tools and tests use.
 */
package io.github.so4j.curvature;
