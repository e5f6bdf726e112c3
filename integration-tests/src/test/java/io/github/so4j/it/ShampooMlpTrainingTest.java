package io.github.so4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDManager;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.curvature.Devices;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.optimizers.Shampoo;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** Shampoo as a drop-in DJL optimizer on the Fashion-MNIST MLP. */
class ShampooMlpTrainingTest {

    private static final int SUBSET = 10_000;
    private static final int STEPS = 300;

    /**
     * Shampoo with its defaults (Adam grafting, relative epsilon 1e-4, roots every 50 steps from
     * step 50, running-sum statistics, with blocks of at most 64) against DJL's Adam, 300 steps of
     * batch 128 on a 10,000-example subset, from the same initialization and batch order. Each gets
     * the best of three learning rates a factor of 2 apart that bracket its own optimum: Adam
     * {2e-3, 4e-3, 8e-3} (measured losses 0.337, 0.324, 0.350), Shampoo {1e-3, 2e-3, 4e-3} (0.298,
     * 0.276, 0.287). The loss compared is over the whole subset after training: 0.276 against
     * 0.324, a margin four times the spread between Shampoo's neighbouring rates, so the test
     * discriminates without depending on rounding. (One epoch of the harness's mlp workload:
     * docs/shampoo.md.)
     */
    @Test
    void shampooReachesALowerTrainingLossThanAdam() throws IOException, TranslateException {
        double adam =
                Training.bestMlpLoss(
                        lr -> Optimizer.adam().optLearningRateTracker(Tracker.fixed(lr)).build(),
                        SUBSET,
                        STEPS,
                        2e-3f,
                        4e-3f,
                        8e-3f);
        double shampoo =
                Training.bestMlpLoss(
                        lr ->
                                Shampoo.builder()
                                        .optLearningRate(lr)
                                        .optMaxPreconditionerDim(64)
                                        .build(),
                        SUBSET,
                        STEPS,
                        1e-3f,
                        2e-3f,
                        4e-3f);
        assertTrue(shampoo < adam, "Shampoo " + shampoo + " vs Adam " + adam);
    }

    /**
     * 500 steps on real data through EasyTrain, roots every 50 steps, momentum and weight decay on:
     * the model's live-array count stays flat and no root computation fails.
     */
    @Test
    void fiveHundredStepsDoNotGrowTheLiveArrayCount() throws IOException, TranslateException {
        Shampoo shampoo =
                Shampoo.builder()
                        .optMaxPreconditionerDim(64)
                        .optMomentum(0.5f)
                        .optNesterov(true)
                        .optWeightDecays(1e-4f)
                        .build();
        try (NDManager manager = NDManager.newBaseManager(Devices.preferred());
                Model model = Training.model(Workload.MLP, 1);
                Trainer trainer = Training.trainer(model, Workload.MLP, shampoo)) {
            FashionMnistDataset data = Training.data(manager, Dataset.Usage.TRAIN, 2000, true, 64);
            Training.train(trainer, data, 20);
            int warm = LiveArrays.count(model.getNDManager());
            Training.train(trainer, data, 500);
            assertEquals(warm, LiveArrays.count(model.getNDManager()));
            assertEquals(520, shampoo.health().steps());
            assertEquals(0, shampoo.health().skippedSteps());
            assertEquals(0, shampoo.rootHealth().failedRoots());
            assertEquals(3 * 10, shampoo.rootHealth().computations());
        }
    }
}
