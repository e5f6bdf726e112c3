package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.shampoo.RootHealth;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link Shampoo} on the tiny tanh net and on hand-made gradients, against plain-Java references in
 * double precision.
 */
class ShampooTest {

    /** The parameters of the tiny net, flattened W1 (4 x 5), b1, W2 (3 x 4), b2. */
    private static final int[][] MATRICES = {
        {0, TinyTanhNet.HIDDEN, TinyTanhNet.IN},
        {
            TinyTanhNet.HIDDEN * TinyTanhNet.IN + TinyTanhNet.HIDDEN,
            TinyTanhNet.OUT,
            TinyTanhNet.HIDDEN
        }
    };

    /**
     * Before the start step the update is the grafting method alone: Adam (\( \hat m / (\sqrt{\hat
     * v} + \epsilon) \) with both moments bias-corrected), AdaGrad, or the filtered gradient, each
     * written out here in double precision. 15 steps in float64 with preconditioning starting at
     * step 1000. Tolerance: the two computations differ only in the association of a few operations
     * per step and in tanh (PyTorch's against Java's, each within an ulp), about 1e-15 relative per
     * step; 1e-11 after 15 steps leaves a margin of four digits for the growth of those differences
     * through the updates.
     */
    @ParameterizedTest
    @EnumSource(Grafting.class)
    void beforeTheStartStepTheUpdateIsTheGraftingMethod(Grafting grafting) {
        float lr = 0.01f;
        float beta1 = 0.9f;
        float graftBeta2 = 0.99f;
        float graftEpsilon = 1e-6f;
        Shampoo shampoo =
                Shampoo.builder()
                        .optLearningRate(lr)
                        .optBeta1(beta1)
                        .optGrafting(grafting)
                        .optGraftingBeta2(graftBeta2)
                        .optGraftingEpsilon(graftEpsilon)
                        .optPreconditionFrequency(1000)
                        .build();
        Random data = new Random(1);
        try (TinyTanhNet net = new TinyTanhNet(shampoo, DataType.FLOAT64)) {
            double[] w = net.weights();
            double[] m = new double[w.length];
            double[] v = new double[w.length];
            for (int t = 1; t <= 15; t++) {
                double[][][] batch = TinyTanhNet.batch(data);
                double[] g = TinyTanhNet.gradient(w, batch[0], batch[1]);
                for (int i = 0; i < w.length; i++) {
                    m[i] = beta1 * m[i] + (1 - (double) beta1) * g[i];
                    double mHat = m[i] / (1 - Math.pow(beta1, t));
                    double step;
                    if (grafting == Grafting.ADAM) {
                        v[i] = graftBeta2 * v[i] + (1 - (double) graftBeta2) * g[i] * g[i];
                        double vHat = v[i] / (1 - Math.pow(graftBeta2, t));
                        step = mHat / (Math.sqrt(vHat) + graftEpsilon);
                    } else if (grafting == Grafting.ADAGRAD) {
                        v[i] += g[i] * g[i];
                        step = mHat / (Math.sqrt(v[i]) + graftEpsilon);
                    } else {
                        step = mHat;
                    }
                    w[i] -= lr * step;
                }
                net.step(batch[0], batch[1]);
                double error = Dense.relativeError(net.weights(), w);
                assertTrue(error < 1e-11, "step " + t + ": relative error " + error);
            }
            assertEquals(0, shampoo.rootHealth().computations());
        }
    }

