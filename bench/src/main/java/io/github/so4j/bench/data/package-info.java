/**
 * Data sets for the harness and the integration tests, read offline from Debian's packages:
 * Fashion-MNIST from its IDX files as a DJL {@link ai.djl.training.dataset.ArrayDataset}, and the
 * English text of the fortune cookies as windows of characters.
 *
 * <p>{@link io.github.so4j.bench.data.FashionMnistDataset} is the entry point for the images;
 * {@link io.github.so4j.bench.data.FashionMnistFiles} finds and validates the files. For the text,
 * {@link io.github.so4j.bench.data.FortuneCorpus} reads and splits the corpus, {@link
 * io.github.so4j.bench.data.CharVocabulary} encodes it, and {@link
 * io.github.so4j.bench.data.CharWindowDataset} serves windows of it.
 */
package io.github.so4j.bench.data;
