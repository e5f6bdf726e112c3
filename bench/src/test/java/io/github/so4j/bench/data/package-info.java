/** Tests of the Fashion-MNIST reader against the real files and against broken copies. */
package io.github.so4j.bench.data;
