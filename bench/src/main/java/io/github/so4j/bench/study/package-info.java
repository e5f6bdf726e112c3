/**
 * Reusable pieces of the paper recipes that {@code ./so4j reproduce} runs: each study computes a
 * paper's quantities for a model or problem and writes them as CSV files to plot or returns them as
 * tables for {@code docs/}, for example {@link io.github.so4j.bench.study.HessianSpectrumStudy}
 * (PyHessian's top eigenvalues, trace and spectral density), {@link
 * io.github.so4j.bench.study.ZoSahStudy} (ZO-SAH against ZO-SGD in function evaluations) and {@link
 * io.github.so4j.bench.study.ShampooApproximationStudy} (Kronecker approximations of the
 * full-matrix AdaGrad statistic).
 */
package io.github.so4j.bench.study;
