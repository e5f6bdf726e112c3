package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.curvature.testing.Tolerances;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.QRDecomposition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link Soap} against the reference code ({@code nikhilvyas/SOAP}, {@code soap.py}, commit
 * a1e5535) written out line by line in double precision, and its contract: reads only on the first
 * and refresh steps, no trace of a rejected step, settings named when invalid, checkpoints refused
 * by name when the settings differ.
 */
class SoapTest {

    /** The settings of one reference run; {@code shampooBeta} -1 means beta2, as in soap.py. */
    private record Settings(
            float lr,
            float beta1,
            float beta2,
            double shampooBeta,
            float epsilon,
            float weightDecay,
            int frequency,
            int maxDim,
            boolean precondition1d,
            boolean biasCorrection,
            boolean normalize) {

        Soap build() {
            return Soap.builder()
                    .optLearningRate(lr)
                    .optBeta1(beta1)
                    .optBeta2(beta2)
                    .optShampooBeta(shampooBeta)
                    .optEpsilon(epsilon)
                    .optWeightDecays(weightDecay)
                    .optPreconditionFrequency(frequency)
                    .optMaxPreconditionerDim(maxDim)
                    .optPrecondition1d(precondition1d)
                    .optBiasCorrection(biasCorrection)
                    .optNormalizeGradients(normalize)
                    .build();
        }
    }

    private static final Settings DEFAULTS =
            new Settings(0.01f, 0.95f, 0.95f, -1, 1e-8f, 0.01f, 3, 5, false, true, false);

    private static final Settings VARIANT =
            new Settings(0.02f, 0.9f, 0.99f, 0.8, 1e-6f, 0f, 3, 5, true, false, true);

    /**
     * The parameters of the reference runs, chosen so that every initial eigenbasis is defined up
     * to the signs of its vectors (SOAP's result does not depend on them): each first statistic has
     * at most a one-dimensional null space.
     *
     * <ul>
     *   <li>a, 5 x 4: both sides rotated; L (5 x 5, rank 4 at the first step) has one null vector.
     *   <li>b, 3 x 7 with maxPreconditionerDim 5: the rows rotated, the columns (7 &gt; 5) not.
     *   <li>c, a vector of 2: Adam, or rotated with precondition1d.
     *   <li>d, 1 x 2: soap.py keeps a 1 x 1 factor for the rows (a rotation by \( \pm 1 \)); so4j
     *       leaves a side of length 1 unrotated, which gives the same weights.
     *   <li>e, a kernel of shape (3, 2, 1, 2): the 3 x 4 matrix view that so4j shares with Shampoo
     *       (soap.py keeps a factor per dimension; the reference here takes so4j's view).
     * </ul>
     */
    private static final Map<String, Shape> SHAPES = new LinkedHashMap<>();

    static {
        SHAPES.put("a", new Shape(5, 4));
        SHAPES.put("b", new Shape(3, 7));
        SHAPES.put("c", new Shape(2));
        SHAPES.put("d", new Shape(1, 2));
        SHAPES.put("e", new Shape(3, 2, 1, 2));
    }

    private static final int STEPS = 12;

    /**
     * Twelve steps (the first only starts the bases; Adam steps 1 to 11; refreshes after Adam steps
     * 3, 6 and 9, each used by later steps, with v permuted and m carried over) of every parameter,
     * fed seeded Gaussian gradients, against the reference in float64. The weights' displacements
     * from their start agree within {@link Tolerances#FLOAT64_RELATIVE}: the two computations
     * differ in the order of operations (MKL's products against Java loops, \( e^{t \ln \beta} \)
     * against {@code Math.pow}), about 1e-16 relative per operation, amplified by the eigenvectors'
     * sensitivity (the inverse relative gap of the first statistics' spectra, checked to stay below
     * 1e3 here) and by Adam's ratio \( m / \sqrt{v} \), smooth away from zero entries. Measured:
     * 5.6e-15 and 3.5e-15.
     */
    @ParameterizedTest(name = "variant={0}")
    @ValueSource(booleans = {false, true})
    void float64MatchesTheReference(boolean variant) {
        Comparison c = compareWithReference(variant ? VARIANT : DEFAULTS, DataType.FLOAT64, 1);
        assertTrue(c.smallestRelativeGap() > 1e-3, "relative gap " + c.smallestRelativeGap());
        assertTrue(c.error() < Tolerances.FLOAT64_RELATIVE, "relative error " + c.error());
    }

