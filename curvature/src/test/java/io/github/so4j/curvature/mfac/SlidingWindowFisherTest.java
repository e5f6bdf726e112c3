package io.github.so4j.curvature.mfac;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
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

/**
 * {@link SlidingWindowFisher} against \( F^{-1} \) formed densely and inverted by LU in float64.
 *
 * <p>Gradients have entries N(0, 1/d), so their norms are about 1 and \( \kappa(F) \le 1 + \|G\|^2
 * / (m \lambda) \approx 1 + 1/\lambda \le 10^5 + 1 \): float64 results must agree to {@link
 * Tolerances#FLOAT64_RELATIVE}. In float32 the window and its dot products are rounded: each of the
 * two passes over the window contributes at most \( \gamma_d \) relative to the terms it sums, and
 * the Woodbury formula subtracts terms of size \( \|x\| / \lambda \), so the error is bounded by \(
 * 2 \gamma_d \|x\| / \lambda \) (the oracle sees the same float32-rounded inputs).
 */
class SlidingWindowFisherTest {

    private static final int D = 300;

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    static Stream<Arguments> cases() {
        return Stream.of(1, 5, 16)
                .flatMap(
                        m ->
                                Stream.of(1e-1, 1e-3, 1e-5)
                                        .flatMap(
                                                lambda ->
                                                        Stream.of(
                                                                Arguments.of(
                                                                        m,
                                                                        lambda,
                                                                        DataType.FLOAT64),
                                                                Arguments.of(
                                                                        m,
                                                                        lambda,
                                                                        DataType.FLOAT32))));
    }

    @ParameterizedTest(name = "m={0} lambda={1} {2}")
    @MethodSource("cases")
    void inverseTimesMatchesTheDenseInverse(int m, double lambda, DataType type) {
        Random random = new Random(17L * m + type.ordinal());
        double[][] g = Dense.gaussian(random, m, D, 1 / Math.sqrt(D));
        double[] x = Dense.gaussian(random, 1, D, 1)[0];
        if (type == DataType.FLOAT32) {
            g = Dense.roundToFloat(g);
            x = Dense.roundToFloat(x);
        }
        try (SlidingWindowFisher fisher = window(D, m, lambda, type)) {
            for (double[] row : g) {
                assertTrue(fisher.add(Dense.toArray(manager, row, type)));
            }
            double[] actual = Dense.toDoubles(fisher.inverseTimes(Dense.toArray(manager, x, type)));
            double[] expected = Dense.inverse(Dense.dampedFisher(g, 0, D, lambda)).operate(x);
            assertClose(actual, expected, x, lambda, type);
        }
    }

    /** Float64 only: F^{-1} g for g in the window cancels beyond what float32 can resolve. */
    static Stream<Arguments> float64Cases() {
        return cases().filter(a -> a.get()[2] == DataType.FLOAT64);
    }

    @ParameterizedTest(name = "m={0} lambda={1} {2}")
    @MethodSource("float64Cases")
    void addAndInverseTimesIsTheProductWithTheNewWindow(int m, double lambda, DataType type) {
        Random random = new Random(31L * m);
        double[][] g = Dense.gaussian(random, m, D, 1 / Math.sqrt(D));
        try (SlidingWindowFisher fisher = window(D, m, lambda, type)) {
            double[] last = null;
            for (double[] row : g) {
                last =
                        Dense.toDoubles(
                                fisher.addAndInverseTimes(Dense.toArray(manager, row, type)));
            }
            double[] expected =
                    Dense.inverse(Dense.dampedFisher(g, 0, D, lambda)).operate(g[m - 1]);
            assertTrue(
                    Dense.relativeError(last, expected) < Tolerances.FLOAT64_RELATIVE,
                    "relative error " + Dense.relativeError(last, expected));
        }
    }

    /**
     * A vector longer than a chunk is stored in several chunks, zero-padded when its length (here a
     * prime) has no suitable divisor; the result must not notice. Oracle: Woodbury evaluated on the
     * host in double precision, \( (x - G^\top (m\lambda I + G G^\top)^{-1} G x) / \lambda \), with
     * the m x m solve by LU (a d x d dense inverse would not fit). Its rounding error is about \(
     * \kappa \cdot 2^{-53} \) as above.
     */
    @Test
    void vectorsSpanningSeveralChunksMatchHostWoodbury() {
        int d = 32831; // prime, > 2 chunks
        assertTrue(d > 2 * ChunkedLayout.CHUNK);
        int m = 5;
        double lambda = 1e-3;
        Random random = new Random(77);
        double[][] g = Dense.gaussian(random, m + 2, d, 1 / Math.sqrt(d));
        double[] x = Dense.gaussian(random, 1, d, 1)[0];
        try (SlidingWindowFisher fisher = window(d, m, lambda, DataType.FLOAT64)) {
            for (double[] row : g) {
                fisher.add(Dense.toArray(manager, row, DataType.FLOAT64));
            }
            double[] actual =
                    Dense.toDoubles(
                            fisher.inverseTimes(Dense.toArray(manager, x, DataType.FLOAT64)));
            double[][] lastM = Arrays.copyOfRange(g, 2, m + 2);
            RealMatrix window = new Array2DRowRealMatrix(lastM, false);
            RealMatrix small =
                    window.multiply(window.transpose())
                            .add(
                                    MatrixUtils.createRealIdentityMatrix(m)
                                            .scalarMultiply(m * lambda));
            RealVector gx = window.operate(new ArrayRealVector(x));
            RealVector y = new LUDecomposition(small).getSolver().solve(gx);
            double[] expected =
                    new ArrayRealVector(x)
                            .subtract(window.transpose().operate(y))
                            .mapDivide(lambda)
                            .toArray();
            double error = Dense.relativeError(actual, expected);
            assertTrue(error < Tolerances.FLOAT64_RELATIVE, "relative error " + error);
        }
    }

