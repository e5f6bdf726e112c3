package io.github.so4j.bench.workload;

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
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.ParameterList;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.util.Pair;
import io.github.so4j.bench.data.CharVocabulary;
import io.github.so4j.curvature.testing.GarbageCollection;
import io.github.so4j.optimizers.Kfac;
import io.github.so4j.optimizers.kfac.CapturedLayer;
import io.github.so4j.optimizers.kfac.Instrumentation;
import io.github.so4j.optimizers.kfac.LayerRecording;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The charlm model against independent oracles: causality checked exactly, one attention block's
 * forward against a float64 reference computed on the host from its weights, the loss against the
 * mean per-token cross-entropy computed on the host.
 */
class CharTransformerTest {

    private static final CharTransformer.Config SMALL =
            new CharTransformer.Config(CharVocabulary.SIZE, 16, 32, 2, 4);

    private static Block initialized(CharTransformer.Config config, NDManager manager, int seed) {
        Engine.getInstance().setRandomSeed(seed);
        Block block = CharTransformer.newBlock(config);
        block.initialize(manager, DataType.FLOAT32, new Shape(1, config.context()));
        return block;
    }

    private static NDArray ids(NDManager manager, long[] values, int batch, int length) {
        return manager.create(values, new Shape(batch, length));
    }

    /**
     * The logits at positions up to t are bit for bit the same when every input after t changes,
     * for every t; and the logits right after t do change (the test sees a leak if there is one).
     */
    @Test
    void outputAtPositionTDependsOnInputsUpToTOnly() {
        int batch = 2;
        int length = SMALL.context();
        try (NDManager manager = NDManager.newBaseManager()) {
            Block block = initialized(SMALL, manager, 3);
            ParameterStore store = new ParameterStore(manager, false);
            Random random = new Random(5);
            long[] base = new long[batch * length];
            for (int i = 0; i < base.length; i++) {
                base[i] = random.nextInt(CharVocabulary.SIZE);
            }
            NDArray logits =
                    block.forward(store, new NDList(ids(manager, base, batch, length)), false)
                            .head();
            assertEquals(new Shape(batch, length, CharVocabulary.SIZE), logits.getShape());
            for (int t = 0; t < length - 1; t++) {
                long[] changed = base.clone();
                for (int b = 0; b < batch; b++) {
                    for (int s = t + 1; s < length; s++) {
                        changed[b * length + s] =
                                (base[b * length + s] + 1 + random.nextInt(96))
                                        % CharVocabulary.SIZE;
                    }
                }
                NDArray other =
                        block.forward(
                                        store,
                                        new NDList(ids(manager, changed, batch, length)),
                                        false)
                                .head();
                NDIndex upToT = new NDIndex(":, :{}", t + 1);
                assertArrayEquals(
                        logits.get(upToT).toFloatArray(),
                        other.get(upToT).toFloatArray(),
                        "positions up to " + t);
                NDIndex next = new NDIndex(":, {}", t + 1);
                assertFalse(
                        java.util.Arrays.equals(
                                logits.get(next).toFloatArray(), other.get(next).toFloatArray()),
                        "position " + (t + 1) + " sees its own, changed input");
            }
        }
    }

