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
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.kfac.InversionMode;
import io.github.so4j.curvature.kfac.KroneckerFactors;
import io.github.so4j.curvature.kfac.KroneckerHealth;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.curvature.testing.Tolerances;
import io.github.so4j.optimizers.kfac.CapturedLayer;
import io.github.so4j.optimizers.kfac.FirstOrderRule;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link Kfac} on small float64 models against step-by-step references computed densely in double
 * precision with Commons Math from the gradients each step saw and the running factors (whose
 * values {@link KfacFactorsTest} checks against brute force). The damped matrices have condition
 * numbers below about 1e4 here, so the references and the optimizer agree to {@link
 * Tolerances#FLOAT64_RELATIVE} over a few steps.
 */
class KfacTest {

    private static final double LR = 0.125;

    /** 2^-7: exactly representable in float, as the optimizer's settings are. */
    private static final double DAMPING = 0x1.0p-7;

    private static Kfac.Builder exact() {
        return Kfac.builder()
                .optLearningRate((float) LR)
                .optMomentum(0)
                .optKlClip(Float.POSITIVE_INFINITY)
                .optFactorUpdateFrequency(1)
                .optInverseUpdateFrequency(1)
                .optDamping((float) DAMPING);
    }

    private static KfacNet mlp(Kfac kfac, DataType type) {
        return new KfacNet(KfacNet.mlp(), kfac::instrument, kfac, type, KfacNet.mlpInput(8));
    }

    /**
     * One step, INVERSE mode: each layer moves by \( -\eta (G + \tfrac{\sqrt\lambda}{\pi} I)^{-1}
     * [\nabla W, \nabla b] (A + \pi \sqrt\lambda I)^{-1} \).
     */
    @Test
    void inverseModeStepIsTheDenseFactoredTikhonovDirection() {
        Kfac kfac = exact().build();
        try (KfacNet net = mlp(kfac, DataType.FLOAT64)) {
            Map<String, double[]> before = net.weights();
            Map<String, double[]> gradients =
                    net.step(KfacNet.batch(new Random(1), KfacNet.mlpInput(8)));
            Map<String, double[]> after = net.weights();
            for (CapturedLayer layer : kfac.instrumentation().layers()) {
                KroneckerFactors f = kfac.curvatureBlock(layer).factors();
                RealMatrix m = gradientMatrix(layer, gradients);
                RealMatrix v =
                        inverseDirection(
                                matrix(f.inputFactor()), matrix(f.outputFactor()), m, DAMPING);
                assertMoved(layer, before, after, v, LR);
            }
        }
    }

    /**
     * One step, EIGEN mode: \( \mathrm{vec}(V) = (A \otimes G + \lambda I)^{-1} \mathrm{vec}(M) \).
     */
    @Test
    void eigenModeStepIsTheExactDampedKroneckerDirection() {
        Kfac kfac = exact().optInversion(InversionMode.EIGEN).build();
        try (KfacNet net = mlp(kfac, DataType.FLOAT64)) {
            Map<String, double[]> before = net.weights();
            Map<String, double[]> gradients =
                    net.step(KfacNet.batch(new Random(2), KfacNet.mlpInput(8)));
            Map<String, double[]> after = net.weights();
            for (CapturedLayer layer : kfac.instrumentation().layers()) {
                KroneckerFactors f = kfac.curvatureBlock(layer).factors();
                assertEquals(InversionMode.EIGEN, f.mode());
                RealMatrix m = gradientMatrix(layer, gradients);
                RealMatrix v =
                        eigenDirection(
                                matrix(f.inputFactor()), matrix(f.outputFactor()), m, DAMPING);
                assertMoved(layer, before, after, v, LR);
            }
        }
    }

    /**
     * KL clipping: with \( \kappa \) small, every covered layer moves by \( -\eta \nu V_\ell \), \(
     * \nu = \sqrt{\kappa / (\eta^2 \sum_\ell \langle V_\ell, M_\ell \rangle)} < 1 \), one factor
     * over all layers.
     */
    @Test
    void klClippingScalesEveryLayerByOneFactor() {
        double kappa = 0x1.0p-20;
        Kfac kfac = exact().optKlClip((float) kappa).build();
        try (KfacNet net = mlp(kfac, DataType.FLOAT64)) {
            Map<String, double[]> before = net.weights();
            Map<String, double[]> gradients =
                    net.step(KfacNet.batch(new Random(3), KfacNet.mlpInput(8)));
            Map<String, double[]> after = net.weights();
            Map<CapturedLayer, RealMatrix> directions = new HashMap<>();
            double sum = 0;
            for (CapturedLayer layer : kfac.instrumentation().layers()) {
                KroneckerFactors f = kfac.curvatureBlock(layer).factors();
                RealMatrix m = gradientMatrix(layer, gradients);
                RealMatrix v =
                        inverseDirection(
                                matrix(f.inputFactor()), matrix(f.outputFactor()), m, DAMPING);
                directions.put(layer, v);
                sum += dot(v, m);
            }
            double nu = Math.min(1, Math.sqrt(kappa / (LR * LR * sum)));
            assertTrue(nu < 0.5, "nu " + nu + " should clip");
            for (CapturedLayer layer : kfac.instrumentation().layers()) {
                assertMoved(layer, before, after, directions.get(layer).scalarMultiply(nu), LR);
            }
        }
    }

    /**
     * Three steps of a model with an uncovered LayerNorm, with momentum and weight decay, against
     * the full recurrence: covered \( u = V(M) + \omega W \) (decoupled) or \( u = V(M + \omega W)
     * \) (L2), uncovered \( u = g + \omega w \); then \( v \leftarrow \mu v + u \), \( w \leftarrow
     * w - \eta v \).
     */
    @ParameterizedTest
    @EnumSource(Kfac.WeightDecay.class)
    void momentumWeightDecayAndTheUncoveredRuleFollowTheRecurrence(Kfac.WeightDecay mode) {
        double mu = 0.5;
        double omega = 0x1.0p-6;
        Kfac kfac =
                exact().optMomentum((float) mu)
                        .optWeightDecays((float) omega)
                        .optWeightDecayMode(mode)
                        .build();
        Random random = new Random(4);
        try (KfacNet net =
                new KfacNet(
                        withLayerNorm(),
                        kfac::instrument,
                        kfac,
                        DataType.FLOAT64,
                        KfacNet.mlpInput(8))) {
            assertEquals(
                    List.of("02LayerNorm_gamma", "02LayerNorm_beta"),
                    kfac.instrumentation().coverage().uncoveredParameters());
            Map<String, double[]> w = net.weights();
            Map<String, double[]> velocity = new HashMap<>();
            for (int step = 0; step < 3; step++) {
                Map<String, double[]> gradients =
                        net.step(KfacNet.batch(random, KfacNet.mlpInput(8)));
                Map<String, double[]> u = new HashMap<>();
                for (CapturedLayer layer : kfac.instrumentation().layers()) {
                    KroneckerFactors f = kfac.curvatureBlock(layer).factors();
                    RealMatrix m = gradientMatrix(layer, gradients);
                    RealMatrix decay = gradientMatrix(layer, w).scalarMultiply(omega);
                    RealMatrix v =
                            mode == Kfac.WeightDecay.L2
                                    ? inverseDirection(
                                            matrix(f.inputFactor()),
                                            matrix(f.outputFactor()),
                                            m.add(decay),
                                            DAMPING)
                                    : inverseDirection(
                                                    matrix(f.inputFactor()),
                                                    matrix(f.outputFactor()),
                                                    m,
                                                    DAMPING)
                                            .add(decay);
                    split(layer, v, u);
                }
                for (String name : List.of("02LayerNorm_gamma", "02LayerNorm_beta")) {
                    double[] g = gradients.get(name).clone();
                    for (int i = 0; i < g.length; i++) {
                        g[i] += omega * w.get(name)[i];
                    }
                    u.put(name, g);
                }
                for (Map.Entry<String, double[]> e : u.entrySet()) {
                    double[] v = velocity.get(e.getKey());
                    double[] next = e.getValue().clone();
                    if (v != null) {
                        for (int i = 0; i < next.length; i++) {
                            next[i] += mu * v[i];
                        }
                    }
                    velocity.put(e.getKey(), next);
                    double[] weights = w.get(e.getKey());
                    for (int i = 0; i < weights.length; i++) {
                        weights[i] -= LR * next[i];
                    }
                }
                Map<String, double[]> actual = net.weights();
                for (String name : w.keySet()) {
                    double error = Dense.relativeError(actual.get(name), w.get(name));
                    assertTrue(
                            error < Tolerances.FLOAT64_RELATIVE,
                            "step " + step + " " + name + ": relative error " + error);
                }
            }
        }
    }

    /** Uncovered parameters under Adam move by \( \eta s \hat m / (\sqrt{\hat v} + \epsilon) \). */
    @Test
    void uncoveredParametersCanMoveByAdam() {
        float scale = 0.05f;
        Kfac kfac = exact().optUncoveredRule(FirstOrderRule.adam(scale)).build();
        Random random = new Random(5);
        try (KfacNet net =
                new KfacNet(
                        withLayerNorm(),
                        kfac::instrument,
                        kfac,
                        DataType.FLOAT64,
                        KfacNet.mlpInput(8))) {
            String name = "02LayerNorm_gamma";
            double[] w = net.weights().get(name);
            double[] m = new double[w.length];
            double[] v = new double[w.length];
            for (int t = 1; t <= 3; t++) {
                double[] g = net.step(KfacNet.batch(random, KfacNet.mlpInput(8))).get(name);
                for (int i = 0; i < w.length; i++) {
                    m[i] = 0.9 * m[i] + 0.1 * g[i];
                    v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                    double mHat = m[i] / (1 - Math.pow(0.9, t));
                    double vHat = v[i] / (1 - Math.pow(0.999, t));
                    w[i] -= LR * scale * mHat / (Math.sqrt(vHat) + 1e-8f);
                }
                double error = Dense.relativeError(net.weights().get(name), w);
                assertTrue(
                        error < Tolerances.FLOAT64_RELATIVE,
                        "step " + t + ": relative error " + error);
            }
        }
    }

    /**
     * For one example the Kronecker structure is exact: \( A \otimes G \) equals the example's
     * empirical Fisher block \( \mathrm{vec}(\nabla) \mathrm{vec}(\nabla)^\top \), here formed from
     * the gradient DJL's own backward pass computed for \( [W, b] \).
     */
    @Test
    void oneExampleFactorsAreItsFisherBlock() {
        Kfac kfac = exact().optLearningRate(0).build();
        try (KfacNet net =
                new KfacNet(
                        KfacNet.mlp(),
                        kfac::instrument,
                        kfac,
                        DataType.FLOAT64,
                        KfacNet.mlpInput(1))) {
            Map<String, double[]> gradients =
                    net.step(KfacNet.batch(new Random(6), KfacNet.mlpInput(1)));
            for (CapturedLayer layer : kfac.instrumentation().layers()) {
                KroneckerFactors f = kfac.curvatureBlock(layer).factors();
                RealMatrix kron = kron(matrix(f.inputFactor()), matrix(f.outputFactor()));
                ArrayRealVector vec = new ArrayRealVector(vec(gradientMatrix(layer, gradients)));
                RealMatrix fisher = vec.outerProduct(vec);
                double error = kron.subtract(fisher).getFrobeniusNorm() / fisher.getFrobeniusNorm();
                assertTrue(
                        error < Tolerances.FLOAT64_RELATIVE, layer + ": relative error " + error);
            }
        }
    }

    /**
     * A NaN in the data makes every gradient NaN: the step is skipped without trace (weights,
     * factors and momentum unchanged), and the run continues exactly as if the batch had never been
     * seen.
     */
    @Test
    void nonFiniteGradientStepIsSkippedWithoutTrace() {
        Kfac poisoned = exact().optMomentum(0.5f).optFactorUpdateFrequency(2).build();
        Kfac clean = exact().optMomentum(0.5f).optFactorUpdateFrequency(2).build();
        Random dataA = new Random(7);
        Random dataB = new Random(7);
        try (KfacNet a = mlp(poisoned, DataType.FLOAT32);
                KfacNet b = mlp(clean, DataType.FLOAT32)) {
            b.copyFrom(a);
            for (int step = 0; step < 6; step++) {
                double[][] batchA = KfacNet.batch(dataA, KfacNet.mlpInput(8));
                double[][] batchB = KfacNet.batch(dataB, KfacNet.mlpInput(8));
                if (step == 3) {
                    Map<String, double[]> before = a.weights();
                    KroneckerHealth health = poisoned.kroneckerHealth();
                    double[][] bad = {batchA[0].clone(), batchA[1]};
                    bad[0][5] = Double.NaN;
                    a.step(bad);
                    Map<String, double[]> after = a.weights();
                    for (String name : before.keySet()) {
                        assertArrayEquals(before.get(name), after.get(name), 0, name);
                    }
                    assertEquals(health, poisoned.kroneckerHealth());
                }
                a.step(batchA);
                b.step(batchB);
            }
            Map<String, double[]> wa = a.weights();
            Map<String, double[]> wb = b.weights();
            for (String name : wa.keySet()) {
                assertArrayEquals(wb.get(name), wa.get(name), 0, name);
            }
            assertEquals(1, poisoned.health().nonFiniteGradientSteps());
            assertEquals(7, poisoned.health().steps());
        }
    }

    /**
     * Finite gradients but an overflowing input statistic (float32, an input of 1e30 into a layer
     * whose weights are zero, so its gradient stays finite): non-finite statistics reject the whole
     * step (counted as rejected statistics, and against that layer), so every layer keeps its
     * running factors (3 updates, those of the first step) and no weight becomes NaN. That layer's
     * huge gradient would also overflow once preconditioned.
     */
    @Test
    void nonFiniteStatisticsKeepTheRunningFactors() {
        Kfac kfac = exact().optLearningRate(1e-3f).build();
        Random random = new Random(8);
        try (KfacNet net = mlp(kfac, DataType.FLOAT32)) {
            net.step(KfacNet.batch(random, KfacNet.mlpInput(8)));
            CapturedLayer first = kfac.instrumentation().layers().get(0);
            first.weight().getArray().muli(0);
            double[] factor = Dense.toDoubles(kfac.curvatureBlock(first).factors().inputFactor());
            double[][] batch = KfacNet.batch(random, KfacNet.mlpInput(8));
            batch[0][1] = 1e30;
            net.step(batch);
            assertArrayEquals(
                    factor, Dense.toDoubles(kfac.curvatureBlock(first).factors().inputFactor()), 0);
            KroneckerHealth health = kfac.kroneckerHealth();
            assertEquals(1, health.rejectedFactorUpdates());
            assertEquals(3, health.factorUpdates());
            assertEquals(1, kfac.health().skippedSteps());
            assertEquals(1, kfac.health().rejectedStatisticsSteps());
            assertEquals(
                    kfac.curvatureBlock(first).factors().health().toString(),
                    kfac.health().curvature().get("layer " + first.name()));
            assertEquals(1L, kfac.health().curvature().get("rejectedFactorUpdates"));
            for (double[] w : net.weights().values()) {
                for (double x : w) {
                    assertTrue(Double.isFinite(x));
                }
            }
        }
    }

    /**
     * Factor updates every 3 steps and inverse updates every 4: over 7 steps, each of the 3 layers
     * updates its factors at steps 0, 3, 6 and its inverse at 0, 4. The instrumentation records
     * before the factor steps only: steps 0 and 4 are refresh steps and step 3 a factor step, all
     * decided on the host, so the steps after them are known not to be factor steps (step 4 would
     * be one had step 3 been rejected).
     */
    @Test
    void factorsAndInversesFollowTheirFrequencies() {
        Kfac kfac = exact().optFactorUpdateFrequency(3).optInverseUpdateFrequency(4).build();
        Random random = new Random(9);
        try (KfacNet net = mlp(kfac, DataType.FLOAT32)) {
            for (int step = 0; step < 7; step++) {
                boolean armed = step % 3 == 0;
                assertEquals(armed, kfac.instrumentation().isArmed(), "step " + step);
                net.step(KfacNet.batch(random, KfacNet.mlpInput(8)));
            }
            KroneckerHealth health = kfac.kroneckerHealth();
            assertEquals(9, health.factorUpdates());
            assertEquals(6, health.refreshes());
        }
    }

    /**
     * Factors every 10 steps and inverses every 100, over 25 steps: the layers record, and the
     * statistics are computed, on the factor steps 0, 10 and 20 only, and the factor steps 10 and
     * 20 read once each (their decision, at their end; step 0 is the refresh step). The twin's
     * factor period is 1 at the counts 0, 10, 20 and 10 elsewhere: the same factor steps, but no
     * factor step but the refresh step 0 is decided on the host, so it also records on steps 11 and
     * 21 (in case the step before was rejected unseen) and computes their statistics, which the
     * device discards. Only that wasted work differs: weights after every step and the final
     * factors are bit for bit the twin's.
     */
    @Test
    void factorStepsAreDecidedSoTheNextStepGathersNoStatistics() {
        Kfac kfac = exact().optFactorUpdateFrequency(10).optInverseUpdateFrequency(100).build();
        Kfac twin =
                exact().optFactorUpdateFrequencyTracker(n -> n % 10 == 0 ? 1f : 10f)
                        .optInverseUpdateFrequency(100)
                        .build();
        Random dataA = new Random(12);
        Random dataB = new Random(12);
        try (KfacNet a = mlp(kfac, DataType.FLOAT32);
                KfacNet b = mlp(twin, DataType.FLOAT32)) {
            b.copyFrom(a);
            for (int step = 0; step < 25; step++) {
                boolean factorStep = step % 10 == 0;
                assertEquals(factorStep, kfac.instrumentation().isArmed(), "step " + step);
                assertEquals(
                        factorStep || step == 11 || step == 21,
                        twin.instrumentation().isArmed(),
                        "twin, step " + step);
                long before = HostReads.count();
                a.step(KfacNet.batch(dataA, KfacNet.mlpInput(8)));
                long reads = HostReads.count() - before;
                if (step == 10 || step == 20) {
                    assertEquals(1, reads, "reads of factor step " + step);
                } else if (step > 0) {
                    assertEquals(0, reads, "reads of step " + step);
                }
                before = HostReads.count();
                b.step(KfacNet.batch(dataB, KfacNet.mlpInput(8)));
                if (step > 0) {
                    assertEquals(0, HostReads.count() - before, "twin's reads of step " + step);
                }
                Map<String, double[]> wa = a.weights();
                Map<String, double[]> wb = b.weights();
                for (String name : wa.keySet()) {
                    assertArrayEquals(wb.get(name), wa.get(name), 0, name + ", step " + step);
                }
            }
            for (int i = 0; i < kfac.instrumentation().layers().size(); i++) {
                KroneckerFactors fa =
                        kfac.curvatureBlock(kfac.instrumentation().layers().get(i)).factors();
                KroneckerFactors fb =
                        twin.curvatureBlock(twin.instrumentation().layers().get(i)).factors();
                assertArrayEquals(
                        Dense.toDoubles(fb.inputFactor()), Dense.toDoubles(fa.inputFactor()), 0);
                assertArrayEquals(
                        Dense.toDoubles(fb.outputFactor()), Dense.toDoubles(fa.outputFactor()), 0);
            }
            KroneckerHealth health = kfac.kroneckerHealth();
            assertEquals(twin.kroneckerHealth(), health);
            // 3 layers, 3 factor steps each; one refresh each (step 0)
            assertEquals(9, health.factorUpdates());
            assertEquals(3, health.refreshes());
            assertEquals(0, kfac.health().skippedSteps());
        }
    }

    /**
     * Two same-seed runs of different model instances (whose parameter ids, hence DJL's update
     * order, differ) end bit for bit equal: sums across layers do not depend on that order.
     */
    @Test
    void runsDoNotDependOnDjlsParameterOrder() {
        Kfac first =
                Kfac.builder().optFactorUpdateFrequency(2).optInverseUpdateFrequency(3).build();
        Kfac second =
                Kfac.builder().optFactorUpdateFrequency(2).optInverseUpdateFrequency(3).build();
        Random dataA = new Random(10);
        Random dataB = new Random(10);
        try (KfacNet a = mlp(first, DataType.FLOAT32);
                KfacNet b = mlp(second, DataType.FLOAT32)) {
            b.copyFrom(a);
            for (int step = 0; step < 6; step++) {
                a.step(KfacNet.batch(dataA, KfacNet.mlpInput(8)));
                b.step(KfacNet.batch(dataB, KfacNet.mlpInput(8)));
            }
            Map<String, double[]> wa = a.weights();
            Map<String, double[]> wb = b.weights();
            for (String name : wa.keySet()) {
                assertArrayEquals(wa.get(name), wb.get(name), 0, name);
            }
        }
    }

    /**
     * 500 steps of the MLP (factor updates every 2 steps, inverses every 5, weight decay) and 100
     * of the CNN (factors every step, which exercises the im2col path 100 times), and 200 of the
     * MLP with LOW_RANK factors at k = 2 (40 randomized refreshes): the models' live-array counts
     * stay flat.
     */
    @Test
    void fiveHundredStepsLeaveTheLiveArrayCountFlat() {
        assertFlat(KfacNet.mlp(), KfacNet.mlpInput(8), 2, 500, b -> b);
        assertFlat(KfacNet.cnn(), KfacNet.cnnInput(8), 1, 100, b -> b);
        assertFlat(wide(), new Shape(4, 40), 2, 100, b -> b);
        assertFlat(
                KfacNet.mlp(),
                KfacNet.mlpInput(8),
                2,
                200,
                b -> b.optInversion(InversionMode.LOW_RANK).optFactorRank(2));
    }

    /**
     * A 40-30-3 tanh MLP: at a batch of 4 its first layer is preconditioned from its gradient's
     * rows (\( 2R(q^2 + p^2 + qp) \) = 30k against \( 2qp(q + p) \) = 175k flops), its second from
     * the gradient itself.
     */
    private static Block wide() {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(30).build())
                .add(Activation::tanh)
                .add(Linear.builder().setUnits(3).build());
    }

    /**
     * Preconditioning a wide layer from its gradient's rows, \( ((G + d_G I)^{-1} D^\top)([P, 1](A
     * + d_A I)^{-1}) \), is the dense \( (G + d_G I)^{-1} M (A + d_A I)^{-1} \) grouped otherwise:
     * twelve float64 steps (factors every 3, inverses every 2, momentum, KL clipping) move the
     * weights as a twin that takes the dense path (DJL's clipGrad at 1e30, which changes no
     * gradient, turns the rows off) does, to 1e-9 relative (the groupings differ by rounding, about
     * 1e-15 per step, amplified by the damped inverses' condition numbers of at most about 1e3).
     * Only the rows path's first layer records every step.
     */
    @Test
    void preconditioningFromRowsIsTheDensePathUpToRounding() {
        Shape shape = new Shape(4, 40);
        Kfac rows = wideKfac(0);
        Kfac dense = wideKfac(1e30f);
        Random random = new Random(41);
        try (KfacNet a = new KfacNet(wide(), rows::instrument, rows, DataType.FLOAT64, shape);
                KfacNet b =
                        new KfacNet(wide(), dense::instrument, dense, DataType.FLOAT64, shape)) {
            b.copyFrom(a);
            for (int step = 1; step <= 12; step++) {
                double[][] batch = KfacNet.batch(random, shape);
                a.step(batch);
                b.step(batch);
                List<CapturedLayer> fast = rows.instrumentation().layers();
                List<CapturedLayer> slow = dense.instrumentation().layers();
                assertTrue(fast.get(0).recordsEveryStep(), "first layer, step " + step);
                assertFalse(fast.get(1).recordsEveryStep(), "second layer, step " + step);
                assertFalse(slow.get(0).recordsEveryStep(), "dense twin, step " + step);
            }
            Map<String, double[]> expected = b.weights();
            boolean identical = true;
            for (Map.Entry<String, double[]> entry : a.weights().entrySet()) {
                double error = Dense.relativeError(entry.getValue(), expected.get(entry.getKey()));
                assertTrue(error < 1e-9, entry.getKey() + " relative error " + error);
                identical &=
                        java.util.Arrays.equals(entry.getValue(), expected.get(entry.getKey()));
            }
            // the same code path would give the same bits: the rows were used
            assertFalse(identical, "the rows path was not taken");
            assertEquals(0, rows.health().skippedSteps());
        }
    }

    private static Kfac wideKfac(float clipGrad) {
        Kfac.Builder builder =
                Kfac.builder()
                        .optFactorUpdateFrequency(3)
                        .optInverseUpdateFrequency(2)
                        .optDamping(0.1f)
                        .optMomentum(0.5f)
                        .optLearningRate(0.05f);
        if (clipGrad > 0) {
            builder.optClipGrad(clipGrad);
        }
        return builder.build();
    }

    private static void assertFlat(
            Block block,
            Shape shape,
            int factorFrequency,
            int steps,
            UnaryOperator<Kfac.Builder> variant) {
        Kfac kfac =
                variant.apply(
                                Kfac.builder()
                                        .optFactorUpdateFrequency(factorFrequency)
                                        .optInverseUpdateFrequency(5)
                                        .optWeightDecays(1e-4f)
                                        .optLearningRate(0.01f))
                        .build();
        Random random = new Random(11);
        try (KfacNet net = new KfacNet(block, kfac::instrument, kfac, DataType.FLOAT32, shape)) {
            NDManager root = net.model.getNDManager();
            for (int step = 0; step < 20; step++) {
                net.step(KfacNet.batch(random, shape));
            }
            int warm = LiveArrays.count(root);
            for (int step = 0; step < steps; step++) {
                net.step(KfacNet.batch(random, shape));
            }
            assertEquals(warm, LiveArrays.count(root));
            assertEquals(0, kfac.health().skippedSteps());
        }
    }

    @Test
    void invalidSettingsFailInBuildWithTheirValues() {
        assertMessage(
                "damping must be positive and finite, but was -1.0",
                () -> Kfac.builder().optDamping(-1).build());
        assertMessage(
                "damping must be positive and finite, but was Infinity",
                () -> Kfac.builder().optDamping(Float.POSITIVE_INFINITY).build());
        assertMessage(
                "factorUpdateFrequency must be at least 1, but was 0",
                () -> Kfac.builder().optFactorUpdateFrequency(0).build());
        assertMessage(
                "inverseUpdateFrequency must be at least 1, but was -3",
                () -> Kfac.builder().optInverseUpdateFrequency(-3).build());
        assertMessage(
                "klClip must be positive (Infinity disables clipping), but was 0.0",
                () -> Kfac.builder().optKlClip(0).build());
        assertMessage(
                "momentum must be in [0, 1), but was 1.0",
                () -> Kfac.builder().optMomentum(1).build());
        assertMessage(
                "factorDecay must be in [0, 1), but was 1.5",
                () -> Kfac.builder().optFactorDecay(1.5).build());
        assertMessage(
                "maxConsecutiveFailures must be at least 0, but was -1",
                () -> Kfac.builder().optMaxConsecutiveFailures(-1).build());
        assertMessage(
                "hostEigenLimit must be at least 1, but was 0",
                () -> Kfac.builder().optHostEigenLimit(0).build());
        assertMessage(
                "factorRank must be at least 1, but was 0",
                () -> Kfac.builder().optInversion(InversionMode.LOW_RANK).optFactorRank(0).build());
        assertMessage(
                "factorRank 16 applies to inversion LOW_RANK only, but inversion was EIGEN",
                () -> Kfac.builder().optInversion(InversionMode.EIGEN).optFactorRank(16).build());
        assertMessage(
                "learningRate must be finite and non-negative, but was NaN",
                () -> Kfac.builder().optLearningRate(Float.NaN).build());
        assertMessage(
                "SGD momentum must be in [0, 1), but was -0.5", () -> FirstOrderRule.sgd(-0.5f));
        assertMessage(
                "Adam learningRateScale must be positive and finite, but was 0.0",
                () -> FirstOrderRule.adam(0));
    }

    @Test
    void defaultsAreTheAnchorsOnes() {
        Kfac kfac = Kfac.builder().build();
        assertEquals(1e-3f, kfac.getDampingTracker().getNewValue(0));
        assertEquals(0.95, kfac.getKroneckerSettings().factorDecay());
        assertEquals(1e-3f, kfac.getKlClip());
        assertEquals(0.9f, kfac.getMomentum());
        assertEquals(10f, kfac.getFactorUpdateFrequencyTracker().getNewValue(0));
        assertEquals(100f, kfac.getInverseUpdateFrequencyTracker().getNewValue(0));
        assertEquals(InversionMode.INVERSE, kfac.getKroneckerSettings().inversion());
        assertEquals(Kfac.Fisher.EMPIRICAL, kfac.getFisher());
        assertEquals(Kfac.WeightDecay.DECOUPLED, kfac.getWeightDecayMode());
        assertEquals(FirstOrderRule.sgd(0.9f), kfac.getUncoveredRule());
        assertEquals(0.1f, kfac.getLearningRateTracker().getNewValue("any", 0));
        assertFalse(
                Kfac.builder()
                                .optDampingTracker(Tracker.fixed(2e-3f))
                                .build()
                                .getDampingTracker()
                                .getNewValue(0)
                        != 2e-3f);
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }

    private static Block withLayerNorm() {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(6).build())
                .add(LayerNorm.builder().build())
                .add(Activation::tanh)
                .add(Linear.builder().setUnits(3).build());
    }

    // ---- dense references ----

    private static RealMatrix matrix(NDArray array) {
        long rows = array.getShape().get(0);
        long columns = array.getShape().size() / rows;
        double[] flat = Dense.toDoubles(array);
        RealMatrix m = new Array2DRowRealMatrix((int) rows, (int) columns);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < columns; j++) {
                m.setEntry(i, j, flat[(int) (i * columns + j)]);
            }
        }
        return m;
    }

    /** [W, b] as a q x p matrix from values by parameter name. */
    private static RealMatrix gradientMatrix(CapturedLayer layer, Map<String, double[]> values) {
        double[] w = values.get(layer.name() + "_weight");
        double[] b = values.get(layer.name() + "_bias");
        int q = (int) layer.weight().getArray().getShape().get(0);
        int columns = w.length / q;
        RealMatrix m = new Array2DRowRealMatrix(q, columns + (b == null ? 0 : 1));
        for (int i = 0; i < q; i++) {
            for (int j = 0; j < columns; j++) {
                m.setEntry(i, j, w[i * columns + j]);
            }
            if (b != null) {
                m.setEntry(i, columns, b[i]);
            }
        }
        return m;
    }

    /** Splits a q x p direction back into the layer's weight and bias, by parameter name. */
    private static void split(CapturedLayer layer, RealMatrix v, Map<String, double[]> into) {
        int q = v.getRowDimension();
        boolean bias = layer.bias() != null;
        int columns = v.getColumnDimension() - (bias ? 1 : 0);
        double[] w = new double[q * columns];
        double[] b = new double[q];
        for (int i = 0; i < q; i++) {
            for (int j = 0; j < columns; j++) {
                w[i * columns + j] = v.getEntry(i, j);
            }
            if (bias) {
                b[i] = v.getEntry(i, columns);
            }
        }
        into.put(layer.name() + "_weight", w);
        if (bias) {
            into.put(layer.name() + "_bias", b);
        }
    }

    private static RealMatrix inverseDirection(
            RealMatrix a, RealMatrix g, RealMatrix m, double damping) {
        double pi =
                Math.sqrt(
                        (a.getTrace() / a.getRowDimension())
                                / (g.getTrace() / g.getRowDimension()));
        return shiftedInverse(g, Math.sqrt(damping) / pi)
                .multiply(m)
                .multiply(shiftedInverse(a, pi * Math.sqrt(damping)));
    }

    private static RealMatrix eigenDirection(
            RealMatrix a, RealMatrix g, RealMatrix m, double damping) {
        int size = a.getRowDimension() * g.getRowDimension();
        RealMatrix fisher =
                kron(a, g).add(MatrixUtils.createRealIdentityMatrix(size).scalarMultiply(damping));
        double[] solved =
                new LUDecomposition(fisher)
                        .getSolver()
                        .solve(new ArrayRealVector(vec(m)))
                        .toArray();
        RealMatrix v = new Array2DRowRealMatrix(m.getRowDimension(), m.getColumnDimension());
        for (int j = 0; j < m.getColumnDimension(); j++) {
            for (int i = 0; i < m.getRowDimension(); i++) {
                v.setEntry(i, j, solved[j * m.getRowDimension() + i]);
            }
        }
        return v;
    }

    private static RealMatrix shiftedInverse(RealMatrix m, double shift) {
        RealMatrix shifted =
                m.add(
                        MatrixUtils.createRealIdentityMatrix(m.getRowDimension())
                                .scalarMultiply(shift));
        return new LUDecomposition(shifted).getSolver().getInverse();
    }

    private static RealMatrix kron(RealMatrix a, RealMatrix b) {
        int br = b.getRowDimension();
        int bc = b.getColumnDimension();
        RealMatrix k =
                new Array2DRowRealMatrix(a.getRowDimension() * br, a.getColumnDimension() * bc);
        for (int i = 0; i < a.getRowDimension(); i++) {
            for (int j = 0; j < a.getColumnDimension(); j++) {
                k.setSubMatrix(b.scalarMultiply(a.getEntry(i, j)).getData(), i * br, j * bc);
            }
        }
        return k;
    }

    private static double[] vec(RealMatrix m) {
        int rows = m.getRowDimension();
        double[] v = new double[rows * m.getColumnDimension()];
        for (int j = 0; j < m.getColumnDimension(); j++) {
            for (int i = 0; i < rows; i++) {
                v[j * rows + i] = m.getEntry(i, j);
            }
        }
        return v;
    }

    private static double dot(RealMatrix a, RealMatrix b) {
        double sum = 0;
        for (int i = 0; i < a.getRowDimension(); i++) {
            for (int j = 0; j < a.getColumnDimension(); j++) {
                sum += a.getEntry(i, j) * b.getEntry(i, j);
            }
        }
        return sum;
    }

    /** Asserts that the layer's [W, b] moved by -lr v. */
    private static void assertMoved(
            CapturedLayer layer,
            Map<String, double[]> before,
            Map<String, double[]> after,
            RealMatrix v,
            double lr) {
        Map<String, double[]> expected = new HashMap<>();
        split(layer, v, expected);
        for (Map.Entry<String, double[]> e : expected.entrySet()) {
            double[] moved = before.get(e.getKey()).clone();
            double[] now = after.get(e.getKey());
            for (int i = 0; i < moved.length; i++) {
                moved[i] = (moved[i] - now[i]) / lr;
            }
            double error = Dense.relativeError(moved, e.getValue());
            assertTrue(
                    error < Tolerances.FLOAT64_RELATIVE, e.getKey() + ": relative error " + error);
        }
    }
}
