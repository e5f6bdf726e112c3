/**
 * The optimizers the harness knows by name, with their tunable settings and defaults: see {@link
 * io.github.so4j.bench.optimizer.OptimizerCatalog}.
 */
package io.github.so4j.bench.optimizer;
