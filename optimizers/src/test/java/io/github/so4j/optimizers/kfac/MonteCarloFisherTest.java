package io.github.so4j.optimizers.kfac;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.translate.Batchifier;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.optimizers.Kfac;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;

/** {@link MonteCarloFisher} and the {@link LabelSampler}s, through a DJL {@link Trainer}. */
class MonteCarloFisherTest {

    private static final int N = 16;

    private static Block mlp() {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(5).build())
                .add(Activation::tanh)
                .add(Linear.builder().setUnits(3).build());
    }

    /** A model and trainer, float32, with the optimizer and the block passed through it. */
    private static final class Setup implements AutoCloseable {
        final Model model = Model.newInstance("mc");
        final Trainer trainer;
        final Kfac kfac;

        Setup(Kfac kfac) {
            this.kfac = kfac;
            model.setBlock(kfac.instrument(mlp()));
            trainer =
                    model.newTrainer(
                            new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                                    .optOptimizer(kfac));
            trainer.initialize(new Shape(N, 4));
        }

        Batch batch(NDManager manager, Random random) {
            NDArray x = Dense.toArray(manager, Dense.gaussian(random, N, 4, 1), DataType.FLOAT32);
            float[] classes = new float[N];
            for (int i = 0; i < N; i++) {
                classes[i] = random.nextInt(3);
            }
            NDArray y = manager.create(classes);
            return new Batch(
                    manager,
                    new NDList(x),
                    new NDList(y),
                    N,
                    Batchifier.STACK,
                    Batchifier.STACK,
                    0,
                    0);
        }

        float[] weights() {
            List<Float> all = new ArrayList<>();
            for (var p : model.getBlock().getParameters()) {
                for (float v : p.getValue().getArray().toFloatArray()) {
                    all.add(v);
                }
            }
            float[] w = new float[all.size()];
            for (int i = 0; i < w.length; i++) {
                w[i] = all.get(i);
            }
            return w;
        }

        @Override
        public void close() {
            trainer.close();
            model.close();
        }
    }

    private static Kfac.Builder builder(Kfac.Fisher fisher) {
        return Kfac.builder()
                .optFisher(fisher)
                .optLearningRate(0.05f)
                .optFactorUpdateFrequency(2)
                .optInverseUpdateFrequency(3);
    }

    /**
     * A "sampler" that returns the training labels makes the Monte-Carlo run the empirical one: the
     * extra pass, the zeroed gradients and the held recordings must leave every weight bit for bit
     * as the plain EasyTrain run leaves it.
     */
    @Test
    void samplingTheTrainingLabelsReproducesTheEmpiricalRunExactly() {
        try (Setup mc = new Setup(builder(Kfac.Fisher.MONTE_CARLO).build());
                Setup empirical = new Setup(builder(Kfac.Fisher.EMPIRICAL).build())) {
            var source = mc.model.getBlock().getParameters().values();
            var target = empirical.model.getBlock().getParameters().values();
            for (int i = 0; i < source.size(); i++) {
                source.get(i).getArray().copyTo(target.get(i).getArray());
            }
            Random dataA = new Random(1);
            Random dataB = new Random(1);
            for (int step = 0; step < 5; step++) {
                try (NDManager a = mc.trainer.getManager().newSubManager();
                        NDManager b = empirical.trainer.getManager().newSubManager();
                        Batch batchA = mc.batch(a, dataA);
                        Batch batchB = empirical.batch(b, dataB)) {
                    NDList labels = batchA.getLabels();
                    MonteCarloFisher.trainBatch(
                            mc.trainer, batchA, mc.kfac.instrumentation(), (p, r) -> labels);
                    mc.trainer.step();
                    EasyTrain.trainBatch(empirical.trainer, batchB);
                    empirical.trainer.step();
                }
            }
            assertArrayEquals(empirical.weights(), mc.weights(), 0f);
            assertEquals(3, mc.kfac.kroneckerHealth().factorUpdates() / 2);
        }
    }

    /**
     * With labels drawn from the model, the last layer's G is that of the drawn labels: \( G =
     * \frac{1}{N} \sum_n (p_n - e_{s_n})(p_n - e_{s_n})^\top \) in closed form (softmax
     * cross-entropy), for the draws the sampler made. Float32 sums of 16 terms: tolerance \(
     * 10^{-5} \) relative, a few hundred float32 roundings.
     */
    @Test
    void theOutputFactorComesFromTheSampledLabels() {
        Engine.getInstance().setRandomSeed(7);
        try (Setup mc = new Setup(builder(Kfac.Fisher.MONTE_CARLO).optLearningRate(0).build());
                NDManager manager = mc.trainer.getManager().newSubManager();
                Batch batch = mc.batch(manager, new Random(2))) {
            double[][] drawn = new double[1][];
            double[][] probabilities = new double[1][];
            LabelSampler softmax = LabelSampler.softmaxCrossEntropy();
            LabelSampler recording =
                    (predictions, random) -> {
                        probabilities[0] =
                                predictions
                                        .head()
                                        .softmax(1)
                                        .toType(DataType.FLOAT64, false)
                                        .toDoubleArray();
                        NDList labels = softmax.sample(predictions, random);
                        drawn[0] = labels.head().toType(DataType.FLOAT64, false).toDoubleArray();
                        return labels;
                    };
            MonteCarloFisher.trainBatch(mc.trainer, batch, mc.kfac.instrumentation(), recording);
            mc.trainer.step();
            RealMatrix expected = new Array2DRowRealMatrix(3, 3);
            for (int n = 0; n < N; n++) {
                double[] d = new double[3];
                for (int k = 0; k < 3; k++) {
                    d[k] = probabilities[0][3 * n + k] - (drawn[0][n] == k ? 1 : 0);
                }
                for (int i = 0; i < 3; i++) {
                    for (int j = 0; j < 3; j++) {
                        expected.addToEntry(i, j, d[i] * d[j] / N);
                    }
                }
            }
            CapturedLayer last = mc.kfac.instrumentation().layers().get(1);
            double[] actual =
                    Dense.toDoubles(mc.kfac.curvatureBlock(last).factors().outputFactor());
            double[] flat = new double[9];
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                    flat[3 * i + j] = expected.getEntry(i, j);
                }
            }
            double error = Dense.relativeError(actual, flat);
            assertTrue(error < 1e-5, "relative error " + error);
        }
    }

    /**
     * The generator of the sampled labels is part of the checkpoint: 4 Monte-Carlo steps, a save, a
     * fresh model and optimizer that load it and the same 5 further batches give bit for bit the
     * weights of 9 uninterrupted steps; a fresh optimizer with the same seed but no state does not
     * (so the comparison can fail).
     */
    @Test
    void resumedMonteCarloTrainingDrawsTheSameLabels() throws IOException {
        try (Setup first = new Setup(builder(Kfac.Fisher.MONTE_CARLO).optSeed(5).build());
                Setup resumed = new Setup(builder(Kfac.Fisher.MONTE_CARLO).optSeed(5).build());
                Setup forgetful = new Setup(builder(Kfac.Fisher.MONTE_CARLO).optSeed(5).build())) {
            for (int step = 0; step < 4; step++) {
                mcStep(first, step);
            }
            ByteArrayOutputStream saved = new ByteArrayOutputStream();
            first.kfac.saveState(saved, first.model.getBlock());
            copyParameters(first, resumed);
            copyParameters(first, forgetful);
            resumed.kfac.loadState(
                    new ByteArrayInputStream(saved.toByteArray()), resumed.model.getBlock());
            for (int step = 4; step < 9; step++) {
                mcStep(first, step);
                mcStep(resumed, step);
                mcStep(forgetful, step);
            }
            assertArrayEquals(first.weights(), resumed.weights(), 0f);
            assertFalse(java.util.Arrays.equals(first.weights(), forgetful.weights()));
        }
    }

    /**
     * The labels of a step come from its index among taken steps: a run with two rejected steps (a
     * NaN gradient after the sampled pass) ends bit for bit where a twin run without them ends.
     * Factors every step and inverses every 4, so that between refresh steps the host does not know
     * a step's index, draws the labels of every index it may have, and the device keeps the right
     * ones.
     */
    @Test
    void aRejectedStepLeavesTheLabelsOfLaterStepsAsTheyWere() {
        try (Setup poisoned = new Setup(twinBuilder().build());
                Setup clean = new Setup(twinBuilder().build())) {
            copyParameters(poisoned, clean);
            for (int step = 0; step < 8; step++) {
                if (step == 2 || step == 5) {
                    poisonedStep(poisoned, step);
                }
                mcStep(poisoned, step);
                mcStep(clean, step);
            }
            assertArrayEquals(clean.weights(), poisoned.weights(), 0f);
            assertEquals(2, poisoned.kfac.health().skippedSteps());
            assertEquals(clean.kfac.kroneckerHealth(), poisoned.kfac.kroneckerHealth());
        }
    }

    private static Kfac.Builder twinBuilder() {
        return builder(Kfac.Fisher.MONTE_CARLO)
                .optFactorUpdateFrequency(1)
                .optInverseUpdateFrequency(4)
                .optSeed(9);
    }

    /** A Monte-Carlo step whose first parameter's gradient is NaN. */
    private static void poisonedStep(Setup setup, int step) {
        try (NDManager manager = setup.trainer.getManager().newSubManager();
                Batch batch = setup.batch(manager, new Random(200 + step))) {
            MonteCarloFisher.trainBatch(
                    setup.trainer,
                    batch,
                    setup.kfac.instrumentation(),
                    LabelSampler.softmaxCrossEntropy());
            NDArray weight = setup.model.getBlock().getParameters().get(0).getValue().getArray();
            try (NDArray gradient = weight.getGradient()) {
                gradient.muli(Float.NaN);
            }
            setup.trainer.step();
        }
    }

    private static void mcStep(Setup setup, int step) {
        try (NDManager manager = setup.trainer.getManager().newSubManager();
                Batch batch = setup.batch(manager, new Random(100 + step))) {
            MonteCarloFisher.trainBatch(
                    setup.trainer,
                    batch,
                    setup.kfac.instrumentation(),
                    LabelSampler.softmaxCrossEntropy());
            setup.trainer.step();
        }
    }

    private static void copyParameters(Setup from, Setup to) {
        var source = from.model.getBlock().getParameters().values();
        var target = to.model.getBlock().getParameters().values();
        for (int i = 0; i < source.size(); i++) {
            source.get(i).getArray().copyTo(target.get(i).getArray());
        }
    }

    @Test
    void aFisherThatDoesNotMatchTheTrainingStepFails() {
        try (Setup mc = new Setup(builder(Kfac.Fisher.MONTE_CARLO).build());
                NDManager manager = mc.trainer.getManager().newSubManager();
                Batch batch = mc.batch(manager, new Random(3))) {
            EasyTrain.trainBatch(mc.trainer, batch);
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, () -> mc.trainer.step());
            assertEquals(
                    "K-FAC with the MONTE_CARLO Fisher needs MonteCarloFisher.trainBatch in place"
                            + " of EasyTrain.trainBatch",
                    e.getMessage());
        }
        try (Setup empirical = new Setup(builder(Kfac.Fisher.EMPIRICAL).build());
                NDManager manager = empirical.trainer.getManager().newSubManager();
                Batch batch = empirical.batch(manager, new Random(3))) {
            MonteCarloFisher.trainBatch(
                    empirical.trainer,
                    batch,
                    empirical.kfac.instrumentation(),
                    LabelSampler.softmaxCrossEntropy());
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, () -> empirical.trainer.step());
            assertEquals(
                    "the batch went through MonteCarloFisher.trainBatch, but K-FAC's Fisher is"
                            + " EMPIRICAL; build it with optFisher(Fisher.MONTE_CARLO)",
                    e.getMessage());
        }
    }

    /**
     * The Gumbel-max sampler draws class k with probability softmax(z)_k: over 20,000 draws with
     * fixed logits, each frequency is within 5 standard deviations \( 5\sqrt{p(1-p)/n} \) of its
     * probability (a false alarm has probability below 1e-5 per class).
     */
    @Test
    void softmaxLabelsFollowTheSoftmaxProbabilities() {
        int draws = 20_000;
        double[] logits = {1.0, -0.5, 0.3, 2.0};
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray z = manager.create(logits).reshape(1, 4).repeat(0, draws);
            double[] labels =
                    LabelSampler.softmaxCrossEntropy()
                            .sample(new NDList(z.toType(DataType.FLOAT32, false)), new Random(11))
                            .head()
                            .toType(DataType.FLOAT64, false)
                            .toDoubleArray();
            double max = 2.0;
            double sum = 0;
            for (double l : logits) {
                sum += Math.exp(l - max);
            }
            for (int k = 0; k < 4; k++) {
                double p = Math.exp(logits[k] - max) / sum;
                int count = 0;
                for (double label : labels) {
                    count += label == k ? 1 : 0;
                }
                double frequency = (double) count / draws;
                double sigma = Math.sqrt(p * (1 - p) / draws);
                assertTrue(
                        Math.abs(frequency - p) < 5 * sigma,
                        "class " + k + ": frequency " + frequency + " vs " + p);
            }
        }
    }

    /** Bernoulli labels: the frequency of 1 is within 5 standard deviations of sigmoid(z). */
    @Test
    void bernoulliLabelsFollowTheSigmoid() {
        int draws = 20_000;
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray z = manager.full(new Shape(draws, 1), 0.7f);
            double[] labels =
                    LabelSampler.sigmoidBinaryCrossEntropy()
                            .sample(new NDList(z), new Random(12))
                            .head()
                            .toType(DataType.FLOAT64, false)
                            .toDoubleArray();
            double p = 1 / (1 + Math.exp(-0.7));
            double frequency = java.util.Arrays.stream(labels).sum() / draws;
            assertTrue(Math.abs(frequency - p) < 5 * Math.sqrt(p * (1 - p) / draws));
            assertTrue(java.util.Arrays.stream(labels).allMatch(l -> l == 0 || l == 1));
        }
    }

    /** Gaussian labels for the L2 loss: mean y and unit variance, within 5 standard errors. */
    @Test
    void gaussianLabelsHaveUnitVarianceAroundThePrediction() {
        int draws = 20_000;
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray y = manager.full(new Shape(draws), 2.5f);
            double[] labels =
                    LabelSampler.l2()
                            .sample(new NDList(y), new Random(13))
                            .head()
                            .toType(DataType.FLOAT64, false)
                            .toDoubleArray();
            double mean = java.util.Arrays.stream(labels).average().orElseThrow();
            double variance =
                    java.util.Arrays.stream(labels).map(l -> (l - mean) * (l - mean)).sum()
                            / (draws - 1);
            assertTrue(Math.abs(mean - 2.5) < 5 / Math.sqrt(draws), "mean " + mean);
            assertTrue(Math.abs(variance - 1) < 5 * Math.sqrt(2.0 / draws), "variance " + variance);
        }
    }
}
