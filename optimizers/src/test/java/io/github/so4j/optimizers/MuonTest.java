package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.nn.transformer.IdEmbedding;
import ai.djl.training.GradientCollector;
import ai.djl.training.LocalParameterServer;
import ai.djl.training.ParameterStore;
import ai.djl.training.tracker.ParameterTracker;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.RecordedScalars;
import io.github.so4j.curvature.linalg.NewtonSchulzOrthogonalizer;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.optimizers.transform.Orthogonalize;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Muon} against a plain-Java float64 reference of Keller Jordan's {@code
 * SingleDeviceMuonWithAuxAdam} (Commons Math for the matrices), through DJL's own update path;
 * which parameters the default rule gives Muon; the step guard; host reads; checkpoints; and bad
 * settings.
 */
class MuonTest {

    /**
     * A convolution kernel (5, 1, 1, 2), a dense weight (4, 20), an output layer (3, 4) and their
     * biases, whose gradients are prescribed: the loss \( \sum_i \langle G_i, W_i \rangle \) (plus
     * 0 times the network's output, so that DJL's parameter store sees every parameter) has exactly
     * the gradients \( G_i \). Updates go through DJL's {@link ParameterStore}, as a trainer's do.
     */
    private static final class FedModel implements AutoCloseable {

        final NDManager manager;
        final Block block;
        final List<Parameter> parameters;
        private final ParameterStore store;
        private final NDArray input;
        private final DataType type;

        FedModel(NDManager parent, SecondOrderOptimizer optimizer, DataType type) {
            this.manager = parent.newSubManager();
            this.type = type;
            this.block =
                    new SequentialBlock()
                            .add(
                                    Conv2d.builder()
                                            .setKernelShape(new Shape(1, 2))
                                            .setFilters(5)
                                            .build())
                            .add(Blocks.batchFlattenBlock())
                            .add(Linear.builder().setUnits(4).build())
                            .add(Linear.builder().setUnits(3).build());
            this.input = manager.ones(new Shape(1, 1, 2, 3), type);
            block.initialize(manager, type, input.getShape());
            this.parameters = new ArrayList<>(block.getParameters().values());
            this.store = new ParameterStore(manager, false);
            store.setParameterServer(
                    new LocalParameterServer(optimizer), new Device[] {manager.getDevice()});
        }

        List<String> names() {
            return block.getParameters().keys();
        }

        double[] weights(int i) {
            return Dense.toDoubles(parameters.get(i).getArray());
        }

        /** One step with gradient {@code gradients[i]} (flat, row-major) for parameter i. */
        void step(double[][] gradients) {
            try (NDManager scope = manager.newSubManager()) {
                scope.tempAttachAll(input);
                try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
                    NDList out = block.forward(store, new NDList(input), true);
                    NDArray loss = RecordedScalars.mul(out.head().sum(), 0);
                    for (int i = 0; i < parameters.size(); i++) {
                        NDArray w = parameters.get(i).getArray();
                        NDArray g = Dense.toArray(scope, gradients[i], type).reshape(w.getShape());
                        loss = loss.add(g.mul(w).sum());
                    }
                    collector.backward(loss);
                }
                store.updateAllParameters();
            }
        }

        double[][] randomGradients(Random random) {
            double[][] g = new double[parameters.size()][];
            for (int i = 0; i < g.length; i++) {
                g[i] = new double[Math.toIntExact(parameters.get(i).getArray().size())];
                for (int j = 0; j < g[i].length; j++) {
                    g[i][j] = random.nextGaussian();
                }
            }
            return g;
        }

