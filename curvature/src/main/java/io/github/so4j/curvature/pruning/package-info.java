/**
 * One-shot pruning of a trained DJL model: Optimal Brain Surgeon with M-FAC's blockwise inverse
 * Fisher ({@link io.github.so4j.curvature.pruning.ObsPruner}), and global magnitude pruning as the
 * baseline ({@link io.github.so4j.curvature.pruning.MagnitudePruner}), both over the weights a
 * {@link io.github.so4j.curvature.pruning.PrunableWeights} selects.
 */
package io.github.so4j.curvature.pruning;
