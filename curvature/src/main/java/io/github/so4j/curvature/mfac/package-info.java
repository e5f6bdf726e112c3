/**
 * M-FAC: matrix-free products with the inverse of a damped empirical Fisher built from m gradients
 * (Frantar, Kurtic and Alistarh, NeurIPS 2021).
 *
 * <p>Both of the paper's algorithms apply \( F^{-1} \) for \( F = \lambda I + \frac{1}{m}
 * \sum_{i=1}^m g_i g_i^\top \) without ever forming a d x d matrix: {@link
 * io.github.so4j.curvature.mfac.SlidingWindowFisher} (the dynamic algorithm: a ring buffer of the
 * last m gradients, for optimization) and {@link io.github.so4j.curvature.mfac.BlockFisher} (the
 * static algorithm in blockwise form, with O(m) single-entry queries, for pruning).
 *
 * @see <a href="https://arxiv.org/abs/2107.03356">paper</a>
 */
package io.github.so4j.curvature.mfac;
