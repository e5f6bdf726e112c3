/** End-to-end tests of {@code so4j compare} on tiny settings. */
package io.github.so4j.bench.compare;