        @Override
        public void close() {
            manager.close();
        }
    }

    /** The reference's arithmetic in float64, per parameter. */
    private static final class Reference {

        final double[][] w;
        final boolean[] muon;
        final long[][] shapes;
        final double[][] buffer;
        final double[][] m;
        final double[][] v;
        double momentum;
        boolean nesterov;
        double weightDecay;
        double a;
        double b;
        double c;
        int steps;
        Orthogonalize.Scale scale;
        double beta1;
        double beta2;
        double epsilon;
        double adamWeightDecay;

        Reference(FedModel model, boolean[] muon) {
            int n = model.parameters.size();
            this.muon = muon;
            w = new double[n][];
            shapes = new long[n][];
            buffer = new double[n][];
            m = new double[n][];
            v = new double[n][];
            for (int i = 0; i < n; i++) {
                w[i] = model.weights(i);
                shapes[i] = model.parameters.get(i).getArray().getShape().getShape();
                buffer[i] = new double[w[i].length];
                m[i] = new double[w[i].length];
                v[i] = new double[w[i].length];
            }
        }

        void step(double[][] g, int t, double eta, double alpha) {
            for (int i = 0; i < w.length; i++) {
                if (muon[i]) {
                    muonStep(i, g[i], eta);
                } else {
                    adamStep(i, g[i], t, alpha);
                }
            }
        }

        private void muonStep(int i, double[] g, double eta) {
            int rows = (int) shapes[i][0];
            int columns = w[i].length / rows;
            double[] d = new double[g.length];
            for (int j = 0; j < g.length; j++) {
                buffer[i][j] = momentum * buffer[i][j] + (1 - momentum) * g[j];
                d[j] = nesterov ? (1 - momentum) * g[j] + momentum * buffer[i][j] : buffer[i][j];
            }
            double[] o = newtonSchulz(d, rows, columns);
            // Keller Jordan's max(1, rows / cols)^0.5, or Moonlight's 0.2 max(rows, cols)^0.5
            double s =
                    scale == Orthogonalize.Scale.ORIGINAL
                            ? Math.sqrt(Math.max(1, (double) rows / columns))
                            : 0.2 * Math.sqrt(Math.max(rows, columns));
            for (int j = 0; j < g.length; j++) {
                w[i][j] -= eta * (s * o[j] + weightDecay * w[i][j]);
            }
        }

        /** Keller Jordan's zeropower_via_newtonschulz5: transpose if tall, normalise, iterate. */
        private double[] newtonSchulz(double[] d, int rows, int columns) {
            double[][] matrix = new double[rows][columns];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(d, r * columns, matrix[r], 0, columns);
            }
            RealMatrix x = new Array2DRowRealMatrix(matrix, false);
            boolean tall = rows > columns;
            if (tall) {
                x = x.transpose();
            }
            x = x.scalarMultiply(1 / (x.getFrobeniusNorm() + 1e-7));
            for (int k = 0; k < steps; k++) {
                RealMatrix gram = x.multiply(x.transpose());
                RealMatrix poly = gram.scalarMultiply(b).add(gram.multiply(gram).scalarMultiply(c));
                x = x.scalarMultiply(a).add(poly.multiply(x));
            }
            if (tall) {
                x = x.transpose();
            }
            double[] out = new double[d.length];
            for (int r = 0; r < rows; r++) {
                for (int col = 0; col < columns; col++) {
                    out[r * columns + col] = x.getEntry(r, col);
                }
            }
            return out;
        }

        private void adamStep(int i, double[] g, int t, double alpha) {
            for (int j = 0; j < g.length; j++) {
                m[i][j] = beta1 * m[i][j] + (1 - beta1) * g[j];
                v[i][j] = beta2 * v[i][j] + (1 - beta2) * g[j] * g[j];
                double mHat = m[i][j] / (1 - Math.pow(beta1, t));
                double vHat = v[i][j] / (1 - Math.pow(beta2, t));
                w[i][j] -= alpha * (mHat / (Math.sqrt(vHat) + epsilon) + adamWeightDecay * w[i][j]);
            }
        }
    }

    /**
     * Which parameters of {@link FedModel} Muon moves by default: the kernel and the hidden weight.
     */
    private static final boolean[] FED_MODEL_GROUPS = {true, false, true, false, false, false};

    /**
     * Six steps of Muon in float64 against the reference, with both scales, Nesterov on and off,
     * weight decay on both groups or none, the reference's quintic and the classic cubic (1.5,
     * −0.5, 0) for 7 steps, and learning-rate schedules for both groups or fixed rates. The tall
     * kernel (5 x 2 after flattening) takes the transposed path, the wide hidden weight (4 x 20)
     * the other; the output layer and the biases move by AdamW.
     *
     * <p>Tolerance: each parameter's displacement from its start agrees to 1e-10 relative. The
     * orthogonalised update agrees with its closed form to \( 5 L (|a| + |b| + |c|) \gamma_l \)
     * (see {@code NewtonSchulzOrthogonalizerTest}): at most 5.5e-11 for L = 485 and l = 20; the
     * rest is a few float64 operations per entry (measured: at most 7e-15). Ordinary steps read
     * nothing; with a schedule the base class reads the step count once a step.
     */
    @ParameterizedTest(
            name = "{0}, nesterov={1}, decay {2}/{3}, {4} steps of ({5}, {6}, {7}), schedule={8}")
    @CsvSource({
        "ORIGINAL, true, 0, 0, 5, 3.4445, -4.7750, 2.0315, false",
        "ORIGINAL, false, 0.01, 0.02, 5, 3.4445, -4.7750, 2.0315, true",
        "MATCH_RMS_ADAMW, true, 0.01, 0, 5, 3.4445, -4.7750, 2.0315, false",
        "MATCH_RMS_ADAMW, false, 0, 0.02, 7, 1.5, -0.5, 0, true"
    })
    void stepsMatchTheFloat64Reference(
            Orthogonalize.Scale scale,
            boolean nesterov,
            float weightDecay,
            float adamWeightDecay,
            int steps,
            double a,
            double b,
            double c,
            boolean schedule) {
        float lr = 0.03f;
        float adamLr = 0.005f;
        ParameterTracker eta =
                schedule ? (id, t) -> lr * (float) Math.pow(0.7, t - 1) : Tracker.fixed(lr);
        ParameterTracker alpha =
                schedule ? (id, t) -> adamLr * (float) Math.pow(0.8, t - 1) : Tracker.fixed(adamLr);
        Muon muon =
                Muon.builder()
                        .optLearningRateTracker(eta)
                        .optMomentum(0.9f)
                        .optNesterov(nesterov)
                        .optNewtonSchulzSteps(steps)
                        .optNewtonSchulzCoefficients(a, b, c)
                        .optUpdateScale(scale)
                        .optWeightDecays(weightDecay)
                        .optAdamLearningRateTracker(alpha)
                        .optAdamBetas(0.8f, 0.99f)
                        .optAdamEpsilon(1e-8f)
                        .optAdamWeightDecay(adamWeightDecay)
                        .build();
        try (NDManager manager = NDManager.newBaseManager();
                FedModel model = new FedModel(manager, muon, DataType.FLOAT64)) {
            muon.nameParameters(model.block);
            Reference reference = new Reference(model, FED_MODEL_GROUPS);
            reference.momentum = 0.9f;
            reference.nesterov = nesterov;
            reference.weightDecay = weightDecay;
            reference.a = a;
            reference.b = b;
            reference.c = c;
            reference.steps = steps;
            reference.scale = scale;
            reference.beta1 = 0.8f;
            reference.beta2 = 0.99f;
            reference.epsilon = 1e-8f;
            reference.adamWeightDecay = adamWeightDecay;
            double[][] start = new double[model.parameters.size()][];
            for (int i = 0; i < start.length; i++) {
                start[i] = model.weights(i);
            }
            Random random = new Random(7);
            for (int t = 1; t <= 6; t++) {
                double[][] g = model.randomGradients(random);
                long reads = HostReads.count();
                model.step(g);
                assertEquals(schedule ? 1 : 0, HostReads.count() - reads, "reads at step " + t);
                reference.step(g, t, eta.getNewValue("", t), alpha.getNewValue("", t));
                for (int i = 0; i < start.length; i++) {
                    double[] got = model.weights(i);
                    double[] expected = reference.w[i];
                    double error = 0;
                    double moved = 0;
                    for (int j = 0; j < got.length; j++) {
                        error += (got[j] - expected[j]) * (got[j] - expected[j]);
                        moved += (expected[j] - start[i][j]) * (expected[j] - start[i][j]);
                    }
                    double relative = Math.sqrt(error / moved);
                    assertTrue(
                            relative < 1e-10,
                            "step " + t + ", " + model.names().get(i) + ": " + relative);
                }
            }
            Map<String, Muon.Group> expected = new TreeMap<>();
            for (int i = 0; i < FED_MODEL_GROUPS.length; i++) {
                expected.put(
                        model.names().get(i),
                        FED_MODEL_GROUPS[i] ? Muon.Group.MUON : Muon.Group.ADAMW);
            }
            assertEquals(expected, muon.parameterGroups());
            assertEquals(2L, muon.health().curvature().get("muonParameters"));
            assertEquals(4L, muon.health().curvature().get("adamwParameters"));
        }
    }

    /**
     * The default rule on a model with an embedding, a hidden dense layer, a layer norm over two
     * axes (whose gain and shift are 2-D, 5 x 6) and an output layer: Muon takes the hidden weight
     * only; the embedding table (DJL's {@code embedding}), the output layer (the last 2-D weight),
     * the gains and the biases go to AdamW.
     */
    @Test
    void theDefaultRuleKeepsEmbeddingsTheOutputLayerAndVectorsForAdamW() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Block block =
                    new SequentialBlock()
                            .add(
                                    new IdEmbedding.Builder()
                                            .setDictionarySize(10)
                                            .setEmbeddingSize(4)
                                            .build())
                            .add(Linear.builder().setUnits(6).build())
                            .add(LayerNorm.builder().build())
                            .add(Linear.builder().setUnits(3).build());
            block.initialize(manager, DataType.FLOAT32, new Shape(2, 5));
            Muon muon = Muon.builder().build().nameParameters(block);
            firstStep(muon, block, manager);
            Map<String, Muon.Group> expected = new TreeMap<>();
            for (String name : block.getParameters().keys()) {
                expected.put(
                        name,
                        name.endsWith("02Linear_weight") ? Muon.Group.MUON : Muon.Group.ADAMW);
            }
            assertEquals(7, expected.size(), expected.toString());
            for (Parameter p : block.getParameters().values()) {
                if (p.getName().equals("gamma")) {
                    assertEquals(new Shape(5, 6), p.getArray().getShape());
                }
            }
            for (Parameter p : block.getParameters().values()) {
                if (p.getName().equals("gamma")) {
                    assertEquals(new Shape(5, 6), p.getArray().getShape());
                }
            }
            assertTrue(expected.containsValue(Muon.Group.MUON), expected.toString());
            assertEquals(expected, muon.parameterGroups());
        }
    }

    /**
     * The model may be named before it is initialized (as a harness's training strategy does when
     * it prepares the block): its parameter order and names are read at the first step.
     */
    @Test
    void theModelMayBeNamedBeforeItIsInitialized() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Block block =
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(6).build())
                            .add(Linear.builder().setUnits(5).build())
                            .add(Linear.builder().setUnits(3).build());
            Muon muon = Muon.builder().build().nameParameters(block);
            block.initialize(manager, DataType.FLOAT32, new Shape(2, 4));
            firstStep(muon, block, manager);
            assertEquals(
                    Map.of(
                            "01Linear_weight", Muon.Group.MUON,
                            "01Linear_bias", Muon.Group.ADAMW,
                            "02Linear_weight", Muon.Group.MUON,
                            "02Linear_bias", Muon.Group.ADAMW,
                            "03Linear_weight", Muon.Group.ADAMW,
                            "03Linear_bias", Muon.Group.ADAMW),
                    muon.parameterGroups());
        }
    }

    /**
     * Calls computeStep once for every parameter of an initialized block, as the base class does.
     */
    private static void firstStep(Muon muon, Block block, NDManager manager) {
        List<SecondOrderOptimizer.ParameterGradient> gradients = new ArrayList<>();
        for (Parameter p : block.getParameters().values()) {
            NDArray w = p.getArray();
            gradients.add(
                    new SecondOrderOptimizer.ParameterGradient(w.getUid(), null, w, w.onesLike()));
        }
        try (NDManager scope = manager.newSubManager()) {
            Step step =
                    new Step(
                            scope,
                            scope.create(true),
                            scope.create(0L),
                            1,
                            1,
                            new Step.Resolver() {
                                @Override
                                public long takenBefore() {
                                    return 0;
                                }

                                @Override
                                public boolean decide(NDArray accepted) {
                                    return HostReads.toBoolean(accepted);
                                }
                            });
            muon.computeStep(gradients, scope, step);
            step.commits().forEach(commit -> commit.commit(scope.create(true)));
        }
    }

    /**
     * Without the model, the default rule cannot tell the output layer: the first step throws,
     * naming the fix, and moves nothing; once named, training goes on. A rule that does not ask
     * needs no model.
     */
    @Test
    void theDefaultRuleNeedsTheModelAndSaysSo() {
        Random data = new Random(4);
        Muon muon = Muon.builder().build();
        try (TinyTanhNet net = new TinyTanhNet(muon, DataType.FLOAT32)) {
            double[][][] batch = TinyTanhNet.batch(data);
            double[] before = net.weights();
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, () -> net.step(batch[0], batch[1]));
            assertTrue(
                    e.getMessage()
                            .matches(
                                    "Muon's parameter rule asks whether weight \\([0-9, ]+\\) is the"
                                            + " output layer, which takes the model's parameter"
                                            + " order: call nameParameters\\(block\\) on the"
                                            + " optimizer with the model's block \\(DJL does not"
                                            + " tell an optimizer the model\\), or give"
                                            + " optParameterRule a rule that does not ask"),
                    e.getMessage());
            assertArrayEquals(before, net.weights(), 0.0);
            assertEquals(0, muon.health().steps());
            muon.nameParameters(net.model.getBlock());
            net.step(batch[0], batch[1]);
            assertEquals(1, muon.health().steps());
            assertEquals(
                    Map.of(
                            "01Linear_weight", Muon.Group.MUON,
                            "01Linear_bias", Muon.Group.ADAMW,
                            "03Linear_weight", Muon.Group.ADAMW,
                            "03Linear_bias", Muon.Group.ADAMW),
                    muon.parameterGroups());
        }
        Muon byShape =
                Muon.builder().optParameterRule(p -> p.isMatrix() && p.shape().get(0) == 4).build();
        try (TinyTanhNet net = new TinyTanhNet(byShape, DataType.FLOAT32)) {
            double[][][] batch = TinyTanhNet.batch(data);
            net.step(batch[0], batch[1]);
            assertEquals(1L, byShape.health().curvature().get("muonParameters"));
        }
        Muon vectors = Muon.builder().optParameterRule(p -> true).build();
        try (TinyTanhNet net = new TinyTanhNet(vectors, DataType.FLOAT32)) {
            double[][][] batch = TinyTanhNet.batch(data);
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, () -> net.step(batch[0], batch[1]));
            assertTrue(
                    e.getMessage()
                            .matches(
                                    "Muon's parameter rule chose bias \\([0-9]+\\) for Muon, which"
                                            + " orthogonalises parameters of 2 or more dimensions"
                                            + " only"),
                    e.getMessage());
        }
    }

    /**
     * A NaN in one parameter's gradient (the kernel, which Muon moves, then the output layer, which
     * AdamW moves) rejects the step on the device: weights, momentum buffers and Adam's moments
     * stay bit-identical, and nothing is read from the device.
     */
    @Test
    void aNonFiniteGradientChangesNothing() throws IOException {
        Muon muon = Muon.builder().optWeightDecays(0.01f).optAdamWeightDecay(0.01f).build();
        try (NDManager manager = NDManager.newBaseManager();
                FedModel model = new FedModel(manager, muon, DataType.FLOAT32)) {
            muon.nameParameters(model.block);
            Random random = new Random(9);
            for (int t = 0; t < 2; t++) {
                model.step(model.randomGradients(random));
            }
            for (int poisoned : new int[] {0, 4}) {
                Map<String, double[]> state = stateArrays(muon, model);
                List<double[]> weights = new ArrayList<>();
                for (int i = 0; i < model.parameters.size(); i++) {
                    weights.add(model.weights(i));
                }
                double[][] g = model.randomGradients(random);
                g[poisoned][1] = Double.NaN;
                long reads = HostReads.count();
                model.step(g);
                assertEquals(0, HostReads.count() - reads);
                for (int i = 0; i < model.parameters.size(); i++) {
                    assertArrayEquals(weights.get(i), model.weights(i), 0.0, "weight " + i);
                }
                Map<String, double[]> after = stateArrays(muon, model);
                assertEquals(state.keySet(), after.keySet());
                for (String entry : state.keySet()) {
                    assertArrayEquals(state.get(entry), after.get(entry), 0.0, entry);
                }
            }
            assertEquals(2, muon.health().skippedSteps());
            List<String> names = model.names();
            // the checkpoint names the state by parameter: a buffer per Muon parameter, m and v
            // per AdamW parameter
            Map<String, double[]> state = stateArrays(muon, model);
            assertTrue(state.containsKey("muon/orthogonalized/momentum/buffer/" + names.get(0)));
            assertTrue(state.containsKey("muon/adamw/adam/firstMoment/m/" + names.get(4)));
            assertTrue(state.containsKey("muon/adamw/adam/secondMoment/v/" + names.get(4)));
            assertEquals(2 + 2 * 4, state.size(), state.keySet().toString());
        }
    }

    /** Every array of the optimizer's checkpoint, by entry name. */
    private static Map<String, double[]> stateArrays(Muon muon, FedModel model) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        muon.saveState(bytes, model.block);
        Map<String, double[]> arrays = new TreeMap<>();
        try (NDManager scratch = model.manager.newSubManager()) {
            OptimizerState state = new OptimizerState(Map.of(), Map.of(), Map.of(), scratch);
            CheckpointFormat.read(new ByteArrayInputStream(bytes.toByteArray()), scratch, state);
            for (String name : state.names()) {
                if (state.entries().get(name) instanceof NDArray array) {
                    arrays.put(name, Dense.toDoubles(array));
                }
            }
        }
        return arrays;
    }

    /**
     * A checkpoint carries the groups: an optimizer restored from it, never given the model,
     * continues bit for bit like the uninterrupted run.
     */
    @Test
    void aRestoredOptimizerKeepsTheGroupsWithoutTheModel() throws IOException {
        Random data = new Random(12);
        List<double[][][]> batches = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            batches.add(TinyTanhNet.batch(data));
        }
        Muon original = Muon.builder().build();
        try (TinyTanhNet net = new TinyTanhNet(original, DataType.FLOAT32)) {
            original.nameParameters(net.model.getBlock());
            for (int i = 0; i < 3; i++) {
                net.step(batches.get(i)[0], batches.get(i)[1]);
            }
            ByteArrayOutputStream state = new ByteArrayOutputStream();
            original.saveState(state, net.model.getBlock());
            Muon restored = Muon.builder().build();
            try (TinyTanhNet resumed =
                    new TinyTanhNet(restored, DataType.FLOAT32, net.saveParameters())) {
                restored.loadState(
                        new ByteArrayInputStream(state.toByteArray()), resumed.model.getBlock());
                for (int i = 3; i < 6; i++) {
                    net.step(batches.get(i)[0], batches.get(i)[1]);
                    resumed.step(batches.get(i)[0], batches.get(i)[1]);
                }
                assertArrayEquals(net.weights(), resumed.weights(), 0.0);
                assertEquals(original.health().curvature(), restored.health().curvature());
            }
        }
    }

    /**
     * Momentum, the iteration's temporaries, Adam's moments and both weight decays must not grow
     * the array count; a small training sanity check on the way (not an oracle): the loss on a
     * fixed batch falls.
     */
    @Test
    void threeHundredStepsLeaveTheLiveArrayCountFlat() {
        Muon muon =
                Muon.builder()
                        .optWeightDecays(1e-3f)
                        .optAdamWeightDecay(1e-3f)
                        .optAdamLearningRate(1e-2f)
                        .build();
        Random data = new Random(5);
        double[][][] batch = TinyTanhNet.batch(data);
        try (TinyTanhNet net = new TinyTanhNet(muon, DataType.FLOAT32)) {
            muon.nameParameters(net.model.getBlock());
            double before = loss(net.weights(), batch);
            for (int step = 0; step < 20; step++) {
                net.step(batch[0], batch[1]);
            }
            NDManager root = net.model.getNDManager();
            int warm = LiveArrays.count(root);
            for (int step = 0; step < 300; step++) {
                net.step(batch[0], batch[1]);
            }
            assertEquals(warm, LiveArrays.count(root));
            assertEquals(0, muon.health().skippedSteps());
            double after = loss(net.weights(), batch);
            assertTrue(after < 0.5 * before, before + " -> " + after);
        }
    }

    /** DJL's L2 loss of the tiny net at w (W1, b1, W2, b2 flattened), in float64. */
    private static double loss(double[] w, double[][][] batch) {
        double total = 0;
        int b1 = TinyTanhNet.HIDDEN * TinyTanhNet.IN;
        int w2Start = b1 + TinyTanhNet.HIDDEN;
        int b2 = w2Start + TinyTanhNet.OUT * TinyTanhNet.HIDDEN;
        for (int n = 0; n < TinyTanhNet.BATCH; n++) {
            double[] h = new double[TinyTanhNet.HIDDEN];
            for (int i = 0; i < TinyTanhNet.HIDDEN; i++) {
                double z = w[b1 + i];
                for (int j = 0; j < TinyTanhNet.IN; j++) {
                    z += w[i * TinyTanhNet.IN + j] * batch[0][n][j];
                }
                h[i] = Math.tanh(z);
            }
            for (int k = 0; k < TinyTanhNet.OUT; k++) {
                double y = w[b2 + k];
                for (int i = 0; i < TinyTanhNet.HIDDEN; i++) {
                    y += w[w2Start + k * TinyTanhNet.HIDDEN + i] * h[i];
                }
                total += 0.5 * (y - batch[1][n][k]) * (y - batch[1][n][k]);
            }
        }
        return total / (TinyTanhNet.OUT * TinyTanhNet.BATCH);
    }

    @Test
    void defaultsAreTheReferences() {
        Muon muon = Muon.builder().build();
        assertEquals(0.02f, muon.getLearningRateTracker().getNewValue("any", 1));
        assertEquals(0.95f, muon.getMomentum());
        assertTrue(muon.isNesterov());
        NewtonSchulzOrthogonalizer ns = muon.getOrthogonalizer();
        assertEquals(3.4445, ns.a());
        assertEquals(-4.7750, ns.b());
        assertEquals(2.0315, ns.c());
        assertEquals(5, ns.steps());
        assertEquals(1e-7, ns.epsilon());
        assertEquals(Orthogonalize.Scale.ORIGINAL, muon.getUpdateScale());
        assertEquals(3e-4f, muon.getAdamLearningRateTracker().getNewValue("any", 1));
        assertEquals(0.9f, muon.getAdamBeta1());
        assertEquals(0.95f, muon.getAdamBeta2());
        assertEquals(1e-10f, muon.getAdamEpsilon());
        assertEquals(0f, muon.getAdamWeightDecay());
        assertEquals(Muon.ParameterRule.HIDDEN_WEIGHTS, muon.getParameterRule());
    }

    @Test
    void invalidSettingsFailInBuildWithTheirValues() {
        assertMessage(
                "momentum must be in [0, 1), but was 1.0",
                () -> Muon.builder().optMomentum(1).build());
        assertMessage(
                "momentum must be in [0, 1), but was NaN",
                () -> Muon.builder().optMomentum(Float.NaN).build());
        assertMessage(
                "momentum must be in [0, 1), but was -0.1",
                () -> Muon.builder().optMomentum(-0.1f).build());
        assertMessage(
                "newtonSchulzSteps must be at least 1, but was 0",
                () -> Muon.builder().optNewtonSchulzSteps(0).build());
        assertMessage(
                "newtonSchulzCoefficients' a must be positive and finite, but was -1.0",
                () -> Muon.builder().optNewtonSchulzCoefficients(-1, -4.775, 2.0315).build());
        assertMessage(
                "newtonSchulzCoefficients' a must be positive and finite, but was NaN",
                () -> Muon.builder().optNewtonSchulzCoefficients(Double.NaN, 0, 0).build());
        assertMessage(
                "newtonSchulzCoefficients' b must be finite, but was Infinity",
                () ->
                        Muon.builder()
                                .optNewtonSchulzCoefficients(3.4, Double.POSITIVE_INFINITY, 2)
                                .build());
        assertMessage(
                "newtonSchulzCoefficients' c must be finite, but was NaN",
                () -> Muon.builder().optNewtonSchulzCoefficients(3.4, -4.7, Double.NaN).build());
        assertMessage(
                "newtonSchulzEpsilon must be positive and finite, but was 0.0",
                () -> Muon.builder().optNewtonSchulzEpsilon(0).build());
        assertMessage(
                "newtonSchulzEpsilon must be positive and finite, but was NaN",
                () -> Muon.builder().optNewtonSchulzEpsilon(Double.NaN).build());
        assertMessage(
                "updateScale must not be null", () -> Muon.builder().optUpdateScale(null).build());
        assertMessage(
                "adamLearningRate must be finite and non-negative, but was -0.001",
                () -> Muon.builder().optAdamLearningRate(-1e-3f).build());
        assertMessage(
                "adamLearningRate must be finite and non-negative, but was Infinity",
                () -> Muon.builder().optAdamLearningRate(Float.POSITIVE_INFINITY).build());
        assertMessage(
                "adamLearningRateTracker must give finite, non-negative values, but its first is"
                        + " NaN",
                () -> Muon.builder().optAdamLearningRateTracker(Tracker.fixed(Float.NaN)).build());
        assertMessage(
                "adamBeta1 must be in [0, 1), but was 1.0",
                () -> Muon.builder().optAdamBetas(1, 0.95f).build());
        assertMessage(
                "adamBeta2 must be in [0, 1), but was -0.5",
                () -> Muon.builder().optAdamBetas(0.9f, -0.5f).build());
        assertMessage(
                "adamBeta2 must be in [0, 1), but was NaN",
                () -> Muon.builder().optAdamBetas(0.9f, Float.NaN).build());
        assertMessage(
                "adamEpsilon must be positive and finite, but was 0.0",
                () -> Muon.builder().optAdamEpsilon(0).build());
        assertMessage(
                "adamWeightDecay must be finite and non-negative, but was -0.1",
                () -> Muon.builder().optAdamWeightDecay(-0.1f).build());
        assertMessage(
                "adamWeightDecay must be finite and non-negative, but was NaN",
                () -> Muon.builder().optAdamWeightDecay(Float.NaN).build());
        assertMessage(
                "parameterRule must not be null",
                () -> Muon.builder().optParameterRule(null).build());
        assertMessage(
                "weightDecay must be finite and non-negative, but was -1.0",
                () -> Muon.builder().optWeightDecays(-1).build());
        assertMessage(
                "weightDecay must be finite and non-negative, but was NaN",
                () -> Muon.builder().optWeightDecays(Float.NaN).build());
        assertMessage(
                "learningRate must be finite and non-negative, but was -0.02",
                () -> Muon.builder().optLearningRate(-0.02f).build());
        assertMessage(
                "learningRateTracker must give finite, non-negative values, but its first is"
                        + " -1.0",
                () -> Muon.builder().optLearningRateTracker(Tracker.fixed(-1f)).build());
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