    /**
     * Full Shampoo (exponential statistics with bias correction, roots every 2 steps from step 2,
     * Adam grafting or none, momentum, decoupled weight decay) against a dense reference: L, R and
     * their roots formed and decomposed by Commons Math in double precision, with the same order of
     * operations as Meta's implementation. 12 steps in float64. Without grafting the bias
     * correction of the statistics sets the step's scale, so the second case checks it too.
     *
     * <p>Tolerance: the roots agree within \( (\kappa / p) \gamma_n \) (\( \kappa \le 10^6 + 1 \),
     * n &le; 5: about 1.4e-10), each direction within about twice that times \( \sqrt{n} \); over
     * 12 steps of a contracting update the weights then agree to about 1e-8 relative.
     */
    @ParameterizedTest(name = "statistics every {0} steps, nesterov={1}, grafting {2}")
    @CsvSource({"1, true, ADAM", "2, false, NONE"})
    void fullShampooReproducesTheDenseReference(
            int statisticsFrequency, boolean nesterov, Grafting grafting) {
        float lr = 0.02f;
        float beta1 = 0.9f;
        double beta2 = 0.99;
        float graftBeta2 = 0.999f;
        float graftEpsilon = 1e-8f;
        double epsilon = 1e-6;
        float momentum = 0.5f;
        float decay = 1e-3f;
        int frequency = 2;
        Shampoo shampoo =
                Shampoo.builder()
                        .optLearningRate(lr)
                        .optBeta1(beta1)
                        .optBeta2(beta2)
                        .optEpsilon(epsilon)
                        .optGrafting(grafting)
                        .optGraftingBeta2(graftBeta2)
                        .optGraftingEpsilon(graftEpsilon)
                        .optPreconditionFrequency(frequency)
                        .optStatisticsFrequency(statisticsFrequency)
                        .optMomentum(momentum)
                        .optNesterov(nesterov)
                        .optWeightDecays(decay)
                        .build();
        Random data = new Random(2);
        try (TinyTanhNet net = new TinyTanhNet(shampoo, DataType.FLOAT64)) {
            double[] w = net.weights();
            int size = w.length;
            double[] m = new double[size];
            double[] v = new double[size];
            double[] velocity = new double[size];
            RealMatrix[] left = new RealMatrix[2];
            RealMatrix[] right = new RealMatrix[2];
            RealMatrix[] leftRoot = new RealMatrix[2];
            RealMatrix[] rightRoot = new RealMatrix[2];
            for (int k = 0; k < 2; k++) {
                left[k] = new Array2DRowRealMatrix(MATRICES[k][1], MATRICES[k][1]);
                right[k] = new Array2DRowRealMatrix(MATRICES[k][2], MATRICES[k][2]);
            }
            int updates = 0;
            for (int t = 1; t <= 12; t++) {
                double[][][] batch = TinyTanhNet.batch(data);
                double[] g = TinyTanhNet.gradient(w, batch[0], batch[1]);
                boolean statisticsStep = (t - 1) % statisticsFrequency == 0;
                if (statisticsStep) {
                    updates++;
                }
                for (int k = 0; k < 2 && statisticsStep; k++) {
                    RealMatrix gk = matrix(g, MATRICES[k]);
                    left[k] =
                            left[k].scalarMultiply(beta2)
                                    .add(gk.multiply(gk.transpose()).scalarMultiply(1 - beta2));
                    right[k] =
                            right[k].scalarMultiply(beta2)
                                    .add(gk.transpose().multiply(gk).scalarMultiply(1 - beta2));
                }
                double[] mHat = new double[size];
                double[] graft = new double[size];
                for (int i = 0; i < size; i++) {
                    v[i] = graftBeta2 * v[i] + (1 - (double) graftBeta2) * g[i] * g[i];
                    m[i] = beta1 * m[i] + (1 - (double) beta1) * g[i];
                    mHat[i] = m[i] / (1 - Math.pow(beta1, t));
                    double vHat = v[i] / (1 - Math.pow(graftBeta2, t));
                    graft[i] =
                            grafting == Grafting.NONE
                                    ? mHat[i]
                                    : mHat[i] / (Math.sqrt(vHat) + graftEpsilon);
                }
                if (t % frequency == 0) {
                    double correction = 1 - Math.pow(beta2, updates);
                    for (int k = 0; k < 2; k++) {
                        leftRoot[k] = root(left[k].scalarMultiply(1 / correction), 4, epsilon);
                        rightRoot[k] = root(right[k].scalarMultiply(1 / correction), 4, epsilon);
                    }
                }
                double[] d = graft.clone();
                if (t >= frequency) {
                    for (int k = 0; k < 2; k++) {
                        RealMatrix p =
                                leftRoot[k]
                                        .multiply(matrix(mHat, MATRICES[k]))
                                        .multiply(rightRoot[k]);
                        double ratio =
                                grafting == Grafting.NONE
                                        ? 1
                                        : matrix(graft, MATRICES[k]).getFrobeniusNorm()
                                                / (p.getFrobeniusNorm() + 1e-16);
                        put(d, MATRICES[k], p.scalarMultiply(ratio));
                    }
                }
                for (int i = 0; i < size; i++) {
                    d[i] += decay * w[i];
                    velocity[i] = momentum * velocity[i] + d[i];
                    d[i] = nesterov ? d[i] + momentum * velocity[i] : velocity[i];
                    w[i] -= lr * d[i];
                }
                net.step(batch[0], batch[1]);
                double error = Dense.relativeError(net.weights(), w);
                assertTrue(error < 1e-8, "step " + t + ": relative error " + error);
            }
            RootHealth health = shampoo.rootHealth();
            assertEquals(12, health.computations(), health.toString());
            assertEquals(
                    0, health.failedRoots() + health.float64Retries() + health.hostFallbacks());
            assertEquals(12L, shampoo.health().curvature().get("rootComputations"));
            assertEquals(0L, shampoo.health().curvature().get("failedRoots"));
        }
    }

