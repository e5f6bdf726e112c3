package io.github.so4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.compare.Evaluation;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.curvature.Devices;
import io.github.so4j.curvature.pruning.MagnitudePruner;
import io.github.so4j.curvature.pruning.ObsPruner;
import io.github.so4j.curvature.pruning.PrunableWeights;
import io.github.so4j.curvature.pruning.TrainerGradientSource;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * One-shot pruning of the Fashion-MNIST MLP (trained two epochs with Adam) to 90% sparsity of its
 * weight matrices: OBS with M-FAC's blockwise Fisher against global magnitude pruning, no
 * fine-tuning, from the same trained weights.
 */
class MFacPruningTest {

    @Test
    void obsKeepsHigherTestAccuracyThanMagnitudeAtNinetyPercent()
            throws IOException, TranslateException {
        try (NDManager manager = NDManager.newBaseManager(Devices.preferred());
                Model model = Training.model(Workload.MLP, 0);
                Trainer trainer =
                        Training.trainer(
                                model,
                                Workload.MLP,
                                Optimizer.adam()
                                        .optLearningRateTracker(Tracker.fixed(1e-3f))
                                        .build())) {
            FashionMnistDataset train =
                    Training.data(manager, Dataset.Usage.TRAIN, 60_000, true, 128);
            FashionMnistDataset test =
                    Training.data(manager, Dataset.Usage.TEST, 10_000, true, 1000);
            FashionMnistDataset gradients =
                    Training.data(manager, Dataset.Usage.TRAIN, 60_000, true, 32);
            Training.train(trainer, train, 938);
            double dense = Evaluation.of(trainer, test, true).accuracy();

            NDArray trained;
            double magnitude;
            try (PrunableWeights weights = PrunableWeights.weightsOf(model.getBlock())) {
                trained = weights.values(manager);
                new MagnitudePruner().prune(weights, 0.9);
                assertEquals(0.9, weights.sparsity(), 1e-6);
                magnitude = Evaluation.of(trainer, test, true).accuracy();
            }
            double obs;
            try (PrunableWeights weights = PrunableWeights.weightsOf(model.getBlock())) {
                weights.write(trained);
                ObsPruner.builder()
                        .setGradientSource(new TrainerGradientSource(trainer, gradients))
                        .optGradients(64)
                        .optBlockSize(128)
                        .optDamping(1e-5)
                        .optRecomputations(8)
                        .build()
                        .prune(weights, 0.9);
                assertEquals(0.9, weights.sparsity(), 1e-6);
                obs = Evaluation.of(trainer, test, true).accuracy();
            }
            System.out.printf(
                    "pruning to 90%%: dense %.4f, magnitude %.4f, M-FAC OBS %.4f%n",
                    dense, magnitude, obs);
            assertTrue(obs > magnitude, "OBS " + obs + " vs magnitude " + magnitude);
        }
    }
}
