/**
 * Reusable pieces of the paper recipes that {@code ./so4j reproduce} runs: each study computes a
 * paper's quantities for a model or problem and writes them as CSV files to plot, for example
 * {@link io.github.so4j.bench.study.HessianSpectrumStudy} (PyHessian's top eigenvalues, trace and
 * spectral density) and {@link io.github.so4j.bench.study.ZoSahStudy} (ZO-SAH against ZO-SGD in
 * function evaluations).
 */
package io.github.so4j.bench.study;