    /**
     * The same in float32, against the reference run in float64 on the float32-rounded inputs.
     * Tolerance: every operation rounds at \( u = 2^{-24} \approx 6 \cdot 10^{-8} \); the
     * statistics' products (inner length at most 7) and the products with the bases carry \(
     * \gamma_7 \approx 4 \cdot 10^{-7} \), which the eigenvectors amplify by the inverse relative
     * gap g of the first statistics' spectra (the smallest gap between consecutive eigenvalues over
     * the largest, measured by the reference: 8e-3 for these data), and the weights accumulate over
     * 11 updates: \( 11 \gamma_7 / g \approx 6 \cdot 10^{-4} \) relative to the displacement.
     * Measured: 2.6e-6 and 1.0e-6.
     */
    @ParameterizedTest(name = "variant={0}")
    @ValueSource(booleans = {false, true})
    void float32MatchesTheReferenceWithinItsPrecision(boolean variant) {
        Comparison c = compareWithReference(variant ? VARIANT : DEFAULTS, DataType.FLOAT32, 1);
        assertTrue(c.smallestRelativeGap() > 1e-3, "relative gap " + c.smallestRelativeGap());
        double bound = 11 * Tolerances.float32DotProduct(7) / c.smallestRelativeGap();
        assertTrue(c.error() < bound, "relative error " + c.error() + ", bound " + bound);
    }

    /**
     * The outcome of a comparison.
     *
     * @param error the largest relative error of a parameter's displacement, over the parameters
     * @param smallestRelativeGap the smallest gap between consecutive eigenvalues of a first
     *     statistic, over its largest eigenvalue
     */
    private record Comparison(double error, double smallestRelativeGap) {}

    /**
     * Ordinary steps read nothing from the device. The first step reads twice (its decision, then
     * the statistics for the initial eigendecompositions); a refresh step (every 5 Adam steps, from
     * step 6) five times: the schedule's check of the step's index (the host has not read since the
     * last refresh, and a rejected step it has not heard of would move the schedule), the decision,
     * and one panel for the QR of each size of side (3, 4 and 5: W1 is 4 x 5, W2 3 x 4). Over 20
     * steps: 17 reads on 4 steps, as {@code health()} reports them.
     */
    @Test
    void onlyTheFirstStepAndRefreshesReadFromTheDevice() {
        Soap soap = Soap.builder().optLearningRate(0.01f).optPreconditionFrequency(5).build();
        Random data = new Random(7);
        try (TinyTanhNet net = new TinyTanhNet(soap, DataType.FLOAT32)) {
            long[] reads = new long[20];
            for (int step = 0; step < 20; step++) {
                double[][][] batch = TinyTanhNet.batch(data);
                long before = HostReads.count();
                net.step(batch[0], batch[1]);
                reads[step] = HostReads.count() - before;
            }
            long[] expected = new long[20];
            expected[0] = 2;
            for (int t = 6; t <= 20; t += 5) {
                expected[t - 1] = 5;
            }
            assertArrayEquals(expected, reads);
            OptimizerHealth health = soap.health();
            assertEquals(4, health.hostReads().stepsWithReads());
            assertEquals(17, health.hostReads().reads());
            // W1 (4 x 5) and W2 (3 x 4): four sides, started once and refreshed three times
            assertEquals(4L, health.curvature().get("initialBases"));
            assertEquals(12L, health.curvature().get("refreshedBases"));
        }
    }

