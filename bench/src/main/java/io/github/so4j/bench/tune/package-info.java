/**
 * {@code ./so4j tune}: log-spaced sweeps of each optimizer's learning rate (and of its damping
 * where the method needs it), the choice of the best point by a stated criterion, and the settings
 * file that {@code ./so4j compare --tuned FILE} applies. {@link io.github.so4j.bench.tune.Sweep}
 * runs a sweep and resumes a partly finished one; {@link io.github.so4j.bench.tune.TunedSettings}
 * reads and writes the settings file.
 */
package io.github.so4j.bench.tune;
