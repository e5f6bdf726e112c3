package io.github.so4j.optimizers.transform;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Each transform against a plain-Java float64 twin of its formula, over several steps with random
 * directions and gradients (float64 arrays, so the tolerance 1e-12 covers only the different order
 * of operations).
 */
class TransformTest {

    private static final int N = 5;
    private static final int STEPS = 6;
    private static final double TOLERANCE = 1e-12;

    /** One run of a transform over STEPS steps; returns the directions, step by step. */
    private static double[][] run(
            Transform t, double[][] directions, double[][] gradients, double[] w) {
        double[][] out = new double[STEPS][];
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray weight = m.create(w);
            NDList state = t.init(weight);
            for (int s = 0; s < STEPS; s++) {
                Transform.Result r =
                        t.apply(
                                m.create(directions[s]),
                                state,
                                new Transform.Context(
                                        m.create(gradients[s]), weight, m.create((float) (s + 1))));
                out[s] = r.direction().toDoubleArray();
                state = r.state();
            }
        }
        return out;
    }

    /**
     * A step's bias corrections are computed once per beta and equal 1 - beta^t in float64 (the
     * reference is Java's float64 pow of the float beta; 1e-15 relative covers exp and log's
     * rounding at t = 7); a cache of another index is refused.
     */
    @Test
    void biasCorrectionsAreSharedWithinAStep() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray index = m.create(7.0);
            BiasCorrection.Cache cache = new BiasCorrection.Cache(index);
            Transform.Context a = new Transform.Context(index, index, index, cache);
            Transform.Context b = new Transform.Context(index, index, index, cache);
            NDArray first = a.biasCorrection(0.999f);
            assertSame(first, b.biasCorrection(0.999f));
            for (float beta : new float[] {0.9f, 0.999f}) {
                double expected = 1 - Math.pow(beta, 7);
                assertEquals(expected, a.biasCorrection(beta).toDoubleArray()[0], 1e-15 * expected);
            }
            assertEquals(1.0, a.biasCorrection(0f).toDoubleArray()[0]);
            assertThrows(
                    IllegalArgumentException.class,
                    () -> new Transform.Context(index, index, m.create(7.0), cache));
        }
    }

    private static double[][] random(long seed) {
        Random random = new Random(seed);
        double[][] x = new double[STEPS][N];
        for (double[] row : x) {
            for (int i = 0; i < N; i++) {
                row[i] = random.nextGaussian();
            }
        }
        return x;
    }

    @Test
    void momentumHeavyBallNesterovAndDampening() {
        double[][] d = random(1);
        double[] w = random(2)[0];
        for (boolean nesterov : new boolean[] {false, true}) {
            for (float dampening : new float[] {0f, 0.9f}) {
                float mu = 0.9f;
                double[][] actual = run(Momentum.of(mu, dampening, nesterov), d, d, w);
                double[] v = new double[N];
                for (int s = 0; s < STEPS; s++) {
                    double[] expected = new double[N];
                    for (int i = 0; i < N; i++) {
                        v[i] = mu * v[i] + (1 - (double) dampening) * d[s][i];
                        expected[i] = nesterov ? d[s][i] + mu * v[i] : v[i];
                    }
                    assertArrayEquals(expected, actual[s], TOLERANCE, "step " + s);
                }
            }
        }
    }

    @Test
    void weightDecayAddsTheScaledWeight() {
        double[][] d = random(3);
        double[] w = random(4)[0];
        double[][] actual = run(WeightDecay.decoupled(0.1f), d, d, w);
        for (int s = 0; s < STEPS; s++) {
            double[] expected = new double[N];
            for (int i = 0; i < N; i++) {
                expected[i] = d[s][i] + (double) 0.1f * w[i];
            }
            assertArrayEquals(expected, actual[s], TOLERANCE);
        }
    }

    @Test
    void adamMatchesItsFormula() {
        double[][] g = random(5);
        double[] w = random(6)[0];
        float b1 = 0.9f;
        float b2 = 0.999f;
        float eps = 1e-8f;
        double[][] actual = run(SecondMoment.adamChain(b1, b2, eps), g, g, w);
        double[] m = new double[N];
        double[] v = new double[N];
        for (int s = 0; s < STEPS; s++) {
            int t = s + 1;
            double[] expected = new double[N];
            for (int i = 0; i < N; i++) {
                m[i] = b1 * m[i] + (1 - (double) b1) * g[s][i];
                v[i] = b2 * v[i] + (1 - (double) b2) * g[s][i] * g[s][i];
                double mHat = m[i] / (1 - Math.pow(b1, t));
                double vHat = v[i] / (1 - Math.pow(b2, t));
                expected[i] = mHat / (Math.sqrt(vHat) + eps);
            }
            assertArrayEquals(expected, actual[s], TOLERANCE, "step " + s);
        }
    }

    @Test
    void adagradScalesTheDirectionByTheRawGradientsSquares() {
        double[][] d = random(7);
        double[][] g = random(8);
        double[] w = random(9)[0];
        double[][] actual = run(SecondMoment.adagrad(1e-3f), d, g, w);
        double[] v = new double[N];
        for (int s = 0; s < STEPS; s++) {
            double[] expected = new double[N];
            for (int i = 0; i < N; i++) {
                v[i] += g[s][i] * g[s][i];
                expected[i] = d[s][i] / (Math.sqrt(v[i]) + (double) 1e-3f);
            }
            assertArrayEquals(expected, actual[s], TOLERANCE, "step " + s);
        }
    }

    @Test
    void chainsApplyInOrderAndNameTheirState() {
        Chain chain = Chain.of(Momentum.heavyBall(0.5f), WeightDecay.decoupled(0.1f));
        assertEquals(List.of("momentum/velocity"), chain.stateNames());
        double[][] d = random(10);
        double[] w = random(11)[0];
        double[][] actual = run(chain, d, d, w);
        double[] v = new double[N];
        for (int s = 0; s < STEPS; s++) {
            double[] expected = new double[N];
            for (int i = 0; i < N; i++) {
                v[i] = 0.5 * v[i] + d[s][i];
                expected[i] = v[i] + (double) 0.1f * w[i];
            }
            assertArrayEquals(expected, actual[s], TOLERANCE);
        }
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> Chain.of(Momentum.heavyBall(0.5f), Momentum.nesterov(0.5f)));
        assertEquals("two transforms of the chain are named 'momentum'", e.getMessage());
    }

    @Test
    void badSettingsNameTheSettingAndValue() {
        assertEquals(
                "momentum must be in [0, 1), but was 1.0",
                assertThrows(IllegalArgumentException.class, () -> Momentum.heavyBall(1f))
                        .getMessage());
        assertEquals(
                "beta2 must be in [0, 1), but was -0.5",
                assertThrows(IllegalArgumentException.class, () -> SecondMoment.adam(-0.5f, 0f))
                        .getMessage());
        assertEquals(
                "weightDecay must be finite and non-negative, but was NaN",
                assertThrows(IllegalArgumentException.class, () -> WeightDecay.l2(Float.NaN))
                        .getMessage());
    }

    /** The dtype follows the direction's: float32 in, float32 out. */
    @Test
    void keepsTheDirectionsDtype() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray w = m.ones(new ai.djl.ndarray.types.Shape(3));
            Transform t = SecondMoment.adamChain(0.9f, 0.99f, 1e-8f);
            Transform.Result r = t.apply(w, t.init(w), new Transform.Context(w, w, m.create(1f)));
            assertEquals(DataType.FLOAT32, r.direction().getDataType());
        }
    }
}
