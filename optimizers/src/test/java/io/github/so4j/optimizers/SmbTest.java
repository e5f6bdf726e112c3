package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
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
import ai.djl.training.GradientCollector;
import ai.djl.training.LocalParameterServer;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.Batchifier;
import io.github.so4j.curvature.RecordedScalars;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link Smb}: its closed-form model step against a direct solve of its model, whole steps (the
 * accepted trial and the model step) against a plain-Java float64 SMB written from the paper's
 * formulas, the step guard, the schedule, checkpoints and bad settings.
 */
class SmbTest {

    private static final double EPSILON = 0x1.0p-53;

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    // ----- the closed form ------------------------------------------------------------------

    /**
     * The coefficients give \( d = c_g g + c_s s + c_y y \), which must solve the model's
     * stationarity condition \( (2\sigma I + s y^\top + y s^\top) d = -\|s\|^2 g \) (Commons Math
     * LU, float64), for random g, y and both SMB's s = -a g and a general s, with \( \|y\| / \|g\|
     * \) from 1e-3 to 1e3. Also: the smallest eigenvalue of that matrix is \( \|s\| \|g\| / \eta \)
     * and \( \|d\| \le \eta \|s\| \). Tolerance: the solve is backward stable, so both sides agree
     * to a small multiple of \( \kappa \epsilon \) with \( \kappa \) the matrix's condition number
     * (computed here); 1e3 covers the roundings of the length-7 inner products and of the
     * coefficients.
     */
    @Test
    void coefficientsSolveTheModel() {
        Random random = new Random(31);
        int d = 7;
        double eta = 0.99;
        int checked = 0;
        for (double ratio : new double[] {1e-3, 1e-1, 1, 10, 1e3}) {
            for (boolean smbTrial : new boolean[] {true, false}) {
                for (int draw = 0; draw < 4; draw++) {
                    RealVector g = gaussian(random, d);
                    RealVector y = gaussian(random, d).mapMultiply(ratio * g.getNorm() / 2.6);
                    RealVector s =
                            smbTrial
                                    ? g.mapMultiply(-0.1 - random.nextDouble())
                                    : gaussian(random, d).mapMultiply(random.nextDouble() + 0.1);
                    double[] c = coefficients(s, y, g, eta);
                    RealVector step =
                            g.mapMultiply(c[0]).add(s.mapMultiply(c[1])).add(y.mapMultiply(c[2]));
                    double sigma =
                            0.5
                                    * (s.getNorm() * (y.getNorm() + g.getNorm() / eta)
                                            - y.dotProduct(s));
                    RealMatrix m =
                            MatrixUtils.createRealIdentityMatrix(d)
                                    .scalarMultiply(2 * sigma)
                                    .add(s.outerProduct(y))
                                    .add(y.outerProduct(s));
                    RealVector solved =
                            new LUDecomposition(m)
                                    .getSolver()
                                    .solve(g.mapMultiply(-s.dotProduct(s)));
                    double[] eigenvalues = new EigenDecomposition(m).getRealEigenvalues();
                    double smallest = Arrays.stream(eigenvalues).min().getAsDouble();
                    double largest = Arrays.stream(eigenvalues).max().getAsDouble();
                    double kappa = largest / smallest;
                    double tolerance = 1e3 * kappa * EPSILON;
                    String what = "ratio " + ratio + (smbTrial ? ", s = -a g" : ", general s");
                    assertTrue(
                            step.subtract(solved).getNorm() <= tolerance * solved.getNorm(),
                            what + ": " + step + " against " + solved);
                    double bound = s.getNorm() * g.getNorm() / eta;
                    assertEquals(bound, smallest, 1e3 * largest * EPSILON, what);
                    assertTrue(step.getNorm() <= eta * s.getNorm() * (1 + tolerance), what);
                    checked++;
                }
            }
        }
        assertEquals(40, checked);
    }

    /** A zero gradient or a zero trial step (0/0 in the formulas) keeps the trial step. */
    @Test
    void aZeroGradientOrTrialStepKeepsTheTrialStep() {
        RealVector zero = new ArrayRealVector(3);
        RealVector y = new ArrayRealVector(new double[] {1, -2, 0.5});
        RealVector g = new ArrayRealVector(new double[] {0.3, 0.1, -1});
        assertArrayEquals(new double[] {0, 1, 0}, coefficients(zero, y, zero, 0.99), 0.0);
        assertArrayEquals(new double[] {0, 1, 0}, coefficients(zero, y, g, 0.99), 0.0);
    }

