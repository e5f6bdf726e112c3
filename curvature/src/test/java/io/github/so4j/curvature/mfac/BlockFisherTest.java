package io.github.so4j.curvature.mfac;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link BlockFisher} against the block-diagonal \( F^{-1} \) formed block by block and inverted by
 * LU in float64. Tolerances as in {@link SlidingWindowFisherTest}: float64 relative to the result;
 * float32 relative to \( 1 / \lambda \) times the size of the input, the scale of the terms
 * Woodbury subtracts, with \( 2 \gamma_n \) for dot products of length \( n = \max(B, m) \) and a
 * factor 4 for the two roundings of the stored factor.
 */
class BlockFisherTest {

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

    /** Block sizes cover both representations (B &gt; m: dual; B &le; m: primal) and a tail. */
    static Stream<Arguments> cases() {
        return Stream.of(64, 7, 300)
                .flatMap(
                        b ->
                                Stream.of(1, 5, 16)
                                        .flatMap(
                                                m ->
                                                        Stream.of(1e-1, 1e-3, 1e-5)
                                                                .flatMap(
                                                                        lambda ->
                                                                                Stream.of(
                                                                                                DataType
                                                                                                        .FLOAT64,
                                                                                                DataType
                                                                                                        .FLOAT32)
                                                                                        .map(
                                                                                                t ->
                                                                                                        Arguments
                                                                                                                .of(
                                                                                                                        b,
                                                                                                                        m,
                                                                                                                        lambda,
                                                                                                                        t)))));
    }

    @ParameterizedTest(name = "B={0} m={1} lambda={2} {3}")
    @MethodSource("cases")
    void productsEntriesAndDiagonalMatchTheDenseBlockInverse(
            int blockSize, int m, double lambda, DataType type) {
        Random random = new Random(1000L * blockSize + 10L * m + type.ordinal());
        double[][] g = Dense.gaussian(random, m, D, 1 / Math.sqrt(D));
        double[] x = Dense.gaussian(random, 1, D, 1)[0];
        if (type == DataType.FLOAT32) {
            g = Dense.roundToFloat(g);
            x = Dense.roundToFloat(x);
        }
        RealMatrix inverse = blockInverse(g, blockSize, lambda);
        try (BlockFisher fisher =
                new BlockFisher(manager, Dense.toArray(manager, g, type), blockSize, lambda)) {
            double tolerance = tolerance(type, Math.max(blockSize, m));
            double scale = type == DataType.FLOAT64 ? 0 : 1 / lambda;

            double[] product =
                    Dense.toDoubles(fisher.inverseTimes(Dense.toArray(manager, x, type)));
            double[] expected = inverse.operate(x);
            assertBelow(error(product, expected, scale * norm(x)), tolerance, "product");

            double[] diagonal = Dense.toDoubles(fisher.inverseDiagonal(manager));
            double[] expectedDiagonal = new double[D];
            for (int i = 0; i < D; i++) {
                expectedDiagonal[i] = inverse.getEntry(i, i);
            }
            assertBelow(
                    error(diagonal, expectedDiagonal, scale * Math.sqrt(D)), tolerance, "diagonal");

            int[][] pairs = {{0, 0}, {3, 5}, {5, 3}, {D - 1, D - 1}, {D - 2, D - 1}, {10, 250}};
            for (int[] pair : pairs) {
                double entry = fisher.inverseEntry(pair[0], pair[1]);
                double exact = inverse.getEntry(pair[0], pair[1]);
                double reference = type == DataType.FLOAT64 ? Math.abs(exact) : scale;
                assertTrue(
                        Math.abs(entry - exact) <= tolerance * reference,
                        "entry " + pair[0] + "," + pair[1] + ": " + entry + " vs " + exact);
            }
        }
    }

