/**
 * The named training problems of the harness, each with a fixed, documented architecture: see
 * {@link io.github.so4j.bench.workload.Workload}.
 */
package io.github.so4j.bench.workload;
