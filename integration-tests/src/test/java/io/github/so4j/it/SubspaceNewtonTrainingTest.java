package io.github.so4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.compare.Evaluation;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.curvature.Devices;
import io.github.so4j.optimizers.SubspaceNewton;
import java.io.IOException;
import java.util.Iterator;
import org.junit.jupiter.api.Test;

/**
 * Subspace Newton on Fashion-MNIST multinomial logistic regression (784 inputs, 10 classes, d =
 * 7850), through its train-step helper, against plain SGD at equal steps.
 */
class SubspaceNewtonTrainingTest {

    private static final int SUBSET = 10_000;
    private static final int BATCH = 256;
    private static final int STEPS = 50;

    /**
     * 50 steps of batch 256 on a 10,000-example subset, from the same initialization and batch
     * order; the loss compared is over the whole subset after training. SGD gets the best of
     * learning rates 0.03, 0.1 and 0.3 (0.1 is best: 1.17, 0.83 and 0.99 were measured); subspace
     * Newton runs with KRYLOV, k = 10 and its defaults, ten exact Hessian products per step.
     * Measured: subspace Newton 0.41 against SGD 0.83.
     */
    @Test
    void subspaceNewtonBeatsSgdAtEqualSteps() throws IOException, TranslateException {
        double sgd = Double.POSITIVE_INFINITY;
        for (float rate : new float[] {0.03f, 0.1f, 0.3f}) {
            Optimizer optimizer =
                    Optimizer.sgd().setLearningRateTracker(Tracker.fixed(rate)).build();
            sgd = Math.min(sgd, train(optimizer, null));
        }
        SubspaceNewton newton = SubspaceNewton.builder().optDimension(10).build();
        double subspace = train(newton, newton);
        assertTrue(subspace < sgd, "subspace Newton " + subspace + " vs SGD " + sgd);
        assertEquals(STEPS, newton.health().steps());
        assertEquals(0, newton.health().skippedSteps());
    }

    /** Trains for exactly STEPS steps (cycling epochs) and returns the loss over the subset. */
    private static double train(Optimizer optimizer, SubspaceNewton newton)
            throws IOException, TranslateException {
        Engine.getInstance().setRandomSeed(0);
        try (NDManager manager = NDManager.newBaseManager(Devices.preferred());
                Model model = Model.newInstance("logistic", Devices.preferred())) {
            model.setBlock(Linear.builder().setUnits(10).build());
            FashionMnistDataset data =
                    Training.data(manager, Dataset.Usage.TRAIN, SUBSET, true, BATCH);
            try (Trainer trainer =
                    model.newTrainer(
                            new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                                    .optOptimizer(optimizer))) {
                trainer.initialize(new Shape(1, 784));
                int done = 0;
                while (done < STEPS) {
                    Iterator<Batch> batches = trainer.iterateDataset(data).iterator();
                    while (batches.hasNext() && done < STEPS) {
                        try (Batch batch = batches.next()) {
                            if (newton != null) {
                                newton.trainStep(trainer, batch);
                            } else {
                                EasyTrain.trainBatch(trainer, batch);
                                trainer.step();
                            }
                            done++;
                        }
                    }
                }
                return Evaluation.of(trainer, data, true).meanLoss();
            }
        }
    }
}
