/** Tests of the harness's optimizer catalog. */
package io.github.so4j.bench.optimizer;
