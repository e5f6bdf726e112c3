/**
 * DJL {@link ai.djl.training.optimizer.Optimizer}s built on so4j's curvature estimates, usable as a
 * drop-in in {@code DefaultTrainingConfig.optOptimizer(...)} and {@code EasyTrain.fit(...)}.
 *
 * <p>{@link io.github.so4j.optimizers.SecondOrderOptimizer} is their common base: it gathers every
 * parameter's gradient at the first update of a step and runs the step guard ({@link
 * io.github.so4j.optimizers.Step}): one decision per step, made on the device, masks every change
 * of state, so a rejected step leaves no trace and an ordinary step reads nothing from the device.
 * It reports what it did through {@link io.github.so4j.optimizers.OptimizerHealth}. Momentum,
 * weight decay and Adam's moments are shared update transforms ({@code
 * io.github.so4j.optimizers.transform}), whose per-parameter state {@link
 * io.github.so4j.optimizers.TransformState} keeps. {@link io.github.so4j.optimizers.MFac} is M-FAC,
 * {@link io.github.so4j.optimizers.Kfac} K-FAC, {@link io.github.so4j.optimizers.Shampoo} Shampoo,
 * {@link io.github.so4j.optimizers.SubspaceNewton} subspace Newton, which takes the batch through
 * its train-step helper, {@link io.github.so4j.optimizers.Muon} Muon, which takes the model's block
 * to find its output layer. Optimizers of objectives given as functions, outside DJL's training
 * loop, are in {@code io.github.so4j.optimizers.objective}.
 */
package io.github.so4j.optimizers;