    /**
     * The order of the segments must not change a single bit of the result: DJL hands parameters
     * over in an order that differs between runs, and same-seed runs must give identical numbers.
     * Segments: one long and three short ones of two equal lengths. In float64, so that the
     * per-chunk partial sums are rounded (float32 partials add exactly in float64).
     */
    @Test
    void resultDoesNotDependOnTheOrderOfTheSegments() {
        Shape[] shapes = {new Shape(9001), new Shape(7), new Shape(3, 40), new Shape(7)};
        int[] order = {2, 0, 3, 1};
        Shape[] permuted = new Shape[shapes.length];
        for (int i = 0; i < order.length; i++) {
            permuted[i] = shapes[order[i]];
        }
        Random random = new Random(13);
        try (SlidingWindowFisher a =
                        new SlidingWindowFisher(manager, shapes, 6, 1e-4, DataType.FLOAT64);
                SlidingWindowFisher b =
                        new SlidingWindowFisher(manager, permuted, 6, 1e-4, DataType.FLOAT64)) {
            NDList last = null;
            NDList lastPermuted = null;
            for (int step = 0; step < 9; step++) {
                NDList g = new NDList();
                for (Shape shape : shapes) {
                    g.add(manager.randomNormal(0, 0.05f, shape, DataType.FLOAT64));
                }
                NDList gp = new NDList();
                for (int i : order) {
                    gp.add(g.get(i));
                }
                last = a.addAndInverseTimes(g);
                lastPermuted = b.addAndInverseTimes(gp);
            }
            for (int i = 0; i < order.length; i++) {
                assertArrayEquals(
                        last.get(order[i]).toDoubleArray(),
                        lastPermuted.get(i).toDoubleArray(),
                        0.0);
            }
        }
    }

    @Test
    void emptyWindowIsScaledIdentity() {
        try (SlidingWindowFisher fisher = window(5, 3, 0.5, DataType.FLOAT32)) {
            NDArray x = manager.create(new float[] {1, -2, 3, 0, 5});
            assertArrayEquals(
                    new float[] {2, -4, 6, 0, 10}, fisher.inverseTimes(x).toFloatArray(), 1e-6f);
        }
    }

    @Test
    void afterThreeWindowsTheRingHoldsExactlyTheLastMGradients() {
        int m = 5;
        double lambda = 1e-3;
        Random random = new Random(5);
        double[][] g = Dense.gaussian(random, 3 * m + 2, D, 1 / Math.sqrt(D));
        double[] x = Dense.gaussian(random, 1, D, 1)[0];
        try (SlidingWindowFisher ring = window(D, m, lambda, DataType.FLOAT64);
                SlidingWindowFisher fresh = window(D, m, lambda, DataType.FLOAT64)) {
            for (double[] row : g) {
                ring.add(Dense.toArray(manager, row, DataType.FLOAT64));
            }
            double[][] lastM = Arrays.copyOfRange(g, g.length - m, g.length);
            for (double[] row : lastM) {
                fresh.add(Dense.toArray(manager, row, DataType.FLOAT64));
            }
            NDArray xs = Dense.toArray(manager, x, DataType.FLOAT64);
            double[] fromRing = Dense.toDoubles(ring.inverseTimes(xs));
            double[] fromFresh = Dense.toDoubles(fresh.inverseTimes(xs));
            double[] expected = Dense.inverse(Dense.dampedFisher(lastM, 0, D, lambda)).operate(x);
            assertTrue(Dense.relativeError(fromRing, expected) < Tolerances.FLOAT64_RELATIVE);
            assertTrue(Dense.relativeError(fromRing, fromFresh) < Tolerances.FLOAT64_RELATIVE);
            assertEquals(m, ring.getFilled());
        }
    }