    /** Smb's coefficients from the inner products of s, y and g, on the device. */
    private double[] coefficients(RealVector s, RealVector y, RealVector g, double eta) {
        return Smb.coefficients(
                        manager.create(s.dotProduct(s)),
                        manager.create(y.dotProduct(y)),
                        manager.create(g.dotProduct(g)),
                        manager.create(s.dotProduct(g)),
                        manager.create(y.dotProduct(g)),
                        manager.create(y.dotProduct(s)),
                        eta)
                .toDoubleArray();
    }

    // ----- whole steps against a plain-Java SMB --------------------------------------------

    /**
     * One step on a linear least-squares model with two parameter arrays (W, 2 x 3, and b), in
     * float64, against {@link ReferenceSmb}: the small learning rate passes the Armijo test and
     * takes the SGD step, the large one fails it and takes the model step, one model per array;
     * with and without weight decay (which enters the objective, both gradients and the Armijo
     * test). The reference's decision has a margin far above rounding, so both take the same
     * branch. Tolerance: the model step is a backward-stable combination whose error is a small
     * multiple of \( \kappa \epsilon \) (\( \kappa \le 1 + 2\eta \|y\|/\|g\| \), the model matrix's
     * condition number, from the reference); the SGD step is exact up to a few roundings.
     */
    @ParameterizedTest(name = "lr {0}, weight decay {1}")
    @MethodSource("wholeSteps")
    void oneStepMatchesThePlainJavaReference(double lr, double decay, boolean modelStep) {
        Smb smb = Smb.builder().optLearningRate((float) lr).optWeightDecays((float) decay).build();
        try (LeastSquares problem = new LeastSquares(manager, 41, smb)) {
            ReferenceSmb reference = new ReferenceSmb(problem, lr, decay);
            double[] start = problem.weights();
            ReferenceSmb.Result expected = reference.step(start);
            assertEquals(modelStep, expected.modelStep(), "the reference's branch");
            assertTrue(expected.armijoMargin() > 1e-6, "margin " + expected.armijoMargin());
            problem.step(smb);
            assertEquals(modelStep ? 1 : 0, smb.modelSteps());
            assertEquals(0, smb.health().skippedSteps());
            double tolerance = 1e3 * expected.conditionNumber() * EPSILON;
            double error = Dense.relativeError(problem.weights(), expected.weights());
            assertTrue(error < tolerance, "relative error " + error + ", tolerance " + tolerance);
            assertFalse(Arrays.equals(start, problem.weights()), "the weights moved");
        }
    }

    static Stream<Arguments> wholeSteps() {
        return Stream.of(
                Arguments.of(0.0625, 0.0, false),
                Arguments.of(0.0625, 0.25, false),
                Arguments.of(4.0, 0.0, true),
                Arguments.of(4.0, 0.25, true));
    }

    // ----- the step guard --------------------------------------------------------------------

    /**
     * A loss that is not finite inside the optimizer's update, with finite training gradients:
     * first at the current point (evaluation 2 of the step; the training backward is 1), then at
     * the trial point (evaluation 3, whose NaN gradient makes the model step NaN). The step is
     * counted as rejected and leaves no trace: weights and the count of model steps are
     * bit-identical to before, and the run then continues exactly like a twin run that never made
     * that step.
     */
    @ParameterizedTest(name = "poisoned evaluation {0}")
    @ValueSource(ints = {2, 3})
    void aNonFiniteLossLeavesNoTrace(int poisoned) {
        Smb smb = Smb.builder().optLearningRate(4f).build();
        Smb twin = Smb.builder().optLearningRate(4f).build();
        try (LeastSquares a = new LeastSquares(manager, 43, smb);
                LeastSquares b = new LeastSquares(manager, 43, twin)) {
            for (int i = 0; i < 2; i++) {
                a.step(smb);
                b.step(twin);
            }
            long modelSteps = smb.modelSteps();
            assertTrue(modelSteps > 0, "the run takes model steps");
            double[] before = a.weights();
            a.poisonAt = poisoned;
            a.step(smb);
            a.poisonAt = -1;
            assertArrayEquals(before, a.weights(), 0.0);
            assertEquals(modelSteps, smb.modelSteps());
            assertEquals(1, smb.health().skippedSteps());
            assertEquals(1, smb.health().rejectedStatisticsSteps());
            for (int i = 0; i < 3; i++) {
                a.step(smb);
                b.step(twin);
            }
            assertArrayEquals(b.weights(), a.weights(), 0.0);
            assertEquals(twin.modelSteps(), smb.modelSteps());
        }
    }

