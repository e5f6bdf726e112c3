/**
 * Shampoo: Kronecker-factored preconditioning of matrix-shaped gradients (Gupta, Koren and Singer,
 * ICML 2018; the scalable version of Anil et al., 2020).
 *
 * <p>{@link io.github.so4j.curvature.shampoo.BlockLayout} sees a tensor as a matrix cut into
 * blocks; {@link io.github.so4j.curvature.shampoo.ShampooPreconditioner} keeps each block's
 * statistics \( L = \sum G G^\top \), \( R = \sum G^\top G \) (or their exponential averages) and
 * their inverse roots, computed every few steps with the failure ladder described there, and
 * applies \( L^{-1/4} G R^{-1/4} \). The inverse roots themselves come from {@link
 * io.github.so4j.curvature.linalg}. This package knows nothing of training: grafting, momentum and
 * learning rates are the optimizer's.
 *
 * @see <a href="https://arxiv.org/abs/1802.09568">paper</a>
 */
package io.github.so4j.curvature.shampoo;