    @Test
    void segmentedWindowEqualsTheFlatWindowOverTheConcatenation() {
        int m = 4;
        double lambda = 1e-2;
        Random random = new Random(9);
        double[][] g = Dense.gaussian(random, m, 30, 0.2);
        double[] x = Dense.gaussian(random, 1, 30, 1)[0];
        Shape[] shapes = {new Shape(2, 5), new Shape(20)};
        try (SlidingWindowFisher flat = window(30, m, lambda, DataType.FLOAT64);
                SlidingWindowFisher split =
                        new SlidingWindowFisher(manager, shapes, m, lambda, DataType.FLOAT64)) {
            for (double[] row : g) {
                NDArray whole = Dense.toArray(manager, row, DataType.FLOAT64);
                flat.add(whole);
                split.add(segments(whole));
            }
            NDArray xs = Dense.toArray(manager, x, DataType.FLOAT64);
            NDList parts = split.inverseTimes(segments(xs));
            assertEquals(new Shape(2, 5), parts.get(0).getShape());
            double[] joined = Dense.toDoubles(parts.get(0).reshape(-1).concat(parts.get(1)));
            double[] expected = Dense.toDoubles(flat.inverseTimes(xs));
            assertTrue(Dense.relativeError(joined, expected) < 1e-13);
        }
    }

    @Test
    void nonFiniteGradientIsRejectedAndChangesNothing() {
        Random random = new Random(2);
        double[][] g = Dense.gaussian(random, 3, 20, 0.3);
        double[] x = Dense.gaussian(random, 1, 20, 1)[0];
        try (SlidingWindowFisher fisher = window(20, 4, 1e-3, DataType.FLOAT32)) {
            for (double[] row : g) {
                fisher.add(Dense.toArray(manager, row, DataType.FLOAT32));
            }
            NDArray xs = Dense.toArray(manager, x, DataType.FLOAT32);
            float[] before = fisher.inverseTimes(xs).toFloatArray();
            NDArray bad = Dense.toArray(manager, g[0], DataType.FLOAT32);
            bad.set(new NDIndex(7), Float.NaN);
            assertNull(fisher.addAndInverseTimes(bad));
            bad.set(new NDIndex(7), Float.POSITIVE_INFINITY);
            assertFalse(fisher.add(bad));
            NDArray huge = Dense.toArray(manager, g[1], DataType.FLOAT32).mul(1e30f);
            assertFalse(fisher.add(huge), "|g|^2 overflows float32");
            assertArrayEquals(before, fisher.inverseTimes(xs).toFloatArray());
            assertEquals(3, fisher.getFilled());
        }
    }

    @Test
    void invalidSettingsAndInputsAreRejectedWithTheirValues() {
        assertMessage(
                "windowSize must be at least 1, but was 0",
                () -> window(4, 0, 1, DataType.FLOAT32));
        assertMessage(
                "damping must be positive and finite, but was 0.0",
                () -> window(4, 2, 0, DataType.FLOAT32));
        assertMessage(
                "damping must be positive and finite, but was NaN",
                () -> window(4, 2, Double.NaN, DataType.FLOAT32));
        assertMessage(
                "dataType must be float32 or float64, but was int32",
                () -> window(4, 2, 1, DataType.INT32));
        try (SlidingWindowFisher fisher = window(4, 2, 1, DataType.FLOAT32)) {
            assertMessage(
                    "gradient must have 4 elements, but had shape (5)",
                    () -> fisher.add(manager.zeros(new Shape(5))));
            assertMessage(
                    "x must be float32, but was float64",
                    () -> fisher.inverseTimes(manager.zeros(new Shape(4), DataType.FLOAT64)));
        }
    }

    @Test
    void manyStepsLeaveNoArraysBehind() {
        try (SlidingWindowFisher fisher = window(50, 8, 1e-3, DataType.FLOAT32);
                NDManager inputs = manager.newSubManager()) {
            NDArray g = inputs.randomNormal(new Shape(50));
            fisher.addAndInverseTimes(g).close();
            fisher.inverseTimes(g).close();
            int before = LiveArrays.count(manager);
            for (int i = 0; i < 200; i++) {
                fisher.addAndInverseTimes(g).close();
                fisher.inverseTimes(g).close();
                fisher.add(g);
            }
            fisher.setDamping(1e-2);
            assertEquals(before, LiveArrays.count(manager));
        }
    }

    private NDList segments(NDArray whole) {
        return new NDList(
                whole.get(new NDIndex("0:10")).reshape(2, 5), whole.get(new NDIndex("10:")));
    }

    private SlidingWindowFisher window(long d, int m, double lambda, DataType type) {
        return new SlidingWindowFisher(manager, new Shape[] {new Shape(d)}, m, lambda, type);
    }

    private static void assertClose(
            double[] actual, double[] expected, double[] x, double lambda, DataType type) {
        if (type == DataType.FLOAT64) {
            double error = Dense.relativeError(actual, expected);
            assertTrue(error < Tolerances.FLOAT64_RELATIVE, "relative error " + error);
        } else {
            double diff = 0;
            double norm = 0;
            for (int i = 0; i < actual.length; i++) {
                diff += (actual[i] - expected[i]) * (actual[i] - expected[i]);
                norm += x[i] * x[i];
            }
            double scaled = Math.sqrt(diff / norm) * lambda;
            double bound = 2 * Tolerances.float32DotProduct(actual.length);
            assertTrue(scaled < bound, "error / (|x|/lambda) = " + scaled + " > " + bound);
        }
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
