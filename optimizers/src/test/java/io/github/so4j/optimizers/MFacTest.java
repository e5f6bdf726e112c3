package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;
import org.junit.jupiter.api.Test;

class MFacTest {

    /**
     * GLOBAL M-FAC on the tiny tanh net, float64, against a plain-Java reference that keeps the
     * last m gradients, forms \( F = \lambda I + \frac{1}{m} \sum g g^\top \) densely (39 x 39) and
     * solves it by LU, with momentum and weight decay, for 20 steps from the same initial weights
     * and batches. Tolerance: the two computations differ in rounding only (Woodbury with an m x m
     * inverse against a dense solve, PyTorch's tanh against Java's), each about \( \kappa(F) \cdot
     * 2^{-53} \) with \( \kappa(F) \le 1 + \|G\|^2 / (m\lambda) \approx 10^3 \) here, propagated
     * through 20 contracting steps: 1e-9 relative leaves a margin of several digits.
     */
    @Test
    void globalScopeReproducesTheDenseReferenceForTwentySteps() {
        int m = 5;
        double lambda = 1e-2;
        float lr = 0.02f;
        float momentum = 0.9f;
        float decay = 1e-3f;
        MFac mfac =
                MFac.builder()
                        .optWindowSize(m)
                        .optDamping(lambda)
                        .optLearningRate(lr)
                        .optMomentum(momentum)
                        .optDampening(momentum)
                        .optWeightDecays(decay)
                        .build();
        Random data = new Random(11);
        try (TinyTanhNet net = new TinyTanhNet(mfac, DataType.FLOAT64)) {
            double[] w = net.weights();
            double[] v = new double[w.length];
            Deque<double[]> window = new ArrayDeque<>();
            for (int step = 1; step <= 20; step++) {
                double[][][] batch = TinyTanhNet.batch(data);
                // reference
                double[] g = TinyTanhNet.gradient(w, batch[0], batch[1]);
                for (int i = 0; i < g.length; i++) {
                    g[i] += decay * w[i];
                }
                window.addLast(g);
                if (window.size() > m) {
                    window.removeFirst();
                }
                double[] d = solveDampedFisher(window, m, lambda, g);
                for (int i = 0; i < w.length; i++) {
                    v[i] = momentum * v[i] + (1 - momentum) * d[i];
                    w[i] -= (double) lr * v[i];
                }
                // DJL
                net.step(batch[0], batch[1]);
                double error = Dense.relativeError(net.weights(), w);
                assertTrue(error < 1e-9, "step " + step + ": relative error " + error);
            }
            assertEquals(20, mfac.health().steps());
            assertEquals(0, mfac.health().skippedSteps());
        }
    }

    /**
     * PER_PARAMETER M-FAC against the same reference with one dense window per parameter tensor
     * (W1, b1, W2, b2): a block-diagonal Fisher. Same tolerance argument as above.
     */
    @Test
    void perParameterScopeReproducesTheBlockDiagonalReference() {
        int m = 3;
        double lambda = 1e-2;
        float lr = 0.01f;
        MFac mfac =
                MFac.builder()
                        .optWindowSize(m)
                        .optDamping(lambda)
                        .optLearningRate(lr)
                        .optScope(MFac.Scope.PER_PARAMETER)
                        .build();
        int[] bounds = {
            0,
            TinyTanhNet.HIDDEN * TinyTanhNet.IN,
            TinyTanhNet.HIDDEN * TinyTanhNet.IN + TinyTanhNet.HIDDEN,
            TinyTanhNet.SIZE - TinyTanhNet.OUT,
            TinyTanhNet.SIZE
        };
        Random data = new Random(12);
        try (TinyTanhNet net = new TinyTanhNet(mfac, DataType.FLOAT64)) {
            double[] w = net.weights();
            List<Deque<double[]>> windows = new ArrayList<>();
            for (int b = 0; b < 4; b++) {
                windows.add(new ArrayDeque<>());
            }
            for (int step = 1; step <= 10; step++) {
                double[][][] batch = TinyTanhNet.batch(data);
                double[] g = TinyTanhNet.gradient(w, batch[0], batch[1]);
                for (int b = 0; b < 4; b++) {
                    double[] part = Arrays.copyOfRange(g, bounds[b], bounds[b + 1]);
                    windows.get(b).addLast(part);
                    if (windows.get(b).size() > m) {
                        windows.get(b).removeFirst();
                    }
                    double[] d = solveDampedFisher(windows.get(b), m, lambda, part);
                    for (int i = 0; i < d.length; i++) {
                        w[bounds[b] + i] -= (double) lr * d[i];
                    }
                }
                net.step(batch[0], batch[1]);
                double error = Dense.relativeError(net.weights(), w);
                assertTrue(error < 1e-9, "step " + step + ": relative error " + error);
            }
        }
    }

