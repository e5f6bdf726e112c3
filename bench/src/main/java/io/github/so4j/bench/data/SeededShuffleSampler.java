package io.github.so4j.bench.data;

import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.dataset.Sampler;
import java.util.Iterator;
import java.util.Random;
import java.util.stream.LongStream;

/**
 * Visits a data set's indices in a random order that depends only on a seed.
 *
 * <p>DJL's {@link ai.djl.training.dataset.RandomSampler} draws from a process-wide generator, so
 * its order depends on everything else that drew from it. This sampler owns its generator: the k-th
 * call to {@link #sample} (the k-th epoch) gives the same permutation for the same seed and
 * data-set size, on every run. The permutation is a Fisher-Yates shuffle: O(n) time and memory.
 */
public final class SeededShuffleSampler implements Sampler.SubSampler {

    private final Random random;

    /**
     * Creates a sampler.
     *
     * @param seed the seed of the permutations
     */
    public SeededShuffleSampler(long seed) {
        this.random = new Random(seed);
    }

    /** {@inheritDoc} */
    @Override
    public Iterator<Long> sample(RandomAccessDataset dataset) {
        long[] order = LongStream.range(0, dataset.size()).toArray();
        for (int i = order.length - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            long swap = order[i];
            order[i] = order[j];
            order[j] = swap;
        }
        return LongStream.of(order).iterator();
    }
}
