/**
 * The Hessian seen through a few directions at a time: products, spectra and traces, and the
 * zeroth-order pieces that estimate curvature from function values alone.
 *
 * <p>{@link io.github.so4j.curvature.subspace.BatchCurvature} multiplies vectors by the Hessian
 * (exactly, by double backward on DJL's PyTorch engine, or by finite differences on any engine) or
 * by the Gauss-Newton matrix of a DJL block's loss on one batch. Everything else works on a {@link
 * io.github.so4j.curvature.subspace.SymmetricOperator}: {@link
 * io.github.so4j.curvature.subspace.Lanczos} (top eigenpairs with full reorthogonalization), {@link
 * io.github.so4j.curvature.subspace.HutchinsonTrace} and {@link
 * io.github.so4j.curvature.subspace.SpectralDensity} (stochastic Lanczos quadrature), parity with
 * PyHessian.
 */
package io.github.so4j.curvature.subspace;
