package io.github.so4j.curvature.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.translate.TranslateException;
import ai.djl.util.Pair;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;

/**
 * Gradients from a DJL {@link Trainer}: the trainer's loss on the batches of a data set, with the
 * model in inference mode (as the reference code does for pruning), cycling through the data.
 */
public final class TrainerGradientSource implements GradientSource {

    private final Trainer trainer;
    private final RandomAccessDataset data;
    private Iterator<Batch> batches;

    /**
     * Creates a source.
     *
     * @param trainer the trainer of the model to prune (its loss is used)
     * @param data the data; its sampling sets the mini-batch size of each gradient
     */
    public TrainerGradientSource(Trainer trainer, RandomAccessDataset data) {
        this.trainer = trainer;
        this.data = data;
    }

    /** {@inheritDoc} */
    @Override
    public void backwardNext() {
        clearGradients();
        try (Batch batch = next()) {
            try (GradientCollector collector = trainer.newGradientCollector()) {
                NDList predictions = trainer.evaluate(batch.getData());
                NDArray loss = trainer.getLoss().evaluate(batch.getLabels(), predictions);
                collector.backward(loss);
            }
        }
    }

    private Batch next() {
        try {
            if (batches == null || !batches.hasNext()) {
                batches = data.getData(trainer.getManager()).iterator();
            }
            return batches.next();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (TranslateException e) {
            throw new IllegalStateException("cannot batch the pruning data", e);
        }
    }

    private void clearGradients() {
        for (Pair<String, Parameter> pair : trainer.getModel().getBlock().getParameters()) {
            NDArray array = pair.getValue().getArray();
            if (array.hasGradient()) {
                try (NDArray gradient = array.getGradient();
                        NDManager scope = array.getManager().newSubManager()) {
                    scope.tempAttachAll(gradient);
                    gradient.set(new NDIndex("..."), 0);
                }
            }
        }
    }
}
