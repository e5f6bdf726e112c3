/**
 * JMH microbenchmarks of the curvature kernels, named {@code Benchmark<Component>}, with their
 * parameter grids live and only the measured work inside each {@code @Benchmark} method. Run them
 * with {@code ./so4j jmh [pattern]}.
 */
package io.github.so4j.bench.jmh;
