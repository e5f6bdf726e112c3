package io.github.so4j.bench.reproduce;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.translate.Batchifier;
import io.github.so4j.bench.optimizer.TrainingStrategy;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The growing mini-batch schedule of TensorFlow K-FAC's deep autoencoder example ({@code
 * kfac/examples/autoencoder_mnist.py}, github.com/tensorflow/kfac): for the 0-based step k,
 *
 * <p>\( b_k = \min(\lfloor 2^{k / c}\, b_0 \rfloor, b_{\max}) \) with \( c = (K - 1) /
 * \log_2(b_{\max} / b_0) \) for k &lt; K, and \( b_{K - 1} \) from then on,
 *
 * <p>so the batch grows geometrically from \( b_0 \) to \( b_{\max} \) over the first K steps (the
 * example: \( b_0 = 1000 \), \( b_{\max} = 60000 \), the whole of MNIST's training set, and K =
 * 500). {@link #wrap} applies it to a training strategy by handing it the first \( b_k \) examples
 * of each (shuffled) batch of \( b_{\max} \), so every optimizer of a comparison sees the same
 * examples. Cost: O(1) per step, and the slices are views of the batch's arrays.
 */
public final class BatchSchedule {

    private final int start;
    private final int max;
    private final int steps;
    private final double divisor;

    private BatchSchedule(int start, int max, int steps) {
        this.start = start;
        this.max = max;
        this.steps = steps;
        this.divisor = (steps - 1) / (Math.log((double) max / start) / Math.log(2));
    }

    /**
     * Creates the schedule.
     *
     * @param start \( b_0 \), at least 1
     * @param max \( b_{\max} \), at least {@code start}
     * @param steps K, the steps over which the batch grows, at least 2
     * @return the schedule
     * @throws IllegalArgumentException naming the parameter and its value if one is invalid
     */
    public static BatchSchedule growing(int start, int max, int steps) {
        if (start < 1) {
            throw new IllegalArgumentException("start must be at least 1, but was " + start);
        }
        if (max < start) {
            throw new IllegalArgumentException(
                    "max must be at least start (" + start + "), but was " + max);
        }
        if (steps < 2) {
            throw new IllegalArgumentException("steps must be at least 2, but was " + steps);
        }
        return new BatchSchedule(start, max, steps);
    }

    /**
     * Returns the batch size of a step.
     *
     * @param step the 1-based step (k + 1), at least 1
     * @return \( b_{\min(k, K - 1)} \)
     * @throws IllegalArgumentException if {@code step} is less than 1
     */
    public int size(int step) {
        if (step < 1) {
            throw new IllegalArgumentException("step must be at least 1, but was " + step);
        }
        if (max == start) {
            return max;
        }
        int k = Math.min(step - 1, steps - 1);
        return (int) Math.min((long) (Math.pow(2, k / divisor) * start), max);
    }

    /**
     * Returns \( b_{\max} \), the batch size the data must be drawn at.
     *
     * @return the largest batch
     */
    public int max() {
        return max;
    }

    /**
     * Returns a strategy that trains each call's step on the first {@link #size} examples of the
     * batch it is given (of at most {@link #max()} examples), counting its own calls; a fresh one
     * for each run.
     *
     * @param strategy the strategy to apply to the smaller batches
     * @return the scheduled strategy
     */
    public TrainingStrategy wrap(TrainingStrategy strategy) {
        int[] calls = new int[1];
        return new TrainingStrategy() {
            @Override
            public ai.djl.nn.Block prepare(ai.djl.nn.Block block, Optimizer optimizer) {
                return strategy.prepare(block, optimizer);
            }

            @Override
            public double step(Trainer trainer, Batch batch, Optimizer optimizer) {
                return strategy.step(trainer, head(batch, size(++calls[0])), optimizer);
            }
        };
    }

    /**
     * The first {@code size} examples of a batch, as views owned by its manager (the batch itself
     * when it has no more); an array that is both data and label (an autoencoder's) stays one.
     *
     * @param batch the batch. Not modified.
     * @param size the examples to keep
     * @return the smaller batch; do not close it (the given batch owns its arrays)
     */
    static Batch head(Batch batch, int size) {
        if (size >= batch.getSize()) {
            return batch;
        }
        Map<NDArray, NDArray> sliced = new IdentityHashMap<>();
        NDList data = slice(batch.getData(), size, sliced);
        NDList labels = slice(batch.getLabels(), size, sliced);
        return new Batch(
                batch.getManager(),
                data,
                labels,
                size,
                Batchifier.STACK,
                Batchifier.STACK,
                batch.getProgress(),
                batch.getProgressTotal());
    }

    private static NDList slice(NDList arrays, int size, Map<NDArray, NDArray> sliced) {
        NDList out = new NDList(arrays.size());
        for (NDArray array : arrays) {
            out.add(sliced.computeIfAbsent(array, a -> a.get(":" + size)));
        }
        return out;
    }
}