    /**
     * A step whose gradient is NaN (a NaN target) must leave every weight bit-identical, must not
     * enter the window or the momentum, and the run must then continue exactly as if that batch had
     * never been seen.
     */
    @Test
    void nonFiniteGradientStepIsSkippedWithoutTrace() {
        Random dataA = new Random(21);
        Random dataB = new Random(21);
        MFac withBadStep =
                MFac.builder()
                        .optWindowSize(4)
                        .optDamping(1e-2)
                        .optMomentum(0.5f)
                        .optLearningRate(0.01f)
                        .build();
        MFac clean =
                MFac.builder()
                        .optWindowSize(4)
                        .optDamping(1e-2)
                        .optMomentum(0.5f)
                        .optLearningRate(0.01f)
                        .build();
        try (TinyTanhNet a = new TinyTanhNet(withBadStep, DataType.FLOAT32);
                TinyTanhNet b = new TinyTanhNet(clean, DataType.FLOAT32)) {
            copyWeights(a, b);
            for (int step = 0; step < 6; step++) {
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
            assertEquals(7, withBadStep.health().steps());
        }
    }

    /** The window, momentum and per-step scopes must not grow the number of live arrays. */
    @Test
    void fiveHundredStepsLeaveTheLiveArrayCountFlat() {
        MFac mfac =
                MFac.builder()
                        .optWindowSize(8)
                        .optDamping(1e-3)
                        .optMomentum(0.9f)
                        .optLearningRate(0.01f)
                        .build();
        Random data = new Random(5);
        try (TinyTanhNet net = new TinyTanhNet(mfac, DataType.FLOAT32)) {
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
        }
    }

    /** Dense \( (\lambda I + \frac{1}{m} \sum_{g \in window} g g^\top)^{-1} x \) by LU. */
    private static double[] solveDampedFisher(
            Deque<double[]> window, int m, double lambda, double[] x) {
        int d = x.length;
        RealMatrix f = new Array2DRowRealMatrix(d, d);
        for (int i = 0; i < d; i++) {
            f.setEntry(i, i, lambda);
        }
        for (double[] g : window) {
            RealVector gv = new ArrayRealVector(g);
            f = f.add(gv.outerProduct(gv).scalarMultiply(1.0 / m));
        }
        return new LUDecomposition(f).getSolver().solve(new ArrayRealVector(x)).toArray();
    }

    /**
     * With a huge damping, \( F^{-1} g \to g / \lambda \): M-FAC with learning rate \( \eta \lambda
     * \) is plain SGD with learning rate \( \eta \). The remaining difference is \( \|G\|^2 / (m
     * \lambda) \approx 10^{-8} \) relative per step for \( \lambda = 10^{8} \).
     */
    @Test
    void hugeDampingIsScaledSgd() {
        double lambda = 1e8;
        float lr = 0.05f;
        MFac mfac =
                MFac.builder()
                        .optWindowSize(4)
                        .optDamping(lambda)
                        .optLearningRate((float) (lr * lambda))
                        .build();
        Optimizer sgd = Optimizer.sgd().setLearningRateTracker(Tracker.fixed(lr)).build();
        Random dataA = new Random(4);
        Random dataB = new Random(4);
        try (TinyTanhNet a = new TinyTanhNet(mfac, DataType.FLOAT64);
                TinyTanhNet b = new TinyTanhNet(sgd, DataType.FLOAT64)) {
            copyWeights(a, b);
            for (int step = 0; step < 10; step++) {
                double[][][] batchA = TinyTanhNet.batch(dataA);
                double[][][] batchB = TinyTanhNet.batch(dataB);
                a.step(batchA[0], batchA[1]);
                b.step(batchB[0], batchB[1]);
            }
            assertTrue(Dense.relativeError(a.weights(), b.weights()) < 1e-6);
        }
    }

    private static void copyWeights(TinyTanhNet from, TinyTanhNet to) {
        var source = from.model.getBlock().getParameters().values();
        var target = to.model.getBlock().getParameters().values();
        for (int i = 0; i < source.size(); i++) {
            source.get(i).getArray().copyTo(target.get(i).getArray());
        }
    }

    @Test
    void gradientsDoNotAccumulateAcrossSteps() {
        // With lr 0 the weights never move, so every step sees the same gradient; if the
        // optimizer failed to clear it, the engine would hand it back doubled, then tripled.
        MFac mfac = MFac.builder().optWindowSize(3).optDamping(1e-2).optLearningRate(0).build();
        Random data = new Random(8);
        double[][][] batch = TinyTanhNet.batch(data);
        try (TinyTanhNet net = new TinyTanhNet(mfac, DataType.FLOAT64)) {
            double[] expected = TinyTanhNet.gradient(net.weights(), batch[0], batch[1]);
            for (int step = 0; step < 3; step++) {
                net.step(batch[0], batch[1]);
            }
            // one more forward/backward without a step: the gradient must be a single one
            double[] seen = net.gradientAfterBackward(batch[0], batch[1]);
            assertTrue(Dense.relativeError(seen, expected) < 1e-12);
        }
    }

    @Test
    void invalidSettingsFailInBuildWithTheirValues() {
        assertMessage(
                "windowSize must be at least 1, but was 0",
                () -> MFac.builder().optWindowSize(0).build());
        assertMessage(
                "damping must be positive and finite, but was 0.0",
                () -> MFac.builder().optDamping(0).build());
        assertMessage(
                "damping must be positive and finite, but was Infinity",
                () -> MFac.builder().optDamping(Double.POSITIVE_INFINITY).build());
        assertMessage(
                "momentum must be in [0, 1), but was 1.0",
                () -> MFac.builder().optMomentum(1).build());
        assertMessage(
                "learningRate must be finite and non-negative, but was -0.1",
                () -> MFac.builder().optLearningRate(-0.1f).build());
    }

    @Test
    void defaultsAreTheReferenceOnes() {
        MFac mfac = MFac.builder().build();
        assertEquals(1024, mfac.getWindowSize());
        assertEquals(1e-5, mfac.getDamping());
        assertEquals(0f, mfac.getMomentum());
        assertEquals(MFac.Scope.GLOBAL, mfac.getScope());
        assertEquals(1e-3f, mfac.getLearningRateTracker().getNewValue("any", 0));
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