    private static RealMatrix matrix(double[] flat, int[] spec) {
        double[][] a = new double[spec[1]][spec[2]];
        for (int i = 0; i < spec[1]; i++) {
            System.arraycopy(flat, spec[0] + i * spec[2], a[i], 0, spec[2]);
        }
        return new Array2DRowRealMatrix(a, false);
    }

    private static void put(double[] flat, int[] spec, RealMatrix a) {
        for (int i = 0; i < spec[1]; i++) {
            for (int j = 0; j < spec[2]; j++) {
                flat[spec[0] + i * spec[2] + j] = a.getEntry(i, j);
            }
        }
    }

    /** \( (A + \epsilon \lambda_{\max} I)^{-1/p} \), negative eigenvalues raised to zero. */
    private static RealMatrix root(RealMatrix a, int p, double relativeEpsilon) {
        EigenDecomposition eigen = new EigenDecomposition(a.add(a.transpose()).scalarMultiply(0.5));
        double[] lambda = eigen.getRealEigenvalues();
        double top = 0;
        for (double l : lambda) {
            top = Math.max(top, l);
        }
        double[] mu = new double[lambda.length];
        for (int i = 0; i < mu.length; i++) {
            mu[i] = Math.pow(Math.max(lambda[i], 0) + relativeEpsilon * top, -1.0 / p);
        }
        RealMatrix q = eigen.getV();
        return q.multiply(MatrixUtils.createRealDiagonalMatrix(mu)).multiply(q.transpose());
    }

