/**
 * Data sets for the harness and the integration tests: Fashion-MNIST read from its IDX files,
 * offline, as a DJL {@link ai.djl.training.dataset.ArrayDataset}.
 *
 * <p>{@link io.github.so4j.bench.data.FashionMnistDataset} is the entry point; {@link
 * io.github.so4j.bench.data.FashionMnistFiles} finds and validates the files.
 */
package io.github.so4j.bench.data;
