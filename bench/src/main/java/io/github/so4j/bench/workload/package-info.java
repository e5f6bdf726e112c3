/**
 * The named training problems of the harness, each with a fixed, documented architecture and data:
 * see {@link io.github.so4j.bench.workload.Workload}. The blocks of the character language model
 * ({@link io.github.so4j.bench.workload.CharTransformer}) live here too.
 */
package io.github.so4j.bench.workload;
