package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.translate.Batchifier;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.optimizers.SubspaceNewton.StepReport;
import io.github.so4j.optimizers.SubspaceNewton.Subspace;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** {@link SubspaceNewton#trainStep} through a real DJL {@link Trainer}, float32. */
class SubspaceNewtonTrainerTest {

    /**
     * 25 steps on a fixed batch of a small tanh network, every subspace: every accepted step lowers
     * the batch loss (the line search's Armijo condition), the model's live arrays stay flat after
     * a warm-up (no leak in the optimizer's state, the products or the line search), and every step
     * is counted.
     */
    @ParameterizedTest
    @EnumSource(Subspace.class)
    void trainStepsLowerTheBatchLossAndLeaveNoArraysBehind(Subspace subspace) {
        SubspaceNewton newton =
                SubspaceNewton.builder()
                        .optSubspace(subspace)
                        .optDimension(4)
                        .optRefreshEvery(5)
                        .build();
        try (Model model = Model.newInstance("tanh");
                NDManager data = NDManager.newBaseManager()) {
            model.setBlock(
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(8).build())
                            .add(Activation::tanh)
                            .add(Linear.builder().setUnits(3).build()));
            try (Trainer trainer =
                    model.newTrainer(
                            new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                                    .optOptimizer(newton))) {
                trainer.initialize(new Shape(16, 6));
                data.getEngine().setRandomSeed(1);
                NDList x = new NDList(data.randomNormal(new Shape(16, 6)));
                NDList y = new NDList(data.randomUniform(0, 3, new Shape(16)).floor());
                int warm = 0;
                double first = 0;
                double last = 0;
                for (int step = 0; step < 25; step++) {
                    if (step == 8) {
                        warm = LiveArrays.count(model.getNDManager());
                    }
                    NDManager batchManager = data.newSubManager();
                    try (Batch batch =
                            new Batch(
                                    batchManager,
                                    new NDList(x.head().duplicate()),
                                    new NDList(y.head().duplicate()),
                                    16,
                                    Batchifier.STACK,
                                    Batchifier.STACK,
                                    step,
                                    25)) {
                        StepReport report = newton.trainStep(trainer, batch);
                        if (step == 0) {
                            first = report.loss();
                        }
                        last = report.lossAfter();
                        // Armijo: no increase (equal once the decrease is below the loss's
                        // float32 resolution)
                        assertTrue(report.lossAfter() <= report.loss(), "step " + step);
                    }
                }
                assertTrue(last < 0.9 * first, "loss " + first + " -> " + last);
                assertEquals(warm, LiveArrays.count(model.getNDManager()));
                assertEquals(25, newton.health().steps());
                assertEquals(0, newton.health().skippedSteps());
            }
        }
    }

    /**
     * The helper reports the products each kind spends. A hidden layer, and seeded data: for a
     * single softmax layer the gradient's entries sum to zero exactly in exact arithmetic, and
     * DJL's first-step check (the signed sum of all gradients must not be 0) then fails whenever
     * the float32 rounding happens to cancel too, which made this test fail in some runs.
     */
    @Test
    void krylovStepsSpendExactlyKProducts() {
        SubspaceNewton newton = SubspaceNewton.builder().optDimension(5).build();
        try (Model model = Model.newInstance("linear");
                NDManager data = NDManager.newBaseManager()) {
            model.setBlock(
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(4).build())
                            .add(Activation::tanh)
                            .add(Linear.builder().setUnits(3).build()));
            try (Trainer trainer =
                    model.newTrainer(
                            new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                                    .optOptimizer(newton))) {
                trainer.initialize(new Shape(8, 4));
                data.getEngine().setRandomSeed(2);
                try (Batch batch =
                        new Batch(
                                data.newSubManager(),
                                new NDList(data.randomNormal(new Shape(8, 4))),
                                new NDList(data.randomUniform(0, 3, new Shape(8)).floor()),
                                8,
                                Batchifier.STACK,
                                Batchifier.STACK,
                                0,
                                1)) {
                    assertEquals(5, newton.trainStep(trainer, batch).products());
                }
            }
        }
    }
}
