/**
 * The {@code so4j} command line: {@link io.github.so4j.bench.Main} and its sub-commands.
 *
 * <p>Nothing in {@code curvature} or {@code optimizers} depends on this module.
 */
package io.github.so4j.bench;