    /**
     * An update without {@code prepare} throws, naming the fix; it moves nothing and is not
     * counted, and the next, prepared step moves the weights exactly as a fresh optimizer's first
     * step does.
     */
    @Test
    void anUpdateWithoutPrepareFailsAloneAndTheNextStepWorks() {
        Smb smb = Smb.builder().optLearningRate(4f).build();
        Smb twin = Smb.builder().optLearningRate(4f).build();
        try (LeastSquares problem = new LeastSquares(manager, 44, smb);
                LeastSquares reference = new LeastSquares(manager, 44, twin)) {
            double[] start = problem.weights();
            problem.backward();
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, problem.store::updateAllParameters);
            assertEquals(
                    "Smb needs the batch: call trainStep(trainer, batch), or prepare(block, loss,"
                            + " data, labels) after backward and before each update (EasyTrain.fit"
                            + " and trainer.step() alone do not)",
                    e.getMessage());
            assertArrayEquals(start, problem.weights(), 0.0);
            assertEquals(0, smb.health().steps());
            problem.step(smb);
            reference.step(twin);
            assertFalse(Arrays.equals(start, problem.weights()));
            assertArrayEquals(reference.weights(), problem.weights(), 0.0);
            assertEquals(1, smb.health().steps());
        }
    }

    // ----- the schedule ------------------------------------------------------------------------

    /**
     * The reference's schedule with a window of one step: after a model step the learning rate
     * shrinks by \( \beta \), after a trial step it grows by \( 1/\beta \) while it stays at most
     * the maximum. Each decision reads from the device (twice with a window of one step: the step's
     * decision and the window's count; once more with longer windows, the count of taken steps that
     * tells whether the step ends a window), and no other step reads.
     */
    @Test
    void theScheduleShrinksAfterModelStepsAndGrowsUpToTheMaximumOtherwise() {
        Smb shrinking =
                Smb.builder()
                        .optLearningRate(4f)
                        .optAutoSchedule(true)
                        .optScheduleWindow(1)
                        .build();
        try (LeastSquares problem = new LeastSquares(manager, 45, shrinking)) {
            double expected = 1;
            for (int i = 0; i < 4; i++) {
                long before = shrinking.modelSteps();
                problem.step(shrinking);
                boolean model = shrinking.modelSteps() > before;
                expected = model ? expected * 0.9 : expected / 0.9;
                assertEquals(expected, shrinking.learningRateScale(), "step " + i);
            }
            assertTrue(expected < 1, "model steps shrank the rate");
            assertEquals(new OptimizerHealth.HostReadCount(8, 4), shrinking.health().hostReads());
        }
        Smb growing =
                Smb.builder()
                        .optLearningRate(0.0625f)
                        .optAutoSchedule(true)
                        .optScheduleWindow(2)
                        .optMaxLearningRate(0.08)
                        .build();
        try (LeastSquares problem = new LeastSquares(manager, 46, growing)) {
            for (int i = 0; i < 8; i++) {
                problem.step(growing);
            }
            assertEquals(0, growing.modelSteps());
            // 0.0625 / 0.9 = 0.069 and / 0.81 = 0.077 are allowed, / 0.729 = 0.086 is not
            assertEquals(1 / 0.9 / 0.9, growing.learningRateScale());
            // a window of 2: the count of taken steps, the decision and the window's count
            assertEquals(new OptimizerHealth.HostReadCount(12, 4), growing.health().hostReads());
            // the next trial step is the SGD step with the scaled rate
            ReferenceSmb reference = new ReferenceSmb(problem, 0.0625 / 0.9 / 0.9, 0);
            ReferenceSmb.Result expected = reference.step(problem.weights());
            assertFalse(expected.modelStep());
            problem.step(growing);
            assertTrue(Dense.relativeError(problem.weights(), expected.weights()) < 1e3 * EPSILON);
        }
    }

    // ----- checkpoints ---------------------------------------------------------------------------

    /**
     * With model steps and the schedule moving the rate: k steps, a checkpoint, a fresh optimizer
     * restored from it on a fresh problem with the same weights, n more steps: bit-identical to k +
     * n uninterrupted steps, with the same health, count of model steps and rate. The entries are
     * named; a checkpoint whose rate was rescheduled does not load into an optimizer without the
     * schedule.
     */
    @Test
    void aCheckpointResumesModelStepsAndTheScheduleBitIdentically() throws IOException {
        Supplier<Smb> build =
                () ->
                        Smb.builder()
                                .optLearningRate(4f)
                                .optAutoSchedule(true)
                                .optScheduleWindow(2)
                                .build();
        Smb smb = build.get();
        Smb resumed = build.get();
        try (LeastSquares original = new LeastSquares(manager, 47, smb);
                LeastSquares restarted = new LeastSquares(manager, 47, resumed)) {
            for (int i = 0; i < 5; i++) {
                original.step(smb);
            }
            assertTrue(smb.modelSteps() > 0);
            assertTrue(smb.learningRateScale() != 1);
            ByteArrayOutputStream state = new ByteArrayOutputStream();
            smb.saveState(state, original.block);
            restarted.setWeights(original.weights());
            restarted.backward(); // gives the parameters their gradient arrays
            restarted.zeroGradients();
            resumed.loadState(new ByteArrayInputStream(state.toByteArray()), restarted.block);
            assertEquals(smb.learningRateScale(), resumed.learningRateScale());
            for (int i = 0; i < 5; i++) {
                original.step(smb);
                restarted.step(resumed);
            }
            assertArrayEquals(original.weights(), restarted.weights(), 0.0);
            assertEquals(smb.health(), resumed.health());
            assertEquals(smb.modelSteps(), resumed.modelSteps());
            assertEquals(smb.learningRateScale(), resumed.learningRateScale());
            try (NDManager scratch = manager.newSubManager()) {
                OptimizerState contents = new OptimizerState(Map.of(), Map.of(), Map.of(), scratch);
                CheckpointFormat.read(
                        new ByteArrayInputStream(state.toByteArray()), scratch, contents);
                assertTrue(
                        contents.names()
                                .containsAll(
                                        List.of(
                                                "smb/modelSteps",
                                                "smb/windowModelSteps",
                                                "smb/learningRateScale")),
                        contents.names().toString());
            }
            Smb plain = Smb.builder().optLearningRate(4f).build();
            try (LeastSquares other = new LeastSquares(manager, 47, plain)) {
                other.backward();
                other.zeroGradients();
                IllegalArgumentException e =
                        assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        plain.loadState(
                                                new ByteArrayInputStream(state.toByteArray()),
                                                other.block));
                assertTrue(
                        e.getMessage().contains("but this optimizer has no schedule"),
                        e.getMessage());
            }
        }
    }

    // ----- DJL's trainer -------------------------------------------------------------------------

    /**
     * {@link Smb#trainStep} through a real DJL {@link Trainer} (float32), at rate 5 (at the
     * reference's default 1 every trial passes here), on a fixed batch of a small tanh network: the
     * batch loss falls, model steps are taken, nothing is read from the device, and the model's
     * live arrays stay flat after a warm-up.
     */
    @Test
    void trainStepsThroughATrainerLowerTheLossAndLeaveNoArraysBehind() {
        Smb smb = Smb.builder().optLearningRate(5f).build();
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
                                    .optOptimizer(smb))) {
                trainer.initialize(new Shape(16, 6));
                data.getEngine().setRandomSeed(1);
                NDList x = new NDList(data.randomNormal(new Shape(16, 6)));
                NDList y = new NDList(data.randomUniform(0, 3, new Shape(16)).floor());
                Loss loss = Loss.softmaxCrossEntropyLoss();
                double first = batchLoss(trainer, loss, x, y);
                int warm = 0;
                for (int step = 0; step < 25; step++) {
                    if (step == 8) {
                        warm = LiveArrays.count(model.getNDManager());
                    }
                    try (Batch batch =
                            new Batch(
                                    data.newSubManager(),
                                    new NDList(x.head().duplicate()),
                                    new NDList(y.head().duplicate()),
                                    16,
                                    Batchifier.STACK,
                                    Batchifier.STACK,
                                    step,
                                    25)) {
                        smb.trainStep(trainer, batch);
                    }
                }
                assertEquals(0, smb.health().hostReads().reads());
                assertEquals(warm, LiveArrays.count(model.getNDManager()));
                double last = batchLoss(trainer, loss, x, y);
                assertTrue(last < 0.5 * first, "loss " + first + " -> " + last);
                assertTrue(smb.modelSteps() > 0, "no model step at rate 5");
                assertEquals(25, smb.health().steps());
                assertEquals(0, smb.health().skippedSteps());
            }
        }
    }

    private static double batchLoss(Trainer trainer, Loss loss, NDList x, NDList y) {
        try (NDManager scope = trainer.getManager().newSubManager()) {
            NDList out = trainer.evaluate(x);
            out.attach(scope);
            return loss.evaluate(y, out).toType(DataType.FLOAT64, false).getDouble();
        }
    }

    // ----- bad settings --------------------------------------------------------------------------

    /** Every invalid setting fails at build(), naming the setting and its value. */
    @ParameterizedTest(name = "{1}")
    @MethodSource("badSettings")
    void badSettingsFailAtBuildNamingTheSettingAndValue(
            Supplier<Smb.Builder> builder, String message) {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> builder.get().build());
        assertEquals(message, e.getMessage());
    }

    static Stream<Arguments> badSettings() {
        return Stream.of(
                bad(
                        () -> Smb.builder().optArmijo(0),
                        "armijo must be positive and finite, but was 0.0"),
                bad(
                        () -> Smb.builder().optArmijo(Double.NaN),
                        "armijo must be positive and finite, but was NaN"),
                bad(
                        () -> Smb.builder().optArmijo(Double.POSITIVE_INFINITY),
                        "armijo must be positive and finite, but was Infinity"),
                bad(() -> Smb.builder().optEta(0), "eta must be in (0, 1), but was 0.0"),
                bad(() -> Smb.builder().optEta(1), "eta must be in (0, 1), but was 1.0"),
                bad(() -> Smb.builder().optEta(Double.NaN), "eta must be in (0, 1), but was NaN"),
                bad(
                        () -> Smb.builder().optScheduleWindow(0),
                        "scheduleWindow must be at least 1, but was 0"),
                bad(
                        () -> Smb.builder().optScheduleGamma(-0.1),
                        "scheduleGamma must be in [0, 1], but was -0.1"),
                bad(
                        () -> Smb.builder().optScheduleGamma(1.5),
                        "scheduleGamma must be in [0, 1], but was 1.5"),
                bad(
                        () -> Smb.builder().optScheduleBeta(1),
                        "scheduleBeta must be in (0, 1), but was 1.0"),
                bad(
                        () -> Smb.builder().optScheduleBeta(0),
                        "scheduleBeta must be in (0, 1), but was 0.0"),
                bad(
                        () -> Smb.builder().optMaxLearningRate(0),
                        "maxLearningRate must be positive and finite, but was 0.0"),
                bad(
                        () -> Smb.builder().optMaxLearningRate(Double.POSITIVE_INFINITY),
                        "maxLearningRate must be positive and finite, but was Infinity"),
                bad(
                        () -> Smb.builder().optWeightDecays(-1f),
                        "weightDecay must be finite and non-negative, but was -1.0"),
                bad(
                        () -> Smb.builder().optLearningRateTracker(Tracker.fixed(-1f)),
                        "learningRateTracker must give finite, non-negative values, but its first"
                                + " is -1.0"));
    }

    private static Arguments bad(Supplier<Smb.Builder> builder, String message) {
        return Arguments.of(builder, message);
    }

    /** A negative learning rate fails in the setter, as for every so4j optimizer. */
    @Test
    void aNegativeLearningRateFailsAtOnce() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> Smb.builder().optLearningRate(-0.5f));
        assertEquals("learningRate must be finite and non-negative, but was -0.5", e.getMessage());
    }

    // ----- the problem and the reference ---------------------------------------------------

    private static RealVector gaussian(Random random, int d) {
        return new ArrayRealVector(Dense.gaussian(random, 1, d, 1)[0]);
    }

    /**
     * Linear least squares in float64: a {@code Linear} block (W, 2 x 3, and b) on 10 examples, \(
     * L = \frac{1}{2n} \sum_i \|W x_i + b - y_i\|^2 \), through DJL's parameter store. The loss can
     * be made NaN at one evaluation of a step ({@link #poisonAt}; the training backward is
     * evaluation 1).
     */
    static final class LeastSquares implements AutoCloseable {

        static final int N = 10;
        static final int IN = 3;
        static final int OUT = 2;

        final double[][] x;
        final double[][] y;
        final Block block;
        final Loss loss;
        final NDList data;
        final NDList labels;
        final ParameterStore store;
        private final NDManager manager;
        int poisonAt = -1;
        private int evaluations;

        LeastSquares(NDManager parent, long seed, Optimizer optimizer) {
            manager = parent.newSubManager();
            Random random = new Random(seed);
            x = Dense.gaussian(random, N, IN, 1);
            y = Dense.gaussian(random, N, OUT, 1);
            loss =
                    new Loss("leastSquares") {
                        @Override
                        public NDArray evaluate(NDList labels, NDList predictions) {
                            evaluations++;
                            NDArray r = predictions.head().sub(labels.head());
                            NDArray value = RecordedScalars.div(r.mul(r).sum(), 2.0 * N);
                            return evaluations == poisonAt
                                    ? RecordedScalars.mul(value, Double.NaN)
                                    : value;
                        }
                    };
            block = Linear.builder().setUnits(OUT).build();
            data = new NDList(Dense.toArray(manager, x, DataType.FLOAT64));
            labels = new NDList(Dense.toArray(manager, y, DataType.FLOAT64));
            block.initialize(manager, DataType.FLOAT64, new Shape(N, IN));
            setWeights(Dense.gaussian(new Random(seed + 1000), 1, OUT * IN + OUT, 1)[0]);
            store = new ParameterStore(manager, false);
            store.setParameterServer(
                    new LocalParameterServer(optimizer), new Device[] {manager.getDevice()});
        }

        void backward() {
            evaluations = 0;
            try (NDManager scope = manager.newSubManager();
                    GradientCollector collector = manager.getEngine().newGradientCollector()) {
                scope.tempAttachAll(data, labels);
                NDList out = block.forward(store, data, true);
                collector.backward(loss.evaluate(labels, out));
            }
        }

        void zeroGradients() {
            for (int i = 0; i < 2; i++) {
                try (NDArray g = block.getParameters().get(i).getValue().getArray().getGradient()) {
                    g.muli(0);
                }
            }
        }

        void step(Smb smb) {
            backward();
            smb.prepare(block, loss, data, labels);
            store.updateAllParameters();
        }

        /** W row by row, then b. */
        double[] weights() {
            double[] w = Dense.toDoubles(block.getParameters().get(0).getValue().getArray());
            double[] b = Dense.toDoubles(block.getParameters().get(1).getValue().getArray());
            double[] all = Arrays.copyOf(w, w.length + b.length);
            System.arraycopy(b, 0, all, w.length, b.length);
            return all;
        }

        void setWeights(double[] values) {
            NDArray w = block.getParameters().get(0).getValue().getArray();
            NDArray b = block.getParameters().get(1).getValue().getArray();
            NDArray wv = manager.create(Arrays.copyOf(values, OUT * IN)).reshape(OUT, IN);
            NDArray bv = manager.create(Arrays.copyOfRange(values, OUT * IN, values.length));
            w.subi(w).addi(wv);
            b.subi(b).addi(bv);
        }

        @Override
        public void close() {
            manager.close();
        }
    }

    /**
     * SMB in plain Java float64, written from the paper's formulas (Algorithm 1 and eq. 4-5, as the
     * reference code computes them, \( \theta \) as the difference of squares), on {@link
     * LeastSquares} with its gradient written out: \( \nabla_W L = \frac{1}{n} \sum_i r_i x_i^\top
     * \), \( \nabla_b L = \frac{1}{n} \sum_i r_i \), \( r_i = W x_i + b - y_i \), plus the weight
     * decay \( \omega w \). The parameter arrays are W (6 entries) and b (2).
     */
    static final class ReferenceSmb {

        private static final int[][] GROUPS = {{0, 6}, {6, 8}};
        private static final double C = 0.1;
        private static final double ETA = 0.99;

        record Result(
                double[] weights, boolean modelStep, double armijoMargin, double conditionNumber) {}

        private final LeastSquares problem;
        private final double lr;
        private final double decay;

        ReferenceSmb(LeastSquares problem, double lr, double decay) {
            this.problem = problem;
            this.lr = lr;
            this.decay = decay;
        }

        Result step(double[] w) {
            double[] g = gradient(w);
            double f = value(w);
            double[] s = new double[w.length];
            double[] trial = new double[w.length];
            for (int i = 0; i < w.length; i++) {
                s[i] = -lr * g[i];
                trial[i] = w[i] + s[i];
            }
            double bound = f - C * lr * dot(g, g, 0, g.length);
            double ft = value(trial);
            double margin = Math.abs(ft - bound) / Math.abs(f);
            if (ft <= bound) {
                return new Result(trial, false, margin, 1);
            }
            double[] gt = gradient(trial);
            double[] next = w.clone();
            double kappa = 1;
            for (int[] group : GROUPS) {
                int from = group[0];
                int to = group[1];
                double[] y = new double[w.length];
                for (int i = from; i < to; i++) {
                    y[i] = gt[i] - g[i];
                }
                double sg = dot(s, g, from, to);
                double ss = dot(s, s, from, to);
                double yy = dot(y, y, from, to);
                double yg = dot(y, g, from, to);
                double gg = dot(g, g, from, to);
                double ys = dot(y, s, from, to);
                double sigma = 0.5 * (Math.sqrt(ss) * (Math.sqrt(yy) + Math.sqrt(gg) / ETA) - ys);
                double theta = Math.pow(ys + 2 * sigma, 2) - ss * yy;
                double cg = -ss / (2 * sigma);
                double cs = cg / theta * (-(ys + 2 * sigma) * yg + yy * sg);
                double cy = cg / theta * (-(ys + 2 * sigma) * sg + ss * yg);
                for (int i = from; i < to; i++) {
                    next[i] = w[i] + cg * g[i] + cs * s[i] + cy * y[i];
                }
                kappa = Math.max(kappa, 1 + 2 * ETA * Math.sqrt(yy / gg));
            }
            return new Result(next, true, margin, kappa);
        }

        private double value(double[] w) {
            double sum = 0;
            for (int n = 0; n < LeastSquares.N; n++) {
                double[] r = residual(w, n);
                for (double v : r) {
                    sum += v * v;
                }
            }
            return sum / (2.0 * LeastSquares.N) + decay / 2 * dot(w, w, 0, w.length);
        }

        private double[] gradient(double[] w) {
            double[] g = new double[w.length];
            int in = LeastSquares.IN;
            for (int n = 0; n < LeastSquares.N; n++) {
                double[] r = residual(w, n);
                for (int k = 0; k < LeastSquares.OUT; k++) {
                    for (int j = 0; j < in; j++) {
                        g[k * in + j] += r[k] * problem.x[n][j] / LeastSquares.N;
                    }
                    g[LeastSquares.OUT * in + k] += r[k] / LeastSquares.N;
                }
            }
            for (int i = 0; i < w.length; i++) {
                g[i] += decay * w[i];
            }
            return g;
        }

        private double[] residual(double[] w, int n) {
            int in = LeastSquares.IN;
            double[] r = new double[LeastSquares.OUT];
            for (int k = 0; k < LeastSquares.OUT; k++) {
                double z = w[LeastSquares.OUT * in + k];
                for (int j = 0; j < in; j++) {
                    z += w[k * in + j] * problem.x[n][j];
                }
                r[k] = z - problem.y[n][k];
            }
            return r;
        }

        private static double dot(double[] a, double[] b, int from, int to) {
            double sum = 0;
            for (int i = from; i < to; i++) {
                sum += a[i] * b[i];
            }
            return sum;
        }
    }
}
