/**
 * What K-FAC needs from a DJL model: {@link io.github.so4j.optimizers.kfac.Instrumentation} makes
 * every {@code Linear} and {@code Conv2d} layer of a block tree record its input and the gradient
 * of the loss with respect to its output during training forwards; {@link
 * io.github.so4j.optimizers.kfac.MonteCarloFisher} is the training step for the Monte-Carlo Fisher;
 * {@link io.github.so4j.optimizers.kfac.FirstOrderRule} moves the parameters K-FAC does not cover.
 *
 * <p>This package is about DJL blocks and training steps, not matrices: the factors and their
 * inverses are in {@code io.github.so4j.curvature.kfac}; {@link io.github.so4j.optimizers.Kfac}
 * joins the two.
 */
package io.github.so4j.optimizers.kfac;
