package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import ai.djl.util.Pair;
import io.github.so4j.curvature.HostReads;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * K-FAC on a small transformer language model ({@link SequenceModels#languageModel}: embeddings, a
 * pre-LayerNorm block of causal 2-head attention and a GELU MLP, a final LayerNorm, a Linear to the
 * vocabulary; softmax cross-entropy over every token), trained through DJL's {@link Trainer} in
 * float32.
 *
 * <p>The task: sequences \( x_{t+1} = (x_t + x_{t-1}) \bmod 8 \) from two random first tokens; the
 * model reads \( x_0 \dots x_7 \) and predicts \( x_1 \dots x_8 \), so every token after the first
 * needs the token before it (attention). The first prediction is a guess: the best mean loss is \(
 * \ln(8) / 8 \approx 0.26 \), against \( \ln 8 \approx 2.08 \) for a uniform guess.
 */
class KfacLanguageModelTest {

    private static final int VOCABULARY = 8;
    private static final int TOKENS = 8;
    private static final int WIDTH = 16;
    private static final int BATCH = 32;

    /** Factors every 2 taken steps, inverses every 10 (t = 1, 11, 21, ...). */
    private static Kfac kfac() {
        return Kfac.builder()
                .optLearningRate(0.1f)
                .optDamping(0.03f)
                .optKlClip(1e-2f)
                .optFactorUpdateFrequency(2)
                .optInverseUpdateFrequency(10)
                .build();
    }

    /** A model, its trainer and the optimizer, float32, initialized from a fixed seed. */
    private static final class Run implements AutoCloseable {

        final Kfac kfac;
        final Model model = Model.newInstance("language-model");
        final Trainer trainer;

        Run(Kfac kfac) {
            this.kfac = kfac;
            model.setBlock(
                    kfac.instrument(SequenceModels.languageModel(VOCABULARY, TOKENS, WIDTH, 2)));
            trainer =
                    model.newTrainer(
                            new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                                    .optOptimizer(kfac));
            Engine.getInstance().setRandomSeed(11);
            trainer.initialize(new Shape(BATCH, TOKENS));
        }

        /**
         * One training step on a batch, as EasyTrain runs it; with {@code poison}, one covered
         * weight's gradient is made NaN before the optimizer sees it.
         *
         * @return the batch's mean loss
         */
        float step(float[][] batch, boolean poison) {
            try (NDManager scope = trainer.getManager().newSubManager()) {
                NDArray x = scope.create(batch[0], new Shape(BATCH, TOKENS));
                NDArray y = scope.create(batch[1], new Shape(BATCH, TOKENS, 1));
                float loss;
                try (GradientCollector collector = trainer.newGradientCollector()) {
                    NDList predictions = trainer.forward(new NDList(x));
                    NDArray value = trainer.getLoss().evaluate(new NDList(y), predictions);
                    collector.backward(value);
                    loss = value.getFloat();
                }
                if (poison) {
                    NDArray weight = kfac.instrumentation().layers().get(0).weight().getArray();
                    try (NDArray gradient = weight.getGradient()) {
                        gradient.muli(Float.NaN);
                    }
                }
                trainer.step();
                return loss;
            }
        }

        Map<String, float[]> weights() {
            Map<String, float[]> w = new LinkedHashMap<>();
            for (Pair<String, Parameter> p : model.getBlock().getParameters()) {
                w.put(p.getKey(), p.getValue().getArray().toFloatArray());
            }
            return w;
        }

        @Override
        public void close() {
            trainer.close();
            model.close();
        }
    }

    /** A batch of sequences: inputs (N, T) and labels, the next tokens, (N, T). */
    private static float[][] batch(Random random) {
        float[][] xy = new float[2][BATCH * TOKENS];
        for (int n = 0; n < BATCH; n++) {
            int previous = random.nextInt(VOCABULARY);
            int current = random.nextInt(VOCABULARY);
            for (int t = 0; t < TOKENS; t++) {
                xy[0][n * TOKENS + t] = previous;
                xy[1][n * TOKENS + t] = current;
                int next = (previous + current) % VOCABULARY;
                previous = current;
                current = next;
            }
        }
        return xy;
    }

    /**
     * 50 steps of batch 32: every Linear is covered (the four attention projections, the two MLP
     * layers, the output), the embeddings and LayerNorms move by the first-order rule, the mean
     * loss of the last 5 steps is below 0.6 times that of the first 5, and only the amortized steps
     * read from the device: the 5 refresh steps and, with factors every 2 steps, the 20 other
     * factor steps, once each (their decision, at their end); the 25 ordinary steps read nothing,
     * and the host-read accounting of {@link Kfac#health()} agrees.
     */
    @Test
    void kfacTrainsATransformerAndReadsOnlyOnAmortizedSteps() {
        try (Run run = new Run(kfac())) {
            assertEquals(
                    List.of(
                            "02Residual_01inner_02CausalSelfAttention_01query",
                            "02Residual_01inner_02CausalSelfAttention_02key",
                            "02Residual_01inner_02CausalSelfAttention_03value",
                            "02Residual_01inner_02CausalSelfAttention_04output",
                            "03Residual_01inner_02Linear",
                            "03Residual_01inner_04Linear",
                            "05Linear"),
                    run.kfac.instrumentation().coverage().layers());
            List<String> uncovered = run.kfac.instrumentation().coverage().uncoveredParameters();
            assertEquals(
                    List.of(
                            "01Embeddings_tokens",
                            "01Embeddings_positions",
                            "02Residual_01inner_01LayerNorm_gamma",
                            "02Residual_01inner_01LayerNorm_beta",
                            "03Residual_01inner_01LayerNorm_gamma",
                            "03Residual_01inner_01LayerNorm_beta",
                            "04LayerNorm_gamma",
                            "04LayerNorm_beta"),
                    uncovered);
            Map<String, float[]> initial = run.weights();
            Random data = new Random(5);
            int steps = 50;
            float[] losses = new float[steps];
            long[] reads = new long[steps];
            for (int s = 0; s < steps; s++) {
                float[][] batch = batch(data);
                long before = HostReads.count();
                losses[s] = run.step(batch, false);
                reads[s] = HostReads.count() - before;
            }
            List<Integer> reading = new ArrayList<>();
            for (int s = 0; s < steps; s++) {
                if (reads[s] > 0) {
                    reading.add(s);
                }
                if (s % 2 == 0 && s % 10 != 0) {
                    assertEquals(1, reads[s], "reads of factor step " + s);
                }
            }
            List<Integer> amortized = new ArrayList<>();
            for (int s = 0; s < steps; s += 2) {
                amortized.add(s);
            }
            assertEquals(amortized, reading, "steps that read");
            OptimizerHealth health = run.kfac.health();
            assertEquals(25, health.hostReads().stepsWithReads());
            assertEquals(0, health.skippedSteps());
            double first = mean(losses, 0, 5);
            double last = mean(losses, steps - 5, steps);
            assertTrue(
                    last < 0.6 * first,
                    "mean loss of the first 5 steps " + first + ", of the last 5 " + last);
            Map<String, float[]> trained = run.weights();
            for (String name : uncovered) {
                assertFalse(
                        java.util.Arrays.equals(initial.get(name), trained.get(name)),
                        name + " did not move");
            }
        }
    }

    /**
     * A NaN in a covered weight's gradient before step 6 (an ordinary step) or step 11 (a factor
     * and refresh step): that step is rejected, and the run is bit for bit the run without it,
     * factors and counters included.
     */
    @ParameterizedTest(name = "before step {0}")
    @ValueSource(ints = {5, 10})
    void aNanGradientLeavesNoTrace(int position) {
        try (Run poisoned = new Run(kfac());
                Run clean = new Run(kfac())) {
            Map<String, float[]> start = clean.weights();
            assertEquals(start.keySet(), poisoned.weights().keySet());
            for (String name : start.keySet()) {
                assertArrayEquals(start.get(name), poisoned.weights().get(name), name);
            }
            Random dataA = new Random(6);
            Random dataB = new Random(6);
            for (int s = 0; s < 13; s++) {
                float[][] batchA = batch(dataA);
                if (s == position) {
                    Map<String, float[]> before = poisoned.weights();
                    poisoned.step(batchA, true);
                    Map<String, float[]> after = poisoned.weights();
                    for (String name : before.keySet()) {
                        assertArrayEquals(before.get(name), after.get(name), name);
                    }
                }
                poisoned.step(batchA, false);
                clean.step(batch(dataB), false);
            }
            Map<String, float[]> a = poisoned.weights();
            Map<String, float[]> b = clean.weights();
            for (String name : a.keySet()) {
                assertArrayEquals(b.get(name), a.get(name), name);
            }
            OptimizerHealth health = poisoned.kfac.health();
            assertEquals(1, health.skippedSteps());
            assertEquals(1, health.nonFiniteGradientSteps());
            assertEquals(clean.kfac.kroneckerHealth(), poisoned.kfac.kroneckerHealth());
        }
    }

    private static double mean(float[] values, int from, int to) {
        double sum = 0;
        for (int i = from; i < to; i++) {
            sum += values[i];
        }
        return sum / (to - from);
    }
}
