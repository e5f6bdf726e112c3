/**
 * {@code ./so4j compare}: trains named workloads with named optimizers side by side, timing every
 * step, and writes curves and a summary. {@link io.github.so4j.bench.compare.TrainingRun} runs one
 * training; {@link io.github.so4j.bench.compare.CompareCommand} is the command line.
 */
package io.github.so4j.bench.compare;