    /**
     * A NaN in one parameter's gradient only, the first (a weight, both sides rotated) or the last
     * (a bias, Adam), rejects the whole step: the run is then bit-identical to a twin that never
     * saw that step. The bad step is the first (rejected on the host before any basis is computed),
     * an ordinary step (index 3, rejected on the device), or a refresh (index 4 with refreshes
     * every 3 Adam steps, rejected on the host); the twins then run through three more refreshes.
     */
    @ParameterizedTest(name = "parameter {0}, after {1} taken steps")
    @CsvSource({"0, 0", "0, 2", "0, 3", "3, 0", "3, 2", "3, 3"})
    void aNonFiniteGradientLeavesNoTrace(int parameter, int takenBefore) {
        try (NDManager manager = NDManager.newBaseManager()) {
            Soap poisoned = twinSoap();
            Soap clean = twinSoap();
            try (ContractProblem a = ContractProblem.mlp(manager, DataType.FLOAT32, poisoned);
                    ContractProblem b = ContractProblem.mlp(manager, DataType.FLOAT32, clean)) {
                for (int step = 0; step < 11; step++) {
                    if (step == takenBefore) {
                        double[] before = a.weights();
                        a.backward();
                        a.scaleGradient(parameter, Double.NaN);
                        a.update();
                        assertArrayEquals(before, a.weights(), 0.0);
                    }
                    a.backward();
                    a.update();
                    b.backward();
                    b.update();
                }
                assertArrayEquals(b.weights(), a.weights(), 0.0);
                OptimizerHealth health = poisoned.health();
                assertEquals(clean.health().curvature(), health.curvature());
                assertEquals(3L * 4, health.curvature().get("refreshedBases"));
                assertEquals(12, health.steps());
                assertEquals(1, health.skippedSteps());
                assertEquals(1, health.nonFiniteGradientSteps());
            }
        }
    }

    private static Soap twinSoap() {
        return Soap.builder().optPreconditionFrequency(3).optLearningRate(0.01f).build();
    }

    /**
     * Finite gradients whose outer products overflow float32 (targets of 1e25 give gradients near
     * 1e23) are rejected as statistics before anything changes.
     */
    @Test
    void overflowingStatisticsAreRejected() {
        Soap soap = twinSoap();
        Random data = new Random(22);
        try (TinyTanhNet net = new TinyTanhNet(soap, DataType.FLOAT32)) {
            for (int step = 0; step < 2; step++) {
                double[][][] batch = TinyTanhNet.batch(data);
                net.step(batch[0], batch[1]);
            }
            double[] before = net.weights();
            double[][][] batch = TinyTanhNet.batch(data);
            double[][] huge = new double[TinyTanhNet.BATCH][TinyTanhNet.OUT];
            for (double[] row : huge) {
                Arrays.fill(row, 1e25);
            }
            net.step(batch[0], huge);
            assertArrayEquals(before, net.weights(), 0.0);
            assertEquals(1, soap.health().rejectedStatisticsSteps());
            assertEquals(0, soap.health().nonFiniteGradientSteps());
        }
    }

    /** Statistics, bases (refreshed every 5 steps) and moments must not grow the array count. */
    @Test
    void fiveHundredStepsLeaveTheLiveArrayCountFlat() {
        Soap soap =
                Soap.builder()
                        .optLearningRate(0.01f)
                        .optPreconditionFrequency(5)
                        .optPrecondition1d(true)
                        .optNormalizeGradients(true)
                        .build();
        Random data = new Random(5);
        try (TinyTanhNet net = new TinyTanhNet(soap, DataType.FLOAT32)) {
            NDManager root = net.model.getNDManager();
            for (int step = 0; step < 21; step++) {
                double[][][] batch = TinyTanhNet.batch(data);
                net.step(batch[0], batch[1]);
            }
            int warm = LiveArrays.count(root);
            for (int step = 0; step < 500; step++) {
                double[][][] batch = TinyTanhNet.batch(data);
                net.step(batch[0], batch[1]);
            }
            assertEquals(warm, LiveArrays.count(root));
            // six sides (two weights, two vectors) refreshed after Adam steps 5, 10, ..., 520
            assertEquals(6L * 104, soap.health().curvature().get("refreshedBases"));
            assertEquals(0, soap.health().skippedSteps());
        }
    }

