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
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.LocalParameterServer;
import ai.djl.training.ParameterStore;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.optimizers.LowRankAdam.ProjectionSide;
import io.github.so4j.optimizers.LowRankReference.Layout;
import io.github.so4j.optimizers.LowRankReference.Method;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link DctAdam}, {@link GaLore} and {@link OnlineSubspaceDescent} against {@link
 * LowRankReference}, a plain float64 oracle, through DJL's own update path; which parameters are
 * projected at what rank; host reads; the step guard; checkpoints; the state they keep; bad
 * settings.
 */
class LowRankAdamTest {

    private static final int PERIOD = 3;
    private static final float LR = 0.02f;

    /** The builder of a method with the settings of the oracle tests. */
    private static LowRankAdam build(Method method, ProjectionSide side) {
        return build(method, side, "");
    }

    /** The same, with DCT-Adam's moment rotation or l2 selection ({@code variant}). */
    private static LowRankAdam build(Method method, ProjectionSide side, String variant) {
        LowRankAdam.Builder<?> b =
                switch (method) {
                    case DCT ->
                            DctAdam.builder()
                                    .optUpdatePeriod(PERIOD)
                                    .optRotateMoments(variant.contains("rotate"))
                                    .optSelectionNorm(variant.contains("l2") ? 2 : 1);
                    case GALORE -> GaLore.builder().optUpdatePeriod(PERIOD);
                    case OSD -> OnlineSubspaceDescent.builder().optUpdatePeriod(PERIOD);
                };
        b.optRank(2)
                .optMinRank(1)
                .optProjectionSide(side)
                .optScale(0.5f)
                .optBetas(0.8f, 0.99f)
                .optEpsilon(1e-6f)
                .optWeightDecays(0.01f)
                .optLearningRate(LR);
        return switch (method) {
            case DCT -> ((DctAdam.Builder) b).build();
            case GALORE -> ((GaLore.Builder) b).build();
            case OSD -> ((OnlineSubspaceDescent.Builder) b).build();
        };
    }

    /** The reference's layouts of the model's parameters: rank 2, a quarter at most, from 1. */
    private static Layout[] layouts(LowRankFedModel model, ProjectionSide side) {
        Layout[] layouts = new Layout[model.size()];
        for (int i = 0; i < model.size(); i++) {
            if (model.isMatrix(i)) {
                layouts[i] =
                        LowRankReference.layout(
                                model.rows(i), model.columns(i), 2, 0.25, 1, side.name());
            }
        }
        return layouts;
    }

    /**
     * Exact rank-r gradients for the projected parameters (singular values 3 and 1.5, random
     * singular vectors), so that the randomized subspace iteration finds the exact singular vectors
     * and the oracle can take them from an SVD; Gaussian gradients for the others.
     */
    private static double[][] lowRankGradients(
            LowRankFedModel model, Layout[] layouts, Random random) {
        double[][] g = model.randomGradients(random);
        for (int i = 0; i < g.length; i++) {
            Layout layout = layouts[i];
            if (layout != null) {
                g[i] = LowRankReference.flat(exactRank(random, layout, layout.rows()));
            }
        }
        return g;
    }

    private static RealMatrix exactRank(Random random, Layout layout, int rows) {
        double[] sigma = {3, 1.5};
        RealMatrix u = orthonormal(random, rows, layout.rank());
        RealMatrix v = orthonormal(random, layout.columns(), layout.rank());
        RealMatrix g = new Array2DRowRealMatrix(rows, layout.columns());
        for (int k = 0; k < layout.rank(); k++) {
            g =
                    g.add(
                            u.getColumnMatrix(k)
                                    .multiply(v.getColumnMatrix(k).transpose())
                                    .scalarMultiply(sigma[k]));
        }
        return g;
    }

    private static RealMatrix orthonormal(Random random, int rows, int columns) {
        RealMatrix q =
                new QRDecomposition(
                                new Array2DRowRealMatrix(Dense.gaussian(random, rows, columns, 1)))
                        .getQ();
        return q.getSubMatrix(0, rows - 1, 0, columns - 1);
    }