    /**
     * One attention block's forward against a float64 reference from its weights: projections,
     * per-head scaled scores, the causal mask, softmax, the weighted values, the output projection.
     *
     * <p>Tolerance 2e-5: every output is at most four float32 stages deep (projection, scores,
     * softmax-weighted sum, projection), each a sum of at most 9 terms whose magnitudes add up to a
     * few units here (inputs in [-1, 1], weights of DJL's default scale); float32 rounding of such
     * a sum is at most about 9 * 6e-8 * its absolute terms, so below 1e-5 over the chain. A missing
     * mask or scale changes the outputs by far more (checked below).
     */
    /**
     * The gradients of an attention block (in its input and every parameter) are the same, bit for
     * bit, when a garbage collection runs between the forward and the backward pass: the scores'
     * scale \( 1/\sqrt{d} \) (d = 6 here, not exact in float32) must not be read from freed memory.
     */
    @Test
    void attentionGradientsSurviveACollectionBeforeBackward() {
        int batch = 2;
        int length = 5;
        int width = 12;
        int heads = 2;
        Shape shape = new Shape(batch, length, width);
        try (NDManager manager = NDManager.newBaseManager()) {
            Engine.getInstance().setRandomSeed(17);
            CausalSelfAttention attention = new CausalSelfAttention(width, heads);
            attention.initialize(manager, DataType.FLOAT32, shape);
            Random random = new Random(19);
            float[] input = new float[batch * length * width];
            float[] outputWeights = new float[input.length];
            for (int i = 0; i < input.length; i++) {
                input[i] = 2 * random.nextFloat() - 1;
                outputWeights[i] = 2 * random.nextFloat() - 1;
            }
            NDArray x = manager.create(input, shape);
            NDArray weights = manager.create(outputWeights, shape);
            x.setRequiresGradient(true);
            List<float[]> undisturbed = attentionGradients(attention, x, weights, () -> {});
            List<float[]> collected =
                    attentionGradients(attention, x, weights, GarbageCollection::collect);
            assertEquals(undisturbed.size(), collected.size());
            for (int i = 0; i < undisturbed.size(); i++) {
                assertArrayEquals(undisturbed.get(i), collected.get(i), 0f, "gradient " + i);
            }
        }
    }

