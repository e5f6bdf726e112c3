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
import io.github.so4j.optimizers.Muon;
import io.github.so4j.optimizers.SecondOrderOptimizer;
import io.github.so4j.optimizers.Soap;
import java.io.IOException;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Muon and SOAP as drop-in DJL optimizers on the Fashion-MNIST MLP: 300 steps of batch 128 on a
 * 10,000-example subset, from the same initialization and batch order as Adam. Each gets the best
 * of three learning rates a factor of 2 apart around its default: Adam {2e-3, 4e-3, 8e-3}, Muon
 * {0.01, 0.02, 0.04}, SOAP {1.5e-3, 3e-3, 6e-3}. The loss compared is over the whole subset after
 * training.
 */
class MatrixOptimizersMlpTrainingTest {

    private static final int SUBSET = 10_000;
    private static final int STEPS = 300;

    private static double adam;

    @BeforeAll
    static void tuneAdam() throws IOException, TranslateException {
        adam =
                Training.bestMlpLoss(
                        lr -> Optimizer.adam().optLearningRateTracker(Tracker.fixed(lr)).build(),
                        SUBSET,
                        STEPS,
                        2e-3f,
                        4e-3f,
                        8e-3f);
    }

    /** Muon, defaults otherwise (AdamW at 3e-4 for the output layer and the biases). */
    @Test
    void muonReachesALowerTrainingLossThanAdam() throws IOException, TranslateException {
        double muon =
                Training.bestMlpLoss(
                        lr -> Muon.builder().optLearningRate(lr).build(),
                        SUBSET,
                        STEPS,
                        0.01f,
                        0.02f,
                        0.04f);
        assertTrue(muon < adam, "Muon " + muon + " vs Adam " + adam);
    }

    /** SOAP, defaults otherwise (betas 0.95, frequency 10, weight decay 0.01). */
    @Test
    void soapReachesALowerTrainingLossThanAdam() throws IOException, TranslateException {
        double soap =
                Training.bestMlpLoss(
                        lr -> Soap.builder().optLearningRate(lr).build(),
                        SUBSET,
                        STEPS,
                        1.5e-3f,
                        3e-3f,
                        6e-3f);
        assertTrue(soap < adam, "SOAP " + soap + " vs Adam " + adam);
    }

    static Stream<Arguments> optimizers() {
        Supplier<SecondOrderOptimizer> muon =
                () -> Muon.builder().optWeightDecays(1e-4f).optAdamWeightDecay(1e-4f).build();
        Supplier<SecondOrderOptimizer> soap =
                () -> Soap.builder().optMaxPreconditionerDim(256).build();
        return Stream.of(Arguments.of("muon", muon), Arguments.of("soap", soap));
    }

    /**
     * 500 steps through EasyTrain on real data, weight decay on: the model's live-array count stays
     * flat and no step is skipped.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("optimizers")
    void fiveHundredStepsDoNotGrowTheLiveArrayCount(
            String name, Supplier<SecondOrderOptimizer> factory)
            throws IOException, TranslateException {
        SecondOrderOptimizer optimizer = factory.get();
        try (NDManager manager = NDManager.newBaseManager(Devices.preferred());
                Model model = Training.model(Workload.MLP, 1);
                Trainer trainer = Training.trainer(model, Workload.MLP, optimizer)) {
            optimizer.nameParameters(model.getBlock());
            FashionMnistDataset data = Training.data(manager, Dataset.Usage.TRAIN, 2000, true, 64);
            Training.train(trainer, data, 20);
            int warm = LiveArrays.count(model.getNDManager());
            Training.train(trainer, data, 500);
            assertEquals(warm, LiveArrays.count(model.getNDManager()), name + " live arrays");
            assertEquals(520, optimizer.health().steps());
            assertEquals(0, optimizer.health().skippedSteps());
        }
    }
}
