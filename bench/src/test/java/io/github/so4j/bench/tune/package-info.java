/** Tests of the grid, the criterion, resuming, the settings file and {@code so4j tune}. */
package io.github.so4j.bench.tune;
