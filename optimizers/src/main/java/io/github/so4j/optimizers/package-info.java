/**
 * DJL {@link ai.djl.training.optimizer.Optimizer}s built on so4j's curvature estimates, usable as a
 * drop-in in {@code DefaultTrainingConfig.optOptimizer(...)} and {@code EasyTrain.fit(...)}.
 *
 * <p>{@link io.github.so4j.optimizers.SecondOrderOptimizer} is their common base: it gathers every
 * parameter's gradient at the first update of a step, skips steps with non-finite gradients, and
 * reports what it did through {@link io.github.so4j.optimizers.OptimizerHealth}. {@link
 * io.github.so4j.optimizers.MFac} is M-FAC; {@link io.github.so4j.optimizers.SubspaceNewton} is
 * subspace Newton, which takes the batch through its train-step helper. Optimizers of objectives
 * given as functions, outside DJL's training loop, are in {@code
 * io.github.so4j.optimizers.objective}.
 */
package io.github.so4j.optimizers;
