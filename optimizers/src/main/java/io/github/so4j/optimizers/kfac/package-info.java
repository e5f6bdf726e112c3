/**
 * What K-FAC needs from a DJL model: {@link io.github.so4j.optimizers.kfac.Instrumentation} makes
 * every {@code Linear} and {@code Conv2d} layer of a block tree record its input and the gradient
 * of the loss with respect to its output during training forwards; {@link
 * io.github.so4j.optimizers.kfac.MonteCarloFisher} is the training step for the Monte-Carlo Fisher;
 * {@link io.github.so4j.optimizers.kfac.FirstOrderRule} names the rule that moves the parameters
 * K-FAC does not cover; {@link io.github.so4j.optimizers.kfac.CurvatureEstimator} owns the layers'
 * curvature blocks and decides, under the step guard, when their factors and inverses are updated.
 *
 * <p>The factors and their inverses are in {@code io.github.so4j.curvature.kfac}; {@link
 * io.github.so4j.optimizers.Kfac} joins the estimator to the update rule.
 */
package io.github.so4j.optimizers.kfac;