    /** Whether the reference method (re)computes a basis with an SVD at step t. */
    private static boolean svdStep(Method method, int t) {
        return switch (method) {
            case DCT -> false;
            case GALORE -> t == 1 || (t - 1) % PERIOD == 0;
            case OSD -> t == 1;
        };
    }

    /**
     * The host reads of step t: the decision of a start or refresh step; before a refresh, the
     * step's index (the host has not heard whether the steps since the last read were taken, which
     * could move the schedule: {@link Step#isDue}); 2q + 2 = 6 per iteration.
     */
    private static long expectedReads(Method method, int t, int projected) {
        boolean refresh =
                (method == Method.DCT && t % PERIOD == 0)
                        || (method == Method.GALORE && t > 1 && (t - 1) % PERIOD == 0);
        if (t > 1 && !refresh) {
            return 0;
        }
        return (refresh ? 2 : 1) + (svdStep(method, t) ? projected * 6L : 0);
    }

    /**
     * Seven steps of each method in float64 against the reference, with the references' side rule
     * and a side forced the other way, scale 0.5, weight decay on both groups: the kernel (6 x 8,
     * rank 1), the wide weight (8 x 24, rank 2) and the tall one (12 x 8, rank 2) are projected,
     * the biases move by AdamW. DCT-Adam refreshes at t = 3 and 6, GaLore at t = 4 and 7 (its
     * gradients there, and every method's first, have exact rank 2 or 1, so that the randomized
     * subspace iteration is exact to rounding and the reference may use Commons Math's SVD), Online
     * Subspace Descent steps its basis from t = 2 on.
     *
     * <p>Tolerance: each parameter's displacement from its start agrees to 1e-9 relative. Every
     * operation is float64; the subspace iteration on an exact-rank matrix gives the singular
     * vectors to about \( 10^{-15} \sigma_1 / \sigma_r \) (products of length 24, a condition
     * number of 2); Adam divides by \( \sqrt{\hat v} + \epsilon \) with \( \hat v \) of the size of
     * the gradient's squares, so nothing amplifies those errors by more than a few orders. Host
     * reads: those of {@link #expectedReads}; none on other steps. DCT-Adam also with its moments
     * carried to the new columns, and with columns ranked by their l2 norms.
     */
    @ParameterizedTest(name = "{0}, side {1} {2}")
    @CsvSource({
        "DCT, AUTO, ''",
        "DCT, RIGHT, ''",
        "DCT, AUTO, rotate",
        "DCT, RIGHT, rotate l2",
        "GALORE, AUTO, ''",
        "GALORE, LEFT, ''",
        "OSD, AUTO, ''",
        "OSD, RIGHT, ''"
    })
    void stepsMatchTheFloat64Reference(Method method, ProjectionSide side, String variant) {
        LowRankAdam optimizer = build(method, side, variant);
        try (NDManager manager = NDManager.newBaseManager();
                LowRankFedModel model = new LowRankFedModel(manager, optimizer, DataType.FLOAT64)) {
            Layout[] layouts = layouts(model, side);
            assertEquals(1, layouts[LowRankFedModel.KERNEL].rank());
            assertEquals(2, layouts[LowRankFedModel.WIDE].rank());
            assertEquals(2, layouts[LowRankFedModel.TALL].rank());
            LowRankReference reference = new LowRankReference(method, model, layouts);
            reference.beta1 = 0.8f;
            reference.beta2 = 0.99f;
            reference.epsilon = 1e-6f;
            reference.scale = 0.5f;
            reference.weightDecay = 0.01f;
            reference.period = PERIOD;
            reference.rotate = variant.contains("rotate");
            reference.selectionNorm = variant.contains("l2") ? 2 : 1;
            double[][] start = new double[model.size()][];
            for (int i = 0; i < start.length; i++) {
                start[i] = model.weights(i);
            }
            Random random = new Random(11);
            for (int t = 1; t <= 7; t++) {
                double[][] g =
                        svdStep(method, t)
                                ? lowRankGradients(model, layouts, random)
                                : model.randomGradients(random);
                long reads = HostReads.count();
                model.step(g);
                assertEquals(
                        expectedReads(method, t, 3), HostReads.count() - reads, "reads at " + t);
                reference.step(g, t, LR);
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
                            relative < 1e-9,
                            "step " + t + ", " + model.names().get(i) + ": " + relative);
                }
            }
            assertEquals(3L, optimizer.health().curvature().get("lowRankParameters"));
            assertEquals(3L, optimizer.health().curvature().get("adamParameters"));
        }
    }

    /**
     * GaLore+'s cross-head projection on the wide weight (8 x 24) as 2 heads of 4 rows: one basis
     * over the 24 columns, from one head's block, projects both heads. The heads' gradient blocks
     * at the refresh steps are positive multiples of one rank-2 matrix, so whichever head is drawn
     * the basis is that matrix's right singular vectors, which the reference takes from an SVD; the
     * side is the columns although the references' rule would project the 8 rows. Tolerance as in
     * {@link #stepsMatchTheFloat64Reference}.
     */
    @Test
    void crossHeadProjectionSharesOneHeadsBasis() {
        GaLore galore =
                GaLore.builder()
                        .optRank(2)
                        .optMinRank(1)
                        .optUpdatePeriod(PERIOD)
                        .optCrossHeadProjection(2, "03Linear_weight$")
                        .optLearningRate(LR)
                        .build();
        try (NDManager manager = NDManager.newBaseManager();
                LowRankFedModel model = new LowRankFedModel(manager, galore, DataType.FLOAT64)) {
            Layout[] layouts = layouts(model, ProjectionSide.AUTO);
            Layout wide = layouts[LowRankFedModel.WIDE];
            layouts[LowRankFedModel.WIDE] = new Layout(8, 24, false, 2, 2);
            LowRankReference reference = new LowRankReference(Method.GALORE, model, layouts);
            reference.epsilon = 1e-6f;
            reference.scale = 0.25f;
            reference.period = PERIOD;
            double[] start = model.weights(LowRankFedModel.WIDE);
            Random random = new Random(12);
            for (int t = 1; t <= 5; t++) {
                double[][] g = model.randomGradients(random);
                if (svdStep(Method.GALORE, t)) {
                    g = lowRankGradients(model, layouts, random);
                    RealMatrix head = exactRank(random, wide, 4);
                    RealMatrix both = new Array2DRowRealMatrix(8, 24);
                    both.setSubMatrix(head.getData(), 0, 0);
                    both.setSubMatrix(head.scalarMultiply(1.7).getData(), 4, 0);
                    g[LowRankFedModel.WIDE] = LowRankReference.flat(both);
                }
                model.step(g);
                reference.step(g, t, LR);
                double[] got = model.weights(LowRankFedModel.WIDE);
                double[] expected = reference.w[LowRankFedModel.WIDE];
                double relative =
                        Dense.relativeError(difference(got, start), difference(expected, start));
                assertTrue(relative < 1e-9, "step " + t + ": " + relative);
            }
            assertEquals(
                    "8x24 at rank 2 on the right, one basis for 2 heads",
                    galore.projectedParameters().get(model.names().get(LowRankFedModel.WIDE)));
            assertEquals(
                    "12x8 at rank 2 on the right",
                    galore.projectedParameters().get(model.names().get(LowRankFedModel.TALL)));
        }
    }

    private static double[] difference(double[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }

    /**
     * A NaN in one gradient on a refresh step (DCT-Adam and GaLore: t = 3 and 4; Online Subspace
     * Descent, whose basis moves every step: t = 3) rejects the step: weights, moments, bases,
     * indices and step counts stay bit-identical, and no basis is computed for it: DCT-Adam and
     * GaLore read the step's decision only, Online Subspace Descent nothing. A NaN at the first
     * step creates no state; the next clean step starts every parameter.
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(Method.class)
    void aNonFiniteGradientLeavesNoTrace(Method method) throws IOException {
        LowRankAdam optimizer = build(method, ProjectionSide.AUTO);
        try (NDManager manager = NDManager.newBaseManager();
                LowRankFedModel model = new LowRankFedModel(manager, optimizer, DataType.FLOAT32)) {
            Random random = new Random(13);
            double[][] poisoned = model.randomGradients(random);
            poisoned[LowRankFedModel.TALL][3] = Double.NaN;
            double[] before = model.weights(LowRankFedModel.TALL);
            long reads = HostReads.count();
            model.step(poisoned);
            assertEquals(1, HostReads.count() - reads, "the decision of the first step");
            assertArrayEquals(before, model.weights(LowRankFedModel.TALL), 0.0);
            assertTrue(stateArrays(optimizer, model).isEmpty());
            int refresh = method == Method.GALORE ? PERIOD + 1 : PERIOD;
            for (int t = 1; t < refresh; t++) {
                model.step(model.randomGradients(random));
            }
            // the checkpoint read just before tells the host the count: the decision alone is read
            long[] expectedReads = method == Method.OSD ? new long[] {0, 0} : new long[] {1, 1};
            int[] poisons = {LowRankFedModel.KERNEL, LowRankFedModel.TALL + 1};
            for (int k = 0; k < 2; k++) {
                int poison = poisons[k];
                Map<String, double[]> state = stateArrays(optimizer, model);
                List<double[]> weights = new ArrayList<>();
                for (int i = 0; i < model.size(); i++) {
                    weights.add(model.weights(i));
                }
                double[][] g = model.randomGradients(random);
                g[poison][1] = Double.NaN;
                reads = HostReads.count();
                model.step(g);
                assertEquals(expectedReads[k], HostReads.count() - reads, "the index and decision");
                for (int i = 0; i < model.size(); i++) {
                    assertArrayEquals(weights.get(i), model.weights(i), 0.0, "weight " + i);
                }
                Map<String, double[]> after = stateArrays(optimizer, model);
                assertEquals(state.keySet(), after.keySet());
                for (String entry : state.keySet()) {
                    assertArrayEquals(state.get(entry), after.get(entry), 0.0, entry);
                }
            }
            assertEquals(3, optimizer.health().skippedSteps());
        }
    }

    /** Every array of the optimizer's checkpoint, by entry name. */
    private static Map<String, double[]> stateArrays(
            SecondOrderOptimizer optimizer, LowRankFedModel model) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        optimizer.saveState(bytes, model.block);
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
     * The checkpoint names every array by parameter: the projected parameters' moments and method
     * state under {@code <prefix>/lowRank}, the biases' under {@code <prefix>/adamw}; a DCT-Adam
     * checkpoint keeps indices, not bases.
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(Method.class)
    void checkpointsNameTheStateByParameter(Method method) throws IOException {
        LowRankAdam optimizer = build(method, ProjectionSide.AUTO);
        try (NDManager manager = NDManager.newBaseManager();
                LowRankFedModel model = new LowRankFedModel(manager, optimizer, DataType.FLOAT32)) {
            Random random = new Random(14);
            for (int t = 0; t < 2; t++) {
                model.step(model.randomGradients(random));
            }
            Map<String, double[]> state = stateArrays(optimizer, model);
            String prefix =
                    switch (method) {
                        case DCT -> "dctAdam";
                        case GALORE -> "galore";
                        case OSD -> "osd";
                    };
            List<String> own =
                    switch (method) {
                        case DCT -> List.of("indices");
                        case GALORE -> List.of("projection");
                        case OSD ->
                                List.of(
                                        "projection",
                                        "projectionAdamW/adam/firstMoment/m",
                                        "projectionAdamW/adam/secondMoment/v",
                                        "projectionSteps");
                    };
            List<String> expected = new ArrayList<>();
            for (int i = 0; i < model.size(); i++) {
                String name = model.names().get(i);
                if (model.isMatrix(i)) {
                    expected.add(prefix + "/lowRank/adam/firstMoment/m/" + name);
                    expected.add(prefix + "/lowRank/adam/secondMoment/v/" + name);
                    for (String s : own) {
                        expected.add(prefix + "/lowRank/" + s + "/" + name);
                    }
                } else {
                    expected.add(prefix + "/adamw/adam/firstMoment/m/" + name);
                    expected.add(prefix + "/adamw/adam/secondMoment/v/" + name);
                }
            }
            assertEquals(new TreeSet<>(expected), state.keySet());
            double[] wideMoment =
                    state.get(
                            prefix
                                    + "/lowRank/adam/firstMoment/m/"
                                    + model.names().get(LowRankFedModel.WIDE));
            assertEquals(2 * 24, wideMoment.length, "r x n for the 8 x 24 weight, left");
        }
    }

    /**
     * A checkpoint written at rank 2 does not load into an optimizer at rank 1: the message names
     * the entry, what was saved and what these settings keep, and nothing changes.
     */
    @Test
    void aCheckpointOfAnotherRankIsRefusedByEntry() throws IOException {
        GaLore saved = GaLore.builder().optRank(2).optMinRank(1).build();
        GaLore other = GaLore.builder().optRank(1).optMinRank(1).build();
        try (NDManager manager = NDManager.newBaseManager();
                LowRankFedModel model = new LowRankFedModel(manager, saved, DataType.FLOAT32);
                LowRankFedModel twin = new LowRankFedModel(manager, other, DataType.FLOAT32)) {
            model.step(model.randomGradients(new Random(15)));
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            saved.saveState(bytes, model.block);
            twin.step(twin.randomGradients(new Random(16)));
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    other.loadState(
                                            new ByteArrayInputStream(bytes.toByteArray()),
                                            twin.block));
            assertEquals(
                    "the saved 'galore/lowRank/adam/firstMoment/m/"
                            + twin.names().get(LowRankFedModel.WIDE)
                            + "' is float32 (2, 24), but these settings keep float32 (1, 24)",
                    e.getMessage());
            assertEquals(3L, other.health().curvature().get("lowRankParameters"));
        }
    }

    /**
     * On the harness's MLP (784-256-128-10) with the default rank 128: the weights 256 x 784 and
     * 128 x 256 are projected at ranks 64 and 32 (a quarter of their smaller sides), on their rows;
     * the 10 x 128 output layer and the biases move by AdamW; the state, counted array by array, is
     * the moments (2 (64 x 784 + 32 x 256) numbers) plus each method's own: DCT-Adam the 256 x 256
     * and 128 x 128 bases and 96 int64 indices; GaLore the bases (256 x 64 + 128 x 32); Online
     * Subspace Descent three times those and two float64 step counts. Each keeps at most half of
     * Adam's.
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(Method.class)
    void theMlpKeepsAtMostHalfOfAdamsState(Method method) {
        LowRankAdam optimizer =
                switch (method) {
                    case DCT -> DctAdam.builder().build();
                    case GALORE -> GaLore.builder().build();
                    case OSD -> OnlineSubspaceDescent.builder().build();
                };
        try (NDManager manager = NDManager.newBaseManager()) {
            Block block =
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(256).build())
                            .add(Linear.builder().setUnits(128).build())
                            .add(Linear.builder().setUnits(10).build());
            block.initialize(manager, DataType.FLOAT32, new Shape(1, 784));
            optimizer.nameParameters(block);
            oneStep(optimizer, block, manager);
            long moments = 2L * (64 * 784 + 32 * 256);
            long adamGroup = 2L * (10 * 128 + 10 + 256 + 128);
            long bases = 256 * 64 + 128 * 32;
            long expected =
                    switch (method) {
                        case DCT -> 4 * (moments + 256 * 256 + 128 * 128 + adamGroup) + 8 * 96;
                        case GALORE -> 4 * (moments + bases + adamGroup);
                        case OSD -> 4 * (moments + 3 * bases + adamGroup) + 2 * 8;
                    };
            long adam = 4L * 2 * (256 * 784 + 256 + 128 * 256 + 128 + 10 * 128 + 10);
            Map<String, Object> health = optimizer.health().curvature();
            assertEquals(expected, health.get("stateBytes"));
            // the harness's state_bytes: the same arrays, DCT-Adam's recomputed bases included
            assertEquals(expected, optimizer.stateBytes());
            assertEquals(adam, health.get("adamStateBytes"));
            assertTrue(expected <= adam / 2, expected + " of " + adam);
            assertEquals(
                    Map.of(
                            "01Linear_weight", "256x784 at rank 64 on the left",
                            "02Linear_weight", "128x256 at rank 32 on the left"),
                    optimizer.projectedParameters());
            assertEquals(4L, health.get("adamParameters"));
        }
    }

    /** One DJL step of a block on a Gaussian batch of 4, the loss the sum of the outputs. */
    private static void oneStep(SecondOrderOptimizer optimizer, Block block, NDManager manager) {
        ParameterStore store = new ParameterStore(manager, false);
        store.setParameterServer(
                new LocalParameterServer(optimizer), new Device[] {manager.getDevice()});
        try (NDManager scope = manager.newSubManager()) {
            NDArray input = scope.randomNormal(new Shape(4, 784));
            try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
                collector.backward(block.forward(store, new NDList(input), true).head().sum());
            }
            store.updateAllParameters();
        }
    }

    /**
     * Moments, bases, indices and their temporaries must not grow the array count over 300 steps
     * with a refresh every 3 (DCT-Adam, GaLore) or a basis that moves every step (Online Subspace
     * Descent).
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(Method.class)
    void threeHundredStepsLeaveTheLiveArrayCountFlat(Method method) {
        LowRankAdam optimizer =
                switch (method) {
                    case DCT ->
                            DctAdam.builder()
                                    .optRank(1)
                                    .optMinRank(1)
                                    .optMaxRankFraction(1)
                                    .optUpdatePeriod(3)
                                    .optLearningRate(0.01f)
                                    .build();
                    case GALORE ->
                            GaLore.builder()
                                    .optRank(1)
                                    .optMinRank(1)
                                    .optMaxRankFraction(1)
                                    .optUpdatePeriod(3)
                                    .optScale(1)
                                    .build();
                    case OSD ->
                            OnlineSubspaceDescent.builder()
                                    .optRank(1)
                                    .optMinRank(1)
                                    .optMaxRankFraction(1)
                                    .optScale(1)
                                    .build();
                };
        Random data = new Random(5);
        double[][][] batch = TinyTanhNet.batch(data);
        try (TinyTanhNet net = new TinyTanhNet(optimizer, DataType.FLOAT32)) {
            for (int step = 0; step < 20; step++) {
                net.step(batch[0], batch[1]);
            }
            NDManager root = net.model.getNDManager();
            int warm = LiveArrays.count(root);
            for (int step = 0; step < 300; step++) {
                net.step(batch[0], batch[1]);
                // after refresh steps (decided on the host) as after ordinary ones
                assertEquals(warm, LiveArrays.count(root), "live arrays after step " + (21 + step));
            }
            assertEquals(0, optimizer.health().skippedSteps());
            assertEquals(2L, optimizer.health().curvature().get("lowRankParameters"));
        }
    }

    @Test
    void defaultsAreTheReferences() {
        DctAdam dct = DctAdam.builder().build();
        assertEquals(1e-3f, dct.getLearningRateTracker().getNewValue("any", 1));
        assertEquals(128, dct.getRank());
        assertEquals(200, dct.getUpdatePeriod());
        assertEquals(1f, dct.getScale());
        assertEquals(1e-8f, dct.getEpsilon());
        assertEquals(1, dct.getSelectionNorm());
        assertEquals(false, dct.isRotateMoments());
        GaLore galore = GaLore.builder().build();
        assertEquals(0.01f, galore.getLearningRateTracker().getNewValue("any", 1));
        assertEquals(128, galore.getRank());
        assertEquals(200, galore.getUpdatePeriod());
        assertEquals(0.25f, galore.getScale());
        assertEquals(1e-6f, galore.getEpsilon());
        assertEquals(2, galore.getIteration().powerIterations());
        assertEquals(8, galore.getIteration().oversampling());
        assertEquals(1, galore.getHeads());
        OnlineSubspaceDescent osd = OnlineSubspaceDescent.builder().build();
        assertEquals(0.01f, osd.getLearningRateTracker().getNewValue("any", 1));
        assertEquals(200, osd.getUpdatePeriod());
        assertEquals(0.25f, osd.getScale());
        assertEquals(1e-6f, osd.getEpsilon());
        for (LowRankAdam o : List.of(dct, galore, osd)) {
            assertEquals(0.25, o.getMaxRankFraction());
            assertEquals(4, o.getMinRank());
            assertEquals(ProjectionSide.AUTO, o.getProjectionSide());
            assertEquals(0.9f, o.getBeta1());
            assertEquals(0.999f, o.getBeta2());
            assertEquals(LowRankAdam.ParameterRule.MATRICES, o.getParameterRule());
        }
    }

    @Test
    void invalidSettingsFailInBuildWithTheirValues() {
        assertMessage(
                "rank must be at least 1, but was 0", () -> GaLore.builder().optRank(0).build());
        assertMessage(
                "maxRankFraction must be in (0, 1], but was 1.5",
                () -> DctAdam.builder().optMaxRankFraction(1.5).build());
        assertMessage(
                "maxRankFraction must be in (0, 1], but was NaN",
                () -> DctAdam.builder().optMaxRankFraction(Double.NaN).build());
        assertMessage(
                "minRank must be from 1 to the rank (8), but was 9",
                () -> GaLore.builder().optRank(8).optMinRank(9).build());
        assertMessage(
                "minRank must be from 1 to the rank (128), but was 0",
                () -> OnlineSubspaceDescent.builder().optMinRank(0).build());
        assertMessage(
                "projectionSide must not be null",
                () -> DctAdam.builder().optProjectionSide(null).build());
        assertMessage(
                "scale must be positive and finite, but was 0.0",
                () -> GaLore.builder().optScale(0).build());
        assertMessage(
                "scale must be positive and finite, but was Infinity",
                () -> OnlineSubspaceDescent.builder().optScale(Float.POSITIVE_INFINITY).build());
        assertMessage(
                "beta1 must be in [0, 1), but was 1.0",
                () -> DctAdam.builder().optBetas(1, 0.999f).build());
        assertMessage(
                "beta2 must be in [0, 1), but was NaN",
                () -> GaLore.builder().optBetas(0.9f, Float.NaN).build());
        assertMessage(
                "epsilon must be positive and finite, but was -1.0E-8",
                () -> DctAdam.builder().optEpsilon(-1e-8f).build());
        assertMessage(
                "parameterRule must not be null",
                () -> OnlineSubspaceDescent.builder().optParameterRule(null).build());
        assertMessage(
                "updatePeriod must be at least 1, but was 0",
                () -> DctAdam.builder().optUpdatePeriod(0).build());
        assertMessage(
                "updatePeriod must be at least 1, but was -2",
                () -> GaLore.builder().optUpdatePeriod(-2).build());
        assertMessage(
                "updatePeriod must be at least 1, but was 0",
                () -> OnlineSubspaceDescent.builder().optUpdatePeriod(0).build());
        assertMessage(
                "selectionNorm must be 1 or 2, but was 3",
                () -> DctAdam.builder().optSelectionNorm(3).build());
        assertMessage(
                "powerIterations must be at least 0, but was -1",
                () -> GaLore.builder().optPowerIterations(-1).build());
        assertMessage(
                "oversampling must be at least 0, but was -3",
                () -> OnlineSubspaceDescent.builder().optOversampling(-3).build());
        assertMessage(
                "heads must be at least 1, but was 0",
                () -> GaLore.builder().optCrossHeadProjection(0, "query").build());
        assertMessage(
                "namePattern must not be null when heads is 4",
                () -> GaLore.builder().optCrossHeadProjection(4, null).build());
        assertMessage(
                "namePattern must be a regular expression, but was '(query'",
                () -> GaLore.builder().optCrossHeadProjection(4, "(query").build());
        assertMessage(
                "weightDecay must be finite and non-negative, but was -1.0",
                () -> GaLore.builder().optWeightDecays(-1).build());
        assertMessage(
                "learningRate must be finite and non-negative, but was -0.01",
                () -> DctAdam.builder().optLearningRate(-0.01f).build());
        assertMessage(
                "learningRateTracker must give finite, non-negative values, but its first is NaN",
                () ->
                        OnlineSubspaceDescent.builder()
                                .optLearningRateTracker(Tracker.fixed(Float.NaN))
                                .build());
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
