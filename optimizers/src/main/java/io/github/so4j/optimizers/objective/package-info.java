/**
 * Optimizers of an objective given as a function of a flat parameter vector, outside DJL's training
 * loop: zeroth-order methods that see function values only ({@link
 * io.github.so4j.optimizers.objective.ZoSah}, {@link io.github.so4j.optimizers.objective.ZoSgd}),
 * and Newton's method with global stepsize schedules for small convex problems ({@link
 * io.github.so4j.optimizers.objective.DampedNewton}).
 *
 * <p>Why here and not in {@code curvature.subspace}: these are optimizers (they own step sizes,
 * stopping rules and iterates), and the curvature module knows matrices, not training; what they
 * estimate or factor lives there ({@link io.github.so4j.curvature.subspace.PlanarQuadratic}, the
 * objectives, {@link io.github.so4j.curvature.subspace.LogisticRegression}). Why not in the package
 * of the DJL {@code Optimizer}s: they do not follow DJL's per-parameter update protocol; they drive
 * the objective themselves and count its evaluations.
 */
package io.github.so4j.optimizers.objective;
