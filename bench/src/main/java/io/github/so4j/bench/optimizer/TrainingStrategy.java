package io.github.so4j.bench.optimizer;

import ai.djl.nn.Block;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.optimizer.Optimizer;

/**
 * How the harness trains with one optimizer: the model preparation and the step it needs.
 *
 * <p>Most optimizers are drop-ins and use {@link #EASY_TRAIN}, exactly what a DJL user writes. Some
 * need more: K-FAC instruments the model's layers before initialization; methods that evaluate
 * extra Hessian products on the batch drive the step themselves.
 */
public interface TrainingStrategy {

    /** {@link EasyTrain#trainBatch} then {@link Trainer#step()}: the DJL user's own loop. */
    TrainingStrategy EASY_TRAIN =
            (trainer, batch, optimizer) -> {
                EasyTrain.trainBatch(trainer, batch);
                trainer.step();
                return Double.NaN;
            };

    /**
     * Prepares the model's block before it is initialized.
     *
     * @param block the workload's block
     * @param optimizer the optimizer that will train it
     * @return the block to train (by default {@code block} itself)
     */
    default Block prepare(Block block, Optimizer optimizer) {
        return block;
    }

    /**
     * Trains on one batch and updates the weights.
     *
     * @param trainer the trainer
     * @param batch the batch
     * @param optimizer the trainer's optimizer
     * @return the batch loss before the update, or NaN to use the one {@link EasyTrain} reported to
     *     the trainer's listeners
     */
    double step(Trainer trainer, Batch batch, Optimizer optimizer);
}
