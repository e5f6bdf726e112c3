package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.translate.Batchifier;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.optimizers.kfac.AdaptiveDamping;
import io.github.so4j.optimizers.kfac.QuadraticModelStep;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * K-FAC with the adaptive step on a small tanh autoencoder 12-8-3-8-12 (sigmoid cross-entropy): it
 * trains, reads what its javadoc says, adapts the damping on steps 1, 6, 11, ..., refuses an update
 * without the batch, and a step with NaN gradients leaves no trace.
 */
class KfacAdaptiveTest {

    private static final int N = 32;
    private static final int D = 12;

    private static Block autoencoder() {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(8).build())
                .add(Activation::tanh)
                .add(Linear.builder().setUnits(3).build())
                .add(Linear.builder().setUnits(8).build())
                .add(Activation::tanh)
                .add(Linear.builder().setUnits(D).build());
    }

    private static Kfac.Builder adaptive() {
        return Kfac.builder()
                .optLearningRate(1)
                .optAdaptiveStep(true)
                .optAdaptiveDamping(true)
                .optDamping(1)
                .optFactorUpdateFrequency(1)
                .optInverseUpdateFrequency(1000);
    }

    /** Images: mixtures of 3 fixed patterns in [0, 1], so that a 3-unit code can fit them. */
    private static Batch batch(NDManager manager, Random random, boolean nan) {
        float[] patterns = new float[3 * D];
        Random fixed = new Random(1);
        for (int i = 0; i < patterns.length; i++) {
            patterns[i] = fixed.nextFloat();
        }
        float[] x = new float[N * D];
        for (int n = 0; n < N; n++) {
            float[] mix = {random.nextFloat(), random.nextFloat(), random.nextFloat()};
            float total = mix[0] + mix[1] + mix[2];
            for (int j = 0; j < D; j++) {
                float v = 0;
                for (int k = 0; k < 3; k++) {
                    v += mix[k] * patterns[k * D + j] / total;
                }
                x[n * D + j] = v;
            }
        }
        if (nan) {
            x[0] = Float.NaN;
        }
        NDArray data = manager.create(x, new Shape(N, D));
        return new Batch(
                manager,
                new NDList(data),
                new NDList(data),
                N,
                Batchifier.STACK,
                Batchifier.STACK,
                0,
                0);
    }

    private record Run(Model model, Trainer trainer, Kfac kfac) implements AutoCloseable {
        static Run of(Kfac kfac) {
            // the initial weights come from the engine's generator: seeded, so that the run does
            // not depend on the tests that ran before it in the same JVM
            Engine.getInstance().setRandomSeed(3);
            Model model = Model.newInstance("kfac-adaptive");
            model.setBlock(kfac.instrument(autoencoder()));
            Trainer trainer =
                    model.newTrainer(
                            new DefaultTrainingConfig(Loss.sigmoidBinaryCrossEntropyLoss())
                                    .optOptimizer(kfac));
            trainer.initialize(new Shape(N, D));
            return new Run(model, trainer, kfac);
        }

        double loss(Batch batch) {
            try (NDManager scope = trainer.getManager().newSubManager()) {
                NDArray out =
                        model.getBlock()
                                .forward(
                                        new ai.djl.training.ParameterStore(scope, false),
                                        batch.getData(),
                                        false)
                                .head();
                return trainer.getLoss().evaluate(batch.getLabels(), new NDList(out)).getFloat();
            }
        }

        List<float[]> weights() {
            List<float[]> w = new ArrayList<>();
            for (Parameter p : model.getBlock().getParameters().values()) {
                w.add(p.getArray().toFloatArray());
            }
            return w;
        }

        @Override
        public void close() {
            trainer.close();
            model.close();
        }
    }

    @Test
    void trainsAndReadsAsDocumented() {
        try (Run run = Run.of(adaptive().build());
                NDManager manager = run.trainer.getManager().newSubManager()) {
            Random random = new Random(5);
            Batch fixed = batch(manager, new Random(99), false);
            double before = run.loss(fixed);
            AdaptiveDamping rule = run.kfac.adaptiveStep().damping();
            double lambda = rule.value();
            for (int t = 1; t <= 40; t++) {
                try (NDManager scope = manager.newSubManager()) {
                    Batch batch = batch(scope, random, false);
                    long reads = HostReads.count();
                    run.kfac.trainStep(run.trainer, batch);
                    long spent = HostReads.count() - reads;
                    if (t > 1) {
                        // the decision and the 2 x 2 model (the Gauss-Newton entries are
                        // computed on the device); adaptation steps: the losses
                        assertEquals(rule.adapts(t) ? 3 : 2, spent, "reads at step " + t);
                    }
                    if (!rule.adapts(t)) {
                        assertEquals(lambda, rule.value(), 0.0, "damping moved at step " + t);
                    }
                    lambda = rule.value();
                }
            }
            double after = run.loss(fixed);
            // sigmoid cross-entropy of [0, 1] targets: the mean image is about 0.65 here; 40
            // adaptive steps must go well below the start
            assertTrue(after < 0.9 * before, "loss " + before + " -> " + after);
            assertTrue(Double.isFinite(run.kfac.adaptiveStep().lastLearningRate()));
            assertEquals(0, run.kfac.adaptiveStep().nonFiniteModels());
        }
    }

    @Test
    void aStepWithNanGradientsLeavesNoTrace() {
        try (Run run = Run.of(adaptive().build());
                NDManager manager = run.trainer.getManager().newSubManager()) {
            Random random = new Random(5);
            for (int t = 1; t <= 7; t++) {
                run.kfac.trainStep(run.trainer, batch(manager, random, false));
            }
            QuadraticModelStep step = run.kfac.adaptiveStep();
            double lambda = step.damping().value();
            List<float[]> weights = run.weights();
            List<float[]> velocity = new ArrayList<>();
            for (Parameter p : run.model.getBlock().getParameters().values()) {
                velocity.add(step.velocity(p.getArray().getUid()).toFloatArray());
            }
            run.kfac.trainStep(run.trainer, batch(manager, random, true));
            assertEquals(lambda, step.damping().value(), 0.0);
            List<float[]> after = run.weights();
            int i = 0;
            for (Parameter p : run.model.getBlock().getParameters().values()) {
                assertArrayEquals(weights.get(i), after.get(i));
                assertArrayEquals(
                        velocity.get(i), step.velocity(p.getArray().getUid()).toFloatArray());
                i++;
            }
        }
    }

    @Test
    void anUpdateWithoutTheBatchNamesTheFix() {
        try (Run run = Run.of(adaptive().build());
                NDManager manager = run.trainer.getManager().newSubManager()) {
            Batch batch = batch(manager, new Random(1), false);
            EasyTrain.trainBatch(run.trainer, batch);
            IllegalStateException e = assertThrows(IllegalStateException.class, run.trainer::step);
            assertTrue(e.getMessage().contains("trainStep"), e.getMessage());
        }
    }

    @Test
    void badAdaptiveSettingsAreNamedAtBuild() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> Kfac.builder().optAdaptiveDamping(true).build());
        assertTrue(e.getMessage().contains("adaptiveStep"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> adaptive().optWeightDecays(1e-5f).build());
        assertTrue(e.getMessage().contains("weightDecayMode"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> adaptive().optDampingBounds(1e-5, 0.5).build());
        assertTrue(e.getMessage().contains("dampingBounds"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> adaptive().optDampingAdaptation(0, 0.95).build());
        assertTrue(e.getMessage().contains("dampingAdaptationInterval"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> adaptive().optQuadraticCurvature(null).build());
        assertTrue(e.getMessage().contains("quadraticCurvature"), e.getMessage());
        adaptive().optWeightDecays(1e-5f).optWeightDecayMode(Kfac.WeightDecay.L2).build();
    }
}