    @Test
    void oneBlockOfSizeDIsTheFullStaticAlgorithmAndMatchesTheWindow() {
        int m = 8;
        double lambda = 1e-4;
        Random random = new Random(3);
        double[][] g = Dense.gaussian(random, m, D, 1 / Math.sqrt(D));
        double[] x = Dense.gaussian(random, 1, D, 1)[0];
        NDArray xs = Dense.toArray(manager, x, DataType.FLOAT64);
        try (BlockFisher full =
                        new BlockFisher(
                                manager, Dense.toArray(manager, g, DataType.FLOAT64), D, lambda);
                SlidingWindowFisher window =
                        new SlidingWindowFisher(
                                manager, new Shape[] {new Shape(D)}, m, lambda, DataType.FLOAT64)) {
            for (double[] row : g) {
                window.add(Dense.toArray(manager, row, DataType.FLOAT64));
            }
            double[] fromBlocks = Dense.toDoubles(full.inverseTimes(xs));
            double[] fromWindow = Dense.toDoubles(window.inverseTimes(xs));
            double[] expected = Dense.inverse(Dense.dampedFisher(g, 0, D, lambda)).operate(x);
            assertBelow(error(fromBlocks, expected, 0), Tolerances.FLOAT64_RELATIVE, "full");
            assertBelow(error(fromBlocks, fromWindow, 0), Tolerances.FLOAT64_RELATIVE, "window");
            assertEquals(D, full.getBlockSize());
        }
    }

    @Test
    void invalidSettingsAreRejectedWithTheirValues() {
        NDArray g = manager.zeros(new Shape(2, 10));
        assertMessage(
                "blockSize must be at least 1, but was 0", () -> new BlockFisher(manager, g, 0, 1));
        assertMessage(
                "damping must be positive and finite, but was -1.0",
                () -> new BlockFisher(manager, g, 4, -1));
        assertMessage(
                "gradients must be an m x d matrix with m, d >= 1, but had shape (10)",
                () -> new BlockFisher(manager, manager.zeros(new Shape(10)), 4, 1));
        try (BlockFisher fisher = new BlockFisher(manager, g, 4, 1)) {
            assertMessage("i must be in [0, 10), but was 10", () -> fisher.inverseEntry(10, 0));
            assertMessage(
                    "x must have 10 elements, but had shape (9)",
                    () -> fisher.inverseTimes(manager.zeros(new Shape(9))));
        }
    }

    @Test
    void queriesLeaveNoArraysBehind() {
        NDArray g = manager.randomNormal(new Shape(6, 40));
        NDArray x = g.get(0);
        try (BlockFisher fisher = new BlockFisher(manager, g, 16, 1e-3)) {
            int before = LiveArrays.count(manager);
            for (int i = 0; i < 50; i++) {
                fisher.inverseTimes(x).close();
                fisher.inverseDiagonal(manager).close();
                fisher.inverseEntry(i % 40, (i * 7) % 40);
            }
            assertEquals(before, LiveArrays.count(manager));
        }
    }

    private static RealMatrix blockInverse(double[][] g, int blockSize, double lambda) {
        RealMatrix result = new Array2DRowRealMatrix(D, D);
        for (int from = 0; from < D; from += blockSize) {
            int to = Math.min(D, from + blockSize);
            result.setSubMatrix(
                    Dense.inverse(Dense.dampedFisher(g, from, to, lambda)).getData(), from, from);
        }
        return result;
    }

    private static double tolerance(DataType type, int length) {
        return type == DataType.FLOAT64
                ? Tolerances.FLOAT64_RELATIVE
                : 4 * Tolerances.float32DotProduct(length);
    }

    /** Error relative to {@code scale}, or to the expected norm when {@code scale} is 0. */
    private static double error(double[] actual, double[] expected, double scale) {
        if (scale == 0) {
            return Dense.relativeError(actual, expected);
        }
        double diff = 0;
        for (int i = 0; i < actual.length; i++) {
            diff += (actual[i] - expected[i]) * (actual[i] - expected[i]);
        }
        return Math.sqrt(diff) / scale;
    }

    private static double norm(double[] v) {
        double s = 0;
        for (double a : v) {
            s += a * a;
        }
        return Math.sqrt(s);
    }

    private static void assertBelow(double value, double bound, String what) {
        assertTrue(value < bound, what + ": " + value + " >= " + bound);
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
