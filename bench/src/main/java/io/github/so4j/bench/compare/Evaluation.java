package io.github.so4j.bench.compare;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.BatchSampler;
import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.dataset.SequenceSampler;
import ai.djl.translate.TranslateException;
import java.io.IOException;

/**
 * The mean loss and the accuracy of a model over a whole data set, in inference mode.
 *
 * <p>The accuracy compares the arg-max over the predictions' last axis with the labels, element by
 * element: one class per example for a classifier ({@code (B, classes)} against {@code (B)}), one
 * per position for a sequence model ({@code (B, T, vocabulary)} against {@code (B, T)}: the
 * fraction of characters predicted exactly).
 *
 * @param meanLoss the loss averaged over all examples (the workload's loss is a mean over each
 *     example's elements, and every example has as many)
 * @param accuracy the fraction of labels equal to the arg-max prediction, or {@code NaN} when the
 *     labels are not class indices
 * @param examples the number of examples
 */
public record Evaluation(double meanLoss, double accuracy, long examples) {

    private static final int BATCH = 1000;

    /**
     * Evaluates a trainer's model on a data set, in batches of 1000, without gradients.
     *
     * @param trainer the trainer (its loss and model are used)
     * @param dataset the data set
     * @param classification whether to compute the accuracy
     * @return the evaluation
     * @throws IOException if the data cannot be read
     * @throws TranslateException if batching fails
     */
    public static Evaluation of(
            Trainer trainer, RandomAccessDataset dataset, boolean classification)
            throws IOException, TranslateException {
        double lossSum = 0;
        long correct = 0;
        long labelled = 0;
        long count = 0;
        BatchSampler sampler = new BatchSampler(new SequenceSampler(), BATCH, false);
        for (Batch batch : dataset.getData(trainer.getManager(), sampler)) {
            try (batch) {
                NDList predictions = trainer.evaluate(batch.getData());
                NDList labels = batch.getLabels();
                long size = labels.head().getShape().get(0);
                try (NDArray loss = trainer.getLoss().evaluate(labels, predictions)) {
                    lossSum += loss.getFloat() * (double) size;
                }
                if (classification) {
                    try (NDArray predicted = predictions.head().argMax(-1);
                            NDArray truth = labels.head().toType(DataType.INT64, false);
                            NDArray hits = predicted.eq(truth);
                            NDArray total = hits.sum()) {
                        correct += total.toType(DataType.INT64, false).getLong();
                        labelled += truth.size();
                    }
                }
                predictions.close();
                count += size;
            }
        }
        return new Evaluation(
                lossSum / count, classification ? (double) correct / labelled : Double.NaN, count);
    }
}
