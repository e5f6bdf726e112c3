/**
 * {@code so4j reproduce}: named recipes with fixed settings that redraw a paper's figure at the
 * scale of a 2-core machine and print the numbers beside it. {@link
 * io.github.so4j.bench.reproduce.Recipes} lists them.
 */
package io.github.so4j.bench.reproduce;
