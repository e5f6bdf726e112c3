package io.github.so4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDManager;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Dataset;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.compare.RunResult;
import io.github.so4j.bench.compare.TrainingRun;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.bench.workload.WorkloadData;
import io.github.so4j.curvature.Devices;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.optimizers.DctAdam;
import io.github.so4j.optimizers.GaLore;
import io.github.so4j.optimizers.LowRankAdam;
import io.github.so4j.optimizers.OnlineSubspaceDescent;
import java.io.IOException;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * DCT-Adam, GaLore and Online Subspace Descent as drop-in DJL optimizers on the Fashion-MNIST MLP:
 * the harness's own mlp runs ({@code ./so4j compare --optimizers adam,dct-adam,galore,osd --seeds
 * 3}: one epoch of 469 steps of batch 128 on the whole training set, seeds 0, 1 and 2, every
 * optimizer at its catalog defaults for the workload; the methods at ranks 64 and 32, the output
 * layer by AdamW), the goal they are measured against in docs/lowrank.md; and 500 steps through
 * EasyTrain without a leak.
 */
class LowRankMlpTrainingTest {

    private static final OptimizerCatalog CATALOG = new OptimizerCatalog();
    private static final int SEEDS = 3;

    private static WorkloadData mnist;
    private static NDManager mnistManager;
    private static double adam;

    @BeforeAll
    static void trainAdam() throws IOException, TranslateException {
        mnistManager = NDManager.newBaseManager(Device.cpu());
        mnist = Workload.MLP.load(mnistManager, null, null, 128);
        adam = meanLoss("adam", null);
    }

    @AfterAll
    static void close() {
        mnistManager.close();
    }

    /** The mean final training loss over the seeds; each run's state checked by {@code check}. */
    private static double meanLoss(String name, Consumer<RunResult> check)
            throws IOException, TranslateException {
        double sum = 0;
        for (long seed = 0; seed < SEEDS; seed++) {
            TrainingRun.Plan plan =
                    new TrainingRun.Plan(
                            Workload.MLP, CATALOG.get(name), Map.of(), 469, 128, seed, 0, 0, 0.45);
            RunResult run = TrainingRun.execute(plan, mnist, Device.cpu(), step -> {});
            if (check != null) {
                check.accept(run);
            }
            sum += run.finalTrainLoss();
        }
        return sum / SEEDS;
    }

    /**
     * The mean final training loss over three seeds is within 5% of Adam's, with at most half of
     * Adam's state. One run is deterministic on a given machine, but a rounding-level change (MKL's
     * reproducibility mode, which the tests set, another kernel) moves a run's final loss by a few
     * hundredths for every optimizer, Adam's included (seeds 0, 1, 2 give Adam 0.3724, 0.4316,
     * 0.3887 in the harness), hence the mean. In the harness the means are: Adam 0.3976, dct-adam
     * 0.3883, galore 0.3903, osd 0.3826; with the tests' MKL mode: Adam 0.3883, dct-adam 0.3883,
     * galore 0.3982, osd 0.3783.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"dct-adam", "galore", "osd"})
    void endsWithinFivePercentOfAdamWithHalfItsState(String name)
            throws IOException, TranslateException {
        double loss =
                meanLoss(
                        name,
                        run -> {
                            long bytes = ((Number) run.health().get("stateBytes")).longValue();
                            long full = ((Number) run.health().get("adamStateBytes")).longValue();
                            assertTrue(2 * bytes <= full, name + ": " + bytes + " of " + full);
                        });
        assertTrue(loss < 1.05 * adam, name + " " + loss + " vs Adam " + adam);
    }

    static Stream<Arguments> optimizers() {
        Function<Float, LowRankAdam> dct =
                lr -> DctAdam.builder().optLearningRate(lr).optScale(0.25f).build();
        Function<Float, LowRankAdam> galore = lr -> GaLore.builder().optLearningRate(lr).build();
        Function<Float, LowRankAdam> osd =
                lr -> OnlineSubspaceDescent.builder().optLearningRate(lr).build();
        return Stream.of(
                Arguments.of("dct-adam", dct),
                Arguments.of("galore", galore),
                Arguments.of("osd", osd));
    }

    /**
     * 500 steps through EasyTrain on real data, two refreshes (period 200): the model's live-array
     * count stays flat, no step is skipped, and the state is at most half of Adam's.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("optimizers")
    void fiveHundredStepsDoNotGrowTheLiveArrayCount(
            String name, Function<Float, LowRankAdam> factory)
            throws IOException, TranslateException {
        LowRankAdam optimizer = factory.apply(1e-2f);
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
            assertEquals(2L, optimizer.health().curvature().get("lowRankParameters"), name);
        }
    }
}