    /**
     * A checkpoint written under one maxPreconditionerDim is refused, by name, by an optimizer that
     * rotates other sides, and the refused load changes nothing; the same settings resume.
     */
    @Test
    void checkpointsOfOtherSettingsAreRefusedByName() throws IOException {
        Random data = new Random(3);
        Soap trained = Soap.builder().optLearningRate(0.01f).build();
        try (TinyTanhNet net = new TinyTanhNet(trained, DataType.FLOAT32)) {
            for (int i = 0; i < 3; i++) {
                double[][][] batch = TinyTanhNet.batch(data);
                net.step(batch[0], batch[1]);
            }
            byte[] good = MFacCheckpointTest.save(trained, net);

            Soap narrower =
                    Soap.builder().optLearningRate(0.01f).optMaxPreconditionerDim(4).build();
            try (TinyTanhNet other = new TinyTanhNet(narrower, DataType.FLOAT32)) {
                double[][][] batch = TinyTanhNet.batch(data);
                other.step(batch[0], batch[1]);
                byte[] before = MFacCheckpointTest.save(narrower, other);
                IllegalArgumentException e =
                        assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        narrower.loadState(
                                                new ByteArrayInputStream(good),
                                                other.model.getBlock()));
                assertEquals(
                        "the saved right statistics of 01Linear_weight are present, but this"
                                + " preconditioner keeps none",
                        e.getMessage());
                assertArrayEquals(before, MFacCheckpointTest.save(narrower, other));
            }

            Soap same = Soap.builder().optLearningRate(0.01f).build();
            try (TinyTanhNet other = new TinyTanhNet(same, DataType.FLOAT32)) {
                other.step(TinyTanhNet.batch(data)[0], TinyTanhNet.batch(data)[1]);
                same.loadState(new ByteArrayInputStream(good), other.model.getBlock());
                assertEquals(trained.health().curvature(), same.health().curvature());
            }
        }
    }

    @Test
    void invalidSettingsFailInBuildWithTheirValues() {
        assertMessage(
                "beta1 must be in [0, 1), but was 1.0", () -> Soap.builder().optBeta1(1).build());
        assertMessage(
                "beta2 must be in [0, 1), but was -0.5",
                () -> Soap.builder().optBeta2(-0.5f).build());
        assertMessage(
                "shampooBeta must be in [0, 1) or -1 (for beta2), but was 1.0",
                () -> Soap.builder().optShampooBeta(1).build());
        assertMessage(
                "shampooBeta must be in [0, 1) or -1 (for beta2), but was NaN",
                () -> Soap.builder().optShampooBeta(Double.NaN).build());
        assertMessage(
                "epsilon must be positive and finite, but was 0.0",
                () -> Soap.builder().optEpsilon(0).build());
        assertMessage(
                "epsilon must be positive and finite, but was Infinity",
                () -> Soap.builder().optEpsilon(Float.POSITIVE_INFINITY).build());
        assertMessage(
                "preconditionFrequency must be at least 1, but was 0",
                () -> Soap.builder().optPreconditionFrequency(0).build());
        assertMessage(
                "maxPreconditionerDim must be at least 1, but was -3",
                () -> Soap.builder().optMaxPreconditionerDim(-3).build());
        assertMessage(
                "weightDecay must be finite and non-negative, but was -0.1",
                () -> Soap.builder().optWeightDecays(-0.1f).build());
        assertMessage(
                "learningRate must be finite and non-negative, but was NaN",
                () -> Soap.builder().optLearningRate(Float.NaN).build());
        assertMessage(
                "learningRateTracker must give finite, non-negative values, but its first is"
                        + " -1.0",
                () -> Soap.builder().optLearningRateTracker(Tracker.fixed(-1f)).build());
        assertMessage(
                "maxConsecutiveSkips must be at least 1, but was 0",
                () -> Soap.builder().optMaxConsecutiveSkips(0).build());
    }

    /** A parameter of another dtype fails its first step by name, and changes nothing. */
    @Test
    void otherDtypesAreRefusedByName() {
        Soap soap = Soap.builder().build();
        try (NDManager manager = NDManager.newBaseManager()) {
            Map<String, NDArray> weights = new LinkedHashMap<>();
            weights.put("h", manager.ones(new Shape(2, 3), DataType.FLOAT16));
            Map<String, double[]> gradients = Map.of("h", new double[] {1, 2, 3, 4, 5, 6});
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> takenStep(soap, 1, weights, gradients, manager, 0.1f));
            assertEquals(
                    "SOAP trains float32 and float64 parameters, but h is float16", e.getMessage());
            assertArrayEquals(new double[] {1, 1, 1, 1, 1, 1}, Dense.toDoubles(weights.get("h")));
        }
    }

    /** The reference README's recommended settings and the reference constructor's defaults. */
    @Test
    void defaults() {
        Soap soap = Soap.builder().build();
        assertEquals(3e-3f, soap.getLearningRateTracker().getNewValue("any", 0));
        assertEquals(0.95f, soap.getBeta1());
        assertEquals(0.95f, soap.getBeta2());
        assertEquals(0.95f, (float) soap.getShampooBeta());
        assertEquals(1e-8f, soap.getEpsilon());
        assertEquals(0.01f, soap.weightDecay());
        assertEquals(10, soap.getPreconditionFrequency());
        assertEquals(10000, soap.getMaxPreconditionerDim());
        assertFalse(soap.isPrecondition1d());
        assertTrue(soap.isBiasCorrection());
        assertFalse(soap.isNormalizeGradients());
        assertEquals(0.5, Soap.builder().optShampooBeta(0.5).build().getShampooBeta());
        assertEquals(0.9f, (float) Soap.builder().optBeta2(0.9f).build().getShampooBeta());
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }

    /**
     * Runs Soap through {@link Soap#computeStep} (as the base class does for taken steps) and the
     * reference on the same gradients.
     */
    private static Comparison compareWithReference(Settings s, DataType type, long seed) {
        Random random = new Random(seed);
        Map<String, double[]> start = new LinkedHashMap<>();
        Map<String, Reference> references = new LinkedHashMap<>();
        Map<String, double[]> expected = new LinkedHashMap<>();
        for (Map.Entry<String, Shape> e : SHAPES.entrySet()) {
            double[] w = gaussian(random, e.getValue().size(), type);
            start.put(e.getKey(), w);
            expected.put(e.getKey(), w.clone());
            references.put(e.getKey(), new Reference(e.getValue(), s));
        }
        Soap soap = s.build();
        try (NDManager manager = NDManager.newBaseManager()) {
            Map<String, NDArray> weights = new LinkedHashMap<>();
            start.forEach(
                    (key, w) ->
                            weights.put(
                                    key, Dense.toArray(manager, w, type).reshape(SHAPES.get(key))));
            for (int t = 1; t <= STEPS; t++) {
                Map<String, double[]> gradients = new LinkedHashMap<>();
                for (Map.Entry<String, Shape> e : SHAPES.entrySet()) {
                    gradients.put(e.getKey(), gaussian(random, e.getValue().size(), type));
                }
                takenStep(soap, t, weights, gradients, manager, s.lr());
                for (String key : SHAPES.keySet()) {
                    double[] u = references.get(key).step(gradients.get(key));
                    if (u != null) {
                        double[] w = expected.get(key);
                        for (int i = 0; i < w.length; i++) {
                            w[i] -= (double) s.lr() * (u[i] + (double) s.weightDecay() * w[i]);
                        }
                    }
                }
            }
            double gap = Double.POSITIVE_INFINITY;
            for (Reference reference : references.values()) {
                gap = Math.min(gap, reference.smallestRelativeGap);
            }
            double worst = 0;
            for (String key : SHAPES.keySet()) {
                double[] actual = Dense.toDoubles(weights.get(key));
                double[] w0 = start.get(key);
                double[] want = expected.get(key);
                double[] moved = new double[w0.length];
                double[] wanted = new double[w0.length];
                for (int i = 0; i < w0.length; i++) {
                    moved[i] = actual[i] - w0[i];
                    wanted[i] = want[i] - w0[i];
                }
                worst = Math.max(worst, Dense.relativeError(moved, wanted));
            }
            return new Comparison(worst, gap);
        }
    }

    private static double[] gaussian(Random random, long n, DataType type) {
        double[] v = new double[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = random.nextGaussian();
        }
        return type == DataType.FLOAT32 ? Dense.roundToFloat(v) : v;
    }

    /**
     * One taken step t through {@link Soap#computeStep}, as the base class runs it (the index known
     * on the host), then \( w \leftarrow w - \eta u \) for each direction u.
     */
    private static void takenStep(
            Soap soap,
            long t,
            Map<String, NDArray> weights,
            Map<String, double[]> gradients,
            NDManager manager,
            float lr) {
        try (NDManager stepManager = manager.newSubManager();
                NDManager scope = stepManager.newSubManager()) {
            List<SecondOrderOptimizer.ParameterGradient> parameters = new ArrayList<>();
            weights.forEach(
                    (key, w) ->
                            parameters.add(
                                    new SecondOrderOptimizer.ParameterGradient(
                                            key,
                                            key,
                                            w,
                                            Dense.toArray(
                                                            scope,
                                                            gradients.get(key),
                                                            w.getDataType())
                                                    .reshape(w.getShape()))));
            Step.Resolver known =
                    new Step.Resolver() {
                        @Override
                        public long takenBefore() {
                            return t - 1;
                        }

                        @Override
                        public boolean decide(NDArray accepted) {
                            return HostReads.toBoolean(accepted);
                        }
                    };
            Step step = new Step(scope, scope.create(true), scope.create(t - 1), t, t, known);
            Map<String, NDArray> directions = soap.computeStep(parameters, stepManager, step);
            NDArray accepted = step.acceptance();
            step.commits().forEach(commit -> commit.commit(accepted));
            directions.forEach((key, u) -> weights.get(key).subi(u.muli(lr)));
        }
    }

    /**
     * soap.py's {@code step()} for one parameter, line by line, in float64 with Commons Math for
     * {@code torch.linalg.eigh} and {@code torch.linalg.qr}; tensors of order above 2 as so4j's
     * matrix view, vectors as one column.
     */
    private static final class Reference {

        private final Settings s;
        private final int rows;
        private final int columns;
        private final boolean leftKept;
        private final boolean rightKept;
        private final double shampooBeta;
        private double[][] exp;
        private double[][] expSq;
        private double[][] left;
        private double[][] right;
        private double[][] leftQ;
        private double[][] rightQ;
        private boolean initialised;
        private boolean qReady;
        private int step;

        /**
         * The smallest gap between consecutive eigenvalues of the first statistics, over the
         * largest.
         */
        double smallestRelativeGap = Double.POSITIVE_INFINITY;

        Reference(Shape shape, Settings s) {
            this.s = s;
            long[] dims = shape.getShape();
            this.rows = (int) dims[0];
            this.columns = (int) (shape.size() / dims[0]);
            boolean vector = dims.length == 1;
            // init_preconditioner: a factor for each dimension no longer than max_precond_dim
            this.leftKept = vector ? s.precondition1d() && rows <= s.maxDim() : rows <= s.maxDim();
            this.rightKept = !vector && columns <= s.maxDim();
            this.shampooBeta = s.shampooBeta() >= 0 ? s.shampooBeta() : s.beta2();
        }

        /** The update u (the weight moves by -lr (u + wd w)), or null on the first step. */
        double[] step(double[] flat) {
            double[][] grad = matrix(flat);
            if (!initialised) {
                initialised = true;
                exp = new double[rows][columns];
                expSq = new double[rows][columns];
                left = leftKept ? new double[rows][rows] : null;
                right = rightKept ? new double[columns][columns] : null;
                updatePreconditioner(grad);
                return null; // the first step only starts the bases
            }
            double[][] projected = project(grad);
            step++;
            double b1 = s.beta1();
            double b2 = s.beta2();
            double[][] ratio = new double[rows][columns];
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < columns; j++) {
                    double g = projected[i][j];
                    exp[i][j] = exp[i][j] * b1 + (1 - b1) * g;
                    expSq[i][j] = expSq[i][j] * b2 + (1 - b2) * g * g;
                    ratio[i][j] = exp[i][j] / (Math.sqrt(expSq[i][j]) + s.epsilon());
                }
            }
            double scale = 1;
            if (s.biasCorrection()) {
                scale = Math.sqrt(1 - Math.pow(b2, step)) / (1 - Math.pow(b1, step));
            }
            double[][] normGrad = projectBack(ratio);
            if (s.normalize()) {
                double sum = 0;
                for (double[] row : normGrad) {
                    for (double x : row) {
                        sum += x * x;
                    }
                }
                double rms = Math.sqrt(sum / (rows * columns));
                for (double[] row : normGrad) {
                    for (int j = 0; j < columns; j++) {
                        row[j] /= 1e-30 + rms;
                    }
                }
            }
            double[] u = new double[rows * columns];
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < columns; j++) {
                    u[i * columns + j] = scale * normGrad[i][j];
                }
            }
            updatePreconditioner(grad);
            return u;
        }

        private void updatePreconditioner(double[][] grad) {
            if (qReady) {
                exp = projectBack(exp);
            }
            double w = 1 - shampooBeta;
            if (leftKept) {
                lerp(left, product(grad, transpose(grad)), w);
            }
            if (rightKept) {
                lerp(right, product(transpose(grad), grad), w);
            }
            if (!qReady) {
                leftQ = leftKept ? eigh(left) : null;
                rightQ = rightKept ? eigh(right) : null;
                qReady = true;
            }
            if (step > 0 && step % s.frequency() == 0) {
                if (leftKept) {
                    leftQ = powerIterationQr(left, leftQ, true);
                }
                if (rightKept) {
                    rightQ = powerIterationQr(right, rightQ, false);
                }
            }
            if (step > 0) {
                exp = project(exp);
            }
        }

        /** get_orthogonal_matrix_QR for one side: sort, permute exp_avg_sq, power step, QR. */
        private double[][] powerIterationQr(double[][] m, double[][] o, boolean rowsSide) {
            int n = m.length;
            double[][] mo = product(m, o);
            double[] estimates = new double[n];
            for (int j = 0; j < n; j++) {
                for (int i = 0; i < n; i++) {
                    estimates[j] += o[i][j] * mo[i][j];
                }
            }
            Integer[] sortIdx = new Integer[n];
            for (int i = 0; i < n; i++) {
                sortIdx[i] = i;
            }
            Arrays.sort(sortIdx, (a, b) -> Double.compare(estimates[b], estimates[a]));
            double[][] permuted = new double[rows][columns];
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < columns; j++) {
                    permuted[i][j] = rowsSide ? expSq[sortIdx[i]][j] : expSq[i][sortIdx[j]];
                }
            }
            expSq = permuted;
            double[][] sorted = new double[n][n];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    sorted[i][j] = o[i][sortIdx[j]];
                }
            }
            double[][] powerIter = product(m, sorted);
            return new QRDecomposition(new Array2DRowRealMatrix(powerIter)).getQ().getData();
        }

        /** torch.linalg.eigh, then torch.flip(Q, [1]): eigenvectors by descending eigenvalue. */
        private double[][] eigh(double[][] m) {
            int n = m.length;
            EigenDecomposition eigen = new EigenDecomposition(new Array2DRowRealMatrix(m));
            double[] lambda = eigen.getRealEigenvalues();
            double[][] v = eigen.getV().getData();
            Integer[] order = new Integer[n];
            for (int i = 0; i < n; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> Double.compare(lambda[b], lambda[a]));
            double[][] q = new double[n][n];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    q[i][j] = v[i][order[j]];
                }
            }
            for (int i = 0; i + 1 < n; i++) {
                double gap = (lambda[order[i]] - lambda[order[i + 1]]) / lambda[order[0]];
                smallestRelativeGap = Math.min(smallestRelativeGap, gap);
            }
            return q;
        }

        /** project: tensordot over dimension 0 with each Q (Q_L^T G Q_R). */
        private double[][] project(double[][] g) {
            double[][] x = leftQ == null ? g : product(transpose(leftQ), g);
            return rightQ == null ? x : product(x, rightQ);
        }

        /** project_back: Q_L G Q_R^T. */
        private double[][] projectBack(double[][] g) {
            double[][] x = leftQ == null ? g : product(leftQ, g);
            return rightQ == null ? x : product(x, transpose(rightQ));
        }

        /** torch.lerp_(target, end, weight): target + weight (end - target). */
        private static void lerp(double[][] target, double[][] end, double weight) {
            for (int i = 0; i < target.length; i++) {
                for (int j = 0; j < target.length; j++) {
                    target[i][j] += weight * (end[i][j] - target[i][j]);
                }
            }
        }

        private double[][] matrix(double[] flat) {
            double[][] m = new double[rows][columns];
            for (int i = 0; i < rows; i++) {
                System.arraycopy(flat, i * columns, m[i], 0, columns);
            }
            return m;
        }

        private static double[][] product(double[][] a, double[][] b) {
            double[][] c = new double[a.length][b[0].length];
            for (int i = 0; i < a.length; i++) {
                for (int k = 0; k < b.length; k++) {
                    for (int j = 0; j < b[0].length; j++) {
                        c[i][j] += a[i][k] * b[k][j];
                    }
                }
            }
            return c;
        }

        private static double[][] transpose(double[][] a) {
            double[][] t = new double[a[0].length][a.length];
            for (int i = 0; i < a.length; i++) {
                for (int j = 0; j < a[0].length; j++) {
                    t[j][i] = a[i][j];
                }
            }
            return t;
        }
    }
}