    /** The gradients of sum(weights * attention(x)) in x and in every parameter, in block order. */
    private static List<float[]> attentionGradients(
            CausalSelfAttention attention, NDArray x, NDArray weights, Runnable between) {
        NDManager manager = x.getManager();
        try (NDManager scope = manager.newSubManager()) {
            scope.tempAttachAll(x, weights);
            List<NDArray> arrays = new ArrayList<>(List.of(x));
            for (Pair<String, Parameter> p : attention.getParameters()) {
                arrays.add(p.getValue().getArray());
            }
            for (NDArray a : arrays) {
                // backward adds to the gradients: start from zero
                if (a.hasGradient()) {
                    try (NDArray g = a.getGradient()) {
                        g.subi(g);
                    }
                }
            }
            try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
                NDArray out =
                        attention
                                .forward(new ParameterStore(scope, false), new NDList(x), true)
                                .head();
                NDArray value = out.mul(weights).sum();
                between.run();
                collector.backward(value);
            }
            List<float[]> gradients = new ArrayList<>();
            for (NDArray a : arrays) {
                try (NDArray g = a.getGradient()) {
                    gradients.add(g.toFloatArray());
                }
            }
            return gradients;
        }
    }

    @Test
    void attentionMatchesAFloat64ReferenceFromItsWeights() {
        int batch = 2;
        int length = 5;
        int width = 8;
        int heads = 2;
        try (NDManager manager = NDManager.newBaseManager()) {
            Engine.getInstance().setRandomSeed(11);
            CausalSelfAttention attention = new CausalSelfAttention(width, heads);
            attention.initialize(manager, DataType.FLOAT32, new Shape(batch, length, width));
            Map<String, double[]> w = new HashMap<>();
            for (Pair<String, Parameter> p : attention.getParameters()) {
                float[] values = p.getValue().getArray().toFloatArray();
                double[] copy = new double[values.length];
                for (int i = 0; i < values.length; i++) {
                    copy[i] = values[i];
                }
                w.put(p.getKey().replaceAll("^\\d+", ""), copy);
            }
            Random random = new Random(13);
            float[] input = new float[batch * length * width];
            for (int i = 0; i < input.length; i++) {
                input[i] = 2 * random.nextFloat() - 1;
            }
            float[] output =
                    attention
                            .forward(
                                    new ParameterStore(manager, false),
                                    new NDList(
                                            manager.create(input, new Shape(batch, length, width))),
                                    false)
                            .head()
                            .toFloatArray();
            double[] reference = reference(w, input, batch, length, width, heads, true);
            double[] unmasked = reference(w, input, batch, length, width, heads, false);
            double error = 0;
            double maskEffect = 0;
            for (int i = 0; i < output.length; i++) {
                error = Math.max(error, Math.abs(output[i] - reference[i]));
                maskEffect = Math.max(maskEffect, Math.abs(unmasked[i] - reference[i]));
            }
            assertTrue(error < 2e-5, "max error " + error);
            assertTrue(maskEffect > 1e-2, "the mask changes the output by " + maskEffect);
        }
    }

    /** Causal self-attention in float64, loops straight from the formulas. */
    private static double[] reference(
            Map<String, double[]> w,
            float[] input,
            int batch,
            int length,
            int width,
            int heads,
            boolean causal) {
        int d = width / heads;
        double[] out = new double[batch * length * width];
        for (int b = 0; b < batch; b++) {
            double[][] x = new double[length][width];
            for (int t = 0; t < length; t++) {
                for (int j = 0; j < width; j++) {
                    x[t][j] = input[(b * length + t) * width + j];
                }
            }
            double[][] q = linear(w, "query", x);
            double[][] k = linear(w, "key", x);
            double[][] v = linear(w, "value", x);
            double[][] z = new double[length][width];
            for (int h = 0; h < heads; h++) {
                for (int t = 0; t < length; t++) {
                    int last = causal ? t : length - 1;
                    double[] score = new double[last + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int s = 0; s <= last; s++) {
                        for (int j = h * d; j < (h + 1) * d; j++) {
                            score[s] += q[t][j] * k[s][j];
                        }
                        score[s] /= Math.sqrt(d);
                        max = Math.max(max, score[s]);
                    }
                    double sum = 0;
                    for (int s = 0; s <= last; s++) {
                        score[s] = Math.exp(score[s] - max);
                        sum += score[s];
                    }
                    for (int s = 0; s <= last; s++) {
                        for (int j = h * d; j < (h + 1) * d; j++) {
                            z[t][j] += score[s] / sum * v[s][j];
                        }
                    }
                }
            }
            double[][] y = linear(w, "output", z);
            for (int t = 0; t < length; t++) {
                System.arraycopy(y[t], 0, out, (b * length + t) * width, width);
            }
        }
        return out;
    }

    /** x W^T + b for DJL's Linear weight of shape (out, in). */
    private static double[][] linear(Map<String, double[]> w, String name, double[][] x) {
        double[] weight = w.get(name + "_weight");
        double[] bias = w.get(name + "_bias");
        int out = bias.length;
        int in = x[0].length;
        double[][] y = new double[x.length][out];
        for (int t = 0; t < x.length; t++) {
            for (int o = 0; o < out; o++) {
                double sum = bias[o];
                for (int i = 0; i < in; i++) {
                    sum += weight[o * in + i] * x[t][i];
                }
                y[t][o] = sum;
            }
        }
        return y;
    }

    /**
     * The loss is the mean over all positions of -log softmax(logits)[label], computed on the host
     * in float64. Tolerance 1e-5: float32 log-softmax of logits of magnitude up to 4 is off by a
     * few units of 4e-7 per position, and the mean of 60 such terms by as much.
     */
    @Test
    void lossIsTheMeanPerTokenCrossEntropy() {
        int batch = 3;
        int length = 20;
        int classes = CharVocabulary.SIZE;
        Random random = new Random(17);
        float[] logits = new float[batch * length * classes];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (2 * random.nextGaussian());
        }
        long[] labels = new long[batch * length];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = random.nextInt(classes);
        }
        double expected = 0;
        for (int p = 0; p < labels.length; p++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) {
                max = Math.max(max, logits[p * classes + c]);
            }
            double sum = 0;
            for (int c = 0; c < classes; c++) {
                sum += Math.exp(logits[p * classes + c] - max);
            }
            expected += max + Math.log(sum) - logits[p * classes + (int) labels[p]];
        }
        expected /= labels.length;
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray loss =
                    new TokenCrossEntropyLoss()
                            .evaluate(
                                    new NDList(manager.create(labels, new Shape(batch, length))),
                                    new NDList(
                                            manager.create(
                                                    logits, new Shape(batch, length, classes))));
            assertEquals(new Shape(), loss.getShape());
            assertEquals(expected, loss.getFloat(), 1e-5);
        }
    }

    /**
     * Every Linear layer, the four projections of each attention block included, is recorded by
     * K-FAC's instrumentation in a training pass, with its (B, T, features) input: the block
     * reaches its projections through its children list, where the stand-ins are.
     */
    @Test
    void kfacRecordsEveryLinearLayerWithItsSequenceInput() {
        Kfac kfac = Kfac.builder().build();
        try (Model model = Model.newInstance("charlm-kfac")) {
            model.setBlock(kfac.instrument(CharTransformer.newBlock(SMALL)));
            Instrumentation.Coverage coverage = kfac.instrumentation().coverage();
            assertEquals(SMALL.layers() * 6 + 1, coverage.layers().size(), coverage.toString());
            // the two embeddings and five LayerNorms (scale and shift) move by the first-order rule
            assertEquals(2 + 2 * (2 * SMALL.layers() + 1), coverage.uncoveredParameters().size());
            try (Trainer trainer =
                    model.newTrainer(
                            new DefaultTrainingConfig(new TokenCrossEntropyLoss())
                                    .optOptimizer(kfac))) {
                trainer.initialize(new Shape(1, SMALL.context()));
                NDManager manager = trainer.getManager();
                long[] values = new long[2 * SMALL.context()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = i % CharVocabulary.SIZE;
                }
                NDArray x = ids(manager, values, 2, SMALL.context());
                try (GradientCollector collector = trainer.newGradientCollector()) {
                    NDList logits = trainer.forward(new NDList(x));
                    collector.backward(trainer.getLoss().evaluate(new NDList(x), logits));
                }
                List<CapturedLayer> layers = kfac.instrumentation().layers();
                assertEquals(coverage.layers().size(), layers.size());
                for (CapturedLayer layer : layers) {
                    List<LayerRecording> recordings = layer.takeRecordings();
                    assertEquals(1, recordings.size(), layer.name());
                    Shape in = recordings.get(0).input().getShape();
                    assertEquals(3, in.dimension(), layer.name() + " " + in);
                    assertEquals(new Shape(2, SMALL.context()), in.slice(0, 2), layer.name());
                }
                assertTrue(
                        layers.stream().anyMatch(l -> l.name().contains("query")),
                        layers.toString());
            }
        }
    }

    /** Weights start from N(0, 0.02²) as documented; the same seed gives the same model. */
    @Test
    void initializationIsSeededAndGpt2Scaled() {
        try (NDManager manager = NDManager.newBaseManager()) {
            ParameterList a = initialized(SMALL, manager, 21).getParameters();
            ParameterList b = initialized(SMALL, manager, 21).getParameters();
            assertEquals(a.size(), b.size());
            long count = 0;
            for (int i = 0; i < a.size(); i++) {
                float[] values = a.valueAt(i).getArray().toFloatArray();
                assertArrayEquals(values, b.valueAt(i).getArray().toFloatArray(), a.keyAt(i));
                count += values.length;
                if (a.valueAt(i).getType() == Parameter.Type.WEIGHT && values.length >= 4096) {
                    // the sample deviation of n >= 4096 normal draws is within 5% of sigma (its
                    // own deviation is sigma / sqrt(2n) < 1.2%)
                    double sum = 0;
                    double squares = 0;
                    for (float v : values) {
                        sum += v;
                        squares += (double) v * v;
                    }
                    double mean = sum / values.length;
                    double std = Math.sqrt(squares / values.length - mean * mean);
                    assertEquals(0.02, std, 0.001, a.keyAt(i));
                }
            }
            assertEquals(SMALL.parameters(), count);
        }
    }

    @Test
    void sizesAreCheckedByName() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new CharTransformer.Config(98, 64, 130, 2, 4));
        assertEquals("width must be a multiple of heads (4), but was 130", e.getMessage());
        assertEquals(
                "layers must be at least 1, but was 0",
                assertThrows(
                                IllegalArgumentException.class,
                                () -> new CharTransformer.Config(98, 64, 128, 0, 4))
                        .getMessage());
    }
}