    /**
     * With gradients \( s_t Q \) for an orthogonal Q whose entries differ in size, \( L = R = (\sum
     * s_t^2) I \): Shampoo's direction is a multiple of \( \hat m \), so the step is \( \hat m \)
     * rescaled to the grafted step's norm; for SGD grafting exactly \( \hat m \), the grafted step
     * itself. Adam's step is not parallel to \( \hat m \) here (its entries are divided by
     * different \( \sqrt{v} \)), so only its norm carries over. Called through {@link
     * Shampoo#computeStep} directly, in float64; tolerance: a few roundings per entry, 1e-14
     * relative.
     */
    @ParameterizedTest
    @EnumSource(
            value = Grafting.class,
            names = {"ADAM", "SGD"})
    void identityStatisticsGiveTheGraftedNormAlongTheFilteredGradient(Grafting grafting) {
        double[][] q = rotations(0.3, 1.1);
        double[] scales = {1, -0.5, 2, 0.25};
        float beta1 = 0.9f;
        float graftBeta2 = 0.999f;
        float graftEpsilon = 1e-8f;
        Shampoo shampoo =
                Shampoo.builder()
                        .optBeta1(beta1)
                        .optGrafting(grafting)
                        .optGraftingBeta2(graftBeta2)
                        .optGraftingEpsilon(graftEpsilon)
                        .optPreconditionFrequency(1)
                        .build();
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray weight = manager.zeros(new Shape(4, 4), DataType.FLOAT64);
            double[] m = new double[16];
            double[] v = new double[16];
            for (int t = 1; t <= scales.length; t++) {
                double[] g = new double[16];
                for (int i = 0; i < 16; i++) {
                    g[i] = scales[t - 1] * q[i / 4][i % 4];
                }
                NDArray gradient = Dense.toArray(manager, g, DataType.FLOAT64).reshape(4, 4);
                double[] actual = Dense.toDoubles(takenStep(shampoo, t, weight, gradient, manager));
                double[] mHat = new double[16];
                double[] graft = new double[16];
                double mNorm = 0;
                double graftNorm = 0;
                for (int i = 0; i < 16; i++) {
                    m[i] = beta1 * m[i] + (1 - (double) beta1) * g[i];
                    v[i] = graftBeta2 * v[i] + (1 - (double) graftBeta2) * g[i] * g[i];
                    mHat[i] = m[i] / (1 - Math.pow(beta1, t));
                    double vHat = v[i] / (1 - Math.pow(graftBeta2, t));
                    graft[i] =
                            grafting == Grafting.SGD
                                    ? mHat[i]
                                    : mHat[i] / (Math.sqrt(vHat) + graftEpsilon);
                    mNorm += mHat[i] * mHat[i];
                    graftNorm += graft[i] * graft[i];
                }
                double[] expected = new double[16];
                for (int i = 0; i < 16; i++) {
                    expected[i] = mHat[i] * Math.sqrt(graftNorm / mNorm);
                }
                double error = Dense.relativeError(actual, expected);
                assertTrue(error < 1e-14, "step " + t + ": relative error " + error);
                if (grafting == Grafting.SGD) {
                    assertTrue(Dense.relativeError(actual, graft) < 1e-14);
                }
            }
        }
    }

    /**
     * Calls {@link Shampoo#computeStep} for the taken step t of one parameter {@code w}, as the
     * base class does (a guard whose index is known on the host), and commits its state changes.
     */
    private static NDArray takenStep(
            Shampoo shampoo, int t, NDArray weight, NDArray gradient, NDManager manager) {
        try (NDManager scope = manager.newSubManager()) {
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
            Step step = new Step(scope, scope.create(true), scope.create(t - 1L), t, t, known);
            Map<String, NDArray> directions =
                    shampoo.computeStep(
                            List.of(
                                    new SecondOrderOptimizer.ParameterGradient(
                                            "w", "w", weight, gradient)),
                            manager,
                            step);
            NDArray accepted = step.acceptance();
            step.commits().forEach(commit -> commit.commit(accepted));
            return directions.get("w");
        }
    }

    /** Block-diagonal rotations by a and b: orthogonal, with entries of different sizes. */
    private static double[][] rotations(double a, double b) {
        return new double[][] {
            {Math.cos(a), -Math.sin(a), 0, 0},
            {Math.sin(a), Math.cos(a), 0, 0},
            {0, 0, Math.cos(b), -Math.sin(b)},
            {0, 0, Math.sin(b), Math.cos(b)}
        };
    }

    /**
     * A step whose gradient is NaN (a NaN target) must leave every weight bit-identical, must not
     * enter the statistics, moments or momentum, and the run must then continue exactly as if that
     * batch had never been seen (roots every 2 steps, so a root computation falls right after).
     */
    @Test
    void nonFiniteGradientStepIsSkippedWithoutTrace() {
        Random dataA = new Random(21);
        Random dataB = new Random(21);
        Shampoo withBadStep = smallShampoo();
        Shampoo clean = smallShampoo();
        try (TinyTanhNet a = new TinyTanhNet(withBadStep, DataType.FLOAT32);
                TinyTanhNet b = new TinyTanhNet(clean, DataType.FLOAT32)) {
            copyWeights(a, b);
            for (int step = 0; step < 7; step++) {
                double[][][] batchA = TinyTanhNet.batch(dataA);
                double[][][] batchB = TinyTanhNet.batch(dataB);
                if (step == 3) {
                    double[] before = a.weights();
                    double[][] poisoned = batchA[1].clone();
                    poisoned[2] = poisoned[2].clone();
                    poisoned[2][1] = Double.NaN;
                    a.step(batchA[0], poisoned);
                    assertArrayEquals(before, a.weights(), 0.0);
                }
                a.step(batchA[0], batchA[1]);
                b.step(batchB[0], batchB[1]);
            }
            assertArrayEquals(b.weights(), a.weights(), 0.0);
            assertEquals(1, withBadStep.health().nonFiniteGradientSteps());
            assertEquals(1, withBadStep.health().skippedSteps());
            assertEquals(8, withBadStep.health().steps());
            assertEquals(clean.rootHealth(), withBadStep.rootHealth());
        }
    }

    /**
     * A NaN in one parameter's gradient only, the first (a preconditioned weight) or the last (a
     * bias that only the grafted method moves), rejects the whole step on the device: the run is
     * then bit-identical to a twin run in which that step never happened. The bad step comes after
     * 2 taken steps (index 3, an ordinary step, rejected on the device) or after 3 (index 4, a root
     * refresh with roots every 2 steps, rejected on the host before any root is computed); the
     * twins then run through three more refreshes, with blocks, momentum and weight decay.
     */
    @ParameterizedTest(name = "parameter {0}, after {1} taken steps")
    @CsvSource({"0, 2", "0, 3", "3, 2", "3, 3"})
    void aNonFiniteGradientOfOneParameterLeavesNoTrace(int parameter, int takenBefore) {
        try (NDManager manager = NDManager.newBaseManager()) {
            Shampoo poisoned = twinShampoo();
            Shampoo clean = twinShampoo();
            try (ContractProblem a = ContractProblem.mlp(manager, DataType.FLOAT32, poisoned);
                    ContractProblem b = ContractProblem.mlp(manager, DataType.FLOAT32, clean)) {
                for (int step = 0; step < 9; step++) {
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
                assertEquals(clean.rootHealth(), poisoned.rootHealth());
                assertEquals(2 * 4, poisoned.rootHealth().computations());
                assertEquals(10, poisoned.health().steps());
                assertEquals(1, poisoned.health().skippedSteps());
                assertEquals(1, poisoned.health().nonFiniteGradientSteps());
            }
        }
    }

    private static Shampoo twinShampoo() {
        return Shampoo.builder()
                .optMaxPreconditionerDim(2)
                .optPreconditionFrequency(2)
                .optMomentum(0.5f)
                .optWeightDecays(1e-3f)
                .optLearningRate(0.05f)
                .build();
    }

    /**
     * Ordinary steps read nothing from the device; a root refresh (every 5 steps, from step 5)
     * reads 6 times: the schedule's check of the step's index (the host has not read since the last
     * refresh), the step's decision, and one host eigendecomposition for each of the four factors
     * (L and R of the two weights, 4 x 5 and 3 x 4: small enough for the host). Over 20 steps: 24
     * reads, on 4 steps, as {@code health()} reports them.
     */
    @Test
    void onlyRootRefreshesReadFromTheDevice() {
        Shampoo shampoo =
                Shampoo.builder().optLearningRate(0.01f).optPreconditionFrequency(5).build();
        Random data = new Random(7);
        try (TinyTanhNet net = new TinyTanhNet(shampoo, DataType.FLOAT32)) {
            long[] reads = new long[20];
            for (int step = 0; step < 20; step++) {
                double[][][] batch = TinyTanhNet.batch(data);
                long before = HostReads.count();
                net.step(batch[0], batch[1]);
                reads[step] = HostReads.count() - before;
            }
            long[] expected = new long[20];
            for (int t = 5; t <= 20; t += 5) {
                expected[t - 1] = 6;
            }
            assertArrayEquals(expected, reads);
            OptimizerHealth health = shampoo.health();
            assertEquals(4, health.hostReads().stepsWithReads());
            assertEquals(24, health.hostReads().reads());
            assertEquals(2 * 4, shampoo.rootHealth().computations());
        }
    }

    /**
     * Roots that needed a rung of the failure ladder are reported under the model's names for their
     * parameters, after the totals. At step 1 the right factor of each weight, \( G^\top G \) for a
     * 4 x 5 and a 3 x 4 gradient, has a zero eigenvalue: with a ridge of \( 10^{-10} \lambda_{\max}
     * \) the iteration on the device reaches no acceptable residual, in float32 or float64, and
     * both roots are computed on the host. The biases have no roots and are not listed. (The
     * contract problem: seeded weights and data, so the run repeats exactly.)
     */
    @Test
    void rootProblemsAreNamedByParameter() {
        Shampoo shampoo =
                Shampoo.builder()
                        .optPreconditionFrequency(1)
                        .optHostRootMaxDim(0)
                        .optEpsilon(1e-10)
                        .build();
        try (NDManager manager = NDManager.newBaseManager();
                ContractProblem problem = ContractProblem.mlp(manager, DataType.FLOAT32, shampoo)) {
            shampoo.nameParameters(problem.block);
            problem.backward();
            problem.update();
            Map<String, Object> curvature = shampoo.health().curvature();
            assertEquals(
                    List.of(
                            "rootComputations",
                            "float64Retries",
                            "hostFallbacks",
                            "failedRoots",
                            "consecutiveRootFailures",
                            "lastRootProblem",
                            "parameter 01Linear_weight",
                            "parameter 03Linear_weight"),
                    List.copyOf(curvature.keySet()));
            RootHealth total = shampoo.rootHealth();
            assertEquals(2, total.float64Retries(), curvature.toString());
            assertEquals(2, total.hostFallbacks(), curvature.toString());
            assertEquals(total.hostFallbacks(), curvature.get("hostFallbacks"));
            assertEquals(0L, curvature.get("failedRoots"));
            for (String name : List.of("01Linear_weight", "03Linear_weight")) {
                assertTrue(
                        curvature
                                .get("parameter " + name)
                                .toString()
                                .startsWith(
                                        "RootHealth[computations=1, float64Retries=1,"
                                                + " hostFallbacks=1, failedRoots=0,"),
                        curvature.toString());
            }
        }
    }

    /** A learning-rate schedule that gives a negative or NaN rate fails at build(), by name. */
    @Test
    void badLearningRateTrackersFailInBuild() {
        assertMessage(
                "learningRateTracker must give finite, non-negative values, but its first is NaN",
                () -> Shampoo.builder().optLearningRateTracker(Tracker.fixed(Float.NaN)).build());
        assertMessage(
                "learningRateTracker must give finite, non-negative values, but its first is"
                        + " -0.1",
                () ->
                        Shampoo.builder()
                                .optLearningRateTracker(
                                        Tracker.factor()
                                                .setBaseValue(-0.1f)
                                                .setFactor(0.5f)
                                                .build())
                                .build());
    }

    /**
     * Finite gradients whose squares overflow float32 (targets of 1e25 give gradients near 1e23)
     * are rejected as statistics before anything changes.
     */
    @Test
    void overflowingStatisticsAreRejected() {
        Shampoo shampoo = smallShampoo();
        Random data = new Random(22);
        try (TinyTanhNet net = new TinyTanhNet(shampoo, DataType.FLOAT32)) {
            double[][][] batch = TinyTanhNet.batch(data);
            net.step(batch[0], batch[1]);
            double[] before = net.weights();
            double[][] huge = new double[TinyTanhNet.BATCH][TinyTanhNet.OUT];
            for (double[] row : huge) {
                java.util.Arrays.fill(row, 1e25);
            }
            net.step(batch[0], huge);
            assertArrayEquals(before, net.weights(), 0.0);
            assertEquals(1, shampoo.health().rejectedStatisticsSteps());
            assertEquals(0, shampoo.health().nonFiniteGradientSteps());
        }
    }

    private static Shampoo smallShampoo() {
        return Shampoo.builder()
                .optLearningRate(0.01f)
                .optPreconditionFrequency(2)
                .optMomentum(0.5f)
                .build();
    }

    private static void copyWeights(TinyTanhNet from, TinyTanhNet to) {
        var source = from.model.getBlock().getParameters().values();
        var target = to.model.getBlock().getParameters().values();
        for (int i = 0; i < source.size(); i++) {
            source.get(i).getArray().copyTo(target.get(i).getArray());
        }
    }

    /** Statistics, roots (every 5 steps), moments and momentum must not grow the array count. */
    @Test
    void fiveHundredStepsLeaveTheLiveArrayCountFlat() {
        Shampoo shampoo =
                Shampoo.builder()
                        .optLearningRate(0.01f)
                        .optPreconditionFrequency(5)
                        .optMomentum(0.9f)
                        .optNesterov(true)
                        .optWeightDecays(1e-4f)
                        .optBeta2(0.999)
                        .build();
        Random data = new Random(5);
        try (TinyTanhNet net = new TinyTanhNet(shampoo, DataType.FLOAT32)) {
            NDManager root = net.model.getNDManager();
            for (int step = 0; step < 20; step++) {
                double[][][] batch = TinyTanhNet.batch(data);
                net.step(batch[0], batch[1]);
            }
            int warm = LiveArrays.count(root);
            for (int step = 0; step < 500; step++) {
                double[][][] batch = TinyTanhNet.batch(data);
                net.step(batch[0], batch[1]);
            }
            assertEquals(warm, LiveArrays.count(root));
            assertEquals(2 * 104, shampoo.rootHealth().computations());
            assertEquals(0, shampoo.health().skippedSteps());
        }
    }

    @Test
    void invalidSettingsFailInBuildWithTheirValues() {
        assertMessage(
                "beta1 must be in [0, 1), but was 1.0",
                () -> Shampoo.builder().optBeta1(1).build());
        assertMessage(
                "beta2 must be in (0, 1], but was 0.0",
                () -> Shampoo.builder().optBeta2(0).build());
        assertMessage(
                "epsilon must be positive and finite, but was -1.0",
                () -> Shampoo.builder().optEpsilon(-1).build());
        assertMessage(
                "maxPreconditionerDim must be at least 1, but was 0",
                () -> Shampoo.builder().optMaxPreconditionerDim(0).build());
        assertMessage(
                "rightRoot must be at least 1, but was 0",
                () -> Shampoo.builder().optInverseRoots(4, 0).build());
        assertMessage(
                "graftingBeta2 must be in [0, 1), but was 1.0",
                () -> Shampoo.builder().optGraftingBeta2(1).build());
        assertMessage(
                "graftingEpsilon must be positive and finite, but was 0.0",
                () -> Shampoo.builder().optGraftingEpsilon(0).build());
        assertMessage(
                "grafting must not be null", () -> Shampoo.builder().optGrafting(null).build());
        assertMessage(
                "preconditionFrequency must be at least 1, but was 0",
                () -> Shampoo.builder().optPreconditionFrequency(0).build());
        assertMessage(
                "startPreconditioningStep must be -1 or at least preconditionFrequency (50), but"
                        + " was 5",
                () -> Shampoo.builder().optStartPreconditioningStep(5).build());
        assertMessage(
                "statisticsFrequency must be at least 1, but was 0",
                () -> Shampoo.builder().optStatisticsFrequency(0).build());
        assertMessage(
                "momentum must be in [0, 1), but was -0.5",
                () -> Shampoo.builder().optMomentum(-0.5f).build());
        assertMessage(
                "maxConsecutiveFailures must be non-negative, but was -1",
                () -> Shampoo.builder().optMaxConsecutiveFailures(-1).build());
        assertMessage(
                "hostRootMaxDim must be non-negative, but was -1",
                () -> Shampoo.builder().optHostRootMaxDim(-1).build());
        assertMessage(
                "learningRate must be finite and non-negative, but was NaN",
                () -> Shampoo.builder().optLearningRate(Float.NaN).build());
    }

    @Test
    void defaults() {
        Shampoo shampoo = Shampoo.builder().build();
        assertEquals(1e-3f, shampoo.getLearningRateTracker().getNewValue("any", 0));
        assertEquals(0.9f, shampoo.getBeta1());
        assertEquals(1.0, shampoo.getShampooConfig().beta2());
        assertEquals(1e-4, shampoo.getShampooConfig().relativeEpsilon());
        assertEquals(1024, shampoo.getShampooConfig().maxPreconditionerDim());
        assertEquals(4, shampoo.getShampooConfig().leftRoot());
        assertEquals(4, shampoo.getShampooConfig().rightRoot());
        assertEquals(Grafting.ADAM, shampoo.getGrafting());
        assertEquals(0.999f, shampoo.getGraftingBeta2());
        assertEquals(1e-8f, shampoo.getGraftingEpsilon());
        assertEquals(50, shampoo.getPreconditionFrequency());
        assertEquals(50, shampoo.getStartPreconditioningStep());
        assertEquals(1, shampoo.getStatisticsFrequency());
        assertEquals(0f, shampoo.getMomentum());
        assertEquals(false, shampoo.isNesterov());
        assertEquals(true, shampoo.isBiasCorrection());
        assertEquals(3, shampoo.getShampooConfig().maxConsecutiveFailures());
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
