package io.github.so4j.curvature.shampoo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.shampoo.ShampooPreconditioner.Statistics;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link KroneckerStatistics} (Shampoo's L and R, shared with SOAP) against sums over the gradients
 * in float64, with either side switched off.
 */
class KroneckerStatisticsTest {

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    /**
     * Two blocks of 3 x 5, four gradients: L and R (those switched on) against \( \sum_s w_s G_s
     * G_s^\top \) with \( w_s = \beta^{t - s} (1 - \beta) \), or 1 for running sums. Each entry
     * sums at most 4 x 5 products: float64 agreement within \( \gamma_{20} \) relative to the sum
     * of magnitudes, bounded here by 4 times the largest entry. Nothing is read from the device.
     */
    @ParameterizedTest(name = "beta={0}, left={1}, right={2}")
    @CsvSource({"1.0, true, true", "0.95, true, false", "0.95, false, true", "0.0, true, true"})
    void statisticsAreWeightedSumsOfProducts(double beta, boolean left, boolean right) {
        Random random = new Random(4);
        int blocks = 2;
        int r = 3;
        int c = 5;
        int steps = 4;
        double[][][][] g = new double[steps][blocks][][];
        long reads = HostReads.count();
        try (KroneckerStatistics statistics =
                new KroneckerStatistics(
                        manager,
                        "w",
                        new Shape(blocks, r, c),
                        DataType.FLOAT64,
                        beta,
                        left,
                        right,
                        true)) {
            for (int t = 0; t < steps; t++) {
                double[] flat = new double[blocks * r * c];
                for (int b = 0; b < blocks; b++) {
                    g[t][b] = Dense.gaussian(random, r, c, 1);
                    for (int i = 0; i < r; i++) {
                        System.arraycopy(g[t][b][i], 0, flat, (b * r + i) * c, c);
                    }
                }
                try (NDManager step = manager.newSubManager()) {
                    NDArray x = Dense.toArray(step, flat, DataType.FLOAT64).reshape(blocks, r, c);
                    statistics.commit(
                            statistics.next(statistics.increments(x)),
                            (candidate, current) -> candidate);
                }
            }
            assertEquals(reads, HostReads.count(), "statistics read from the device");
            Statistics s = statistics.current();
            double[] l = left ? Dense.toDoubles(s.left()) : null;
            double[] rr = right ? Dense.toDoubles(s.right()) : null;
            assertEquals(left, s.left() != null);
            assertEquals(right, s.right() != null);
            assertEquals(steps, s.updates().toType(DataType.INT64, false).getLong());
            for (int b = 0; b < blocks; b++) {
                double[][] expectedLeft = new double[r][r];
                double[][] expectedRight = new double[c][c];
                for (int t = 0; t < steps; t++) {
                    double w = beta == 1 ? 1 : Math.pow(beta, steps - 1 - t) * (1 - beta);
                    for (int i = 0; i < r; i++) {
                        for (int j = 0; j < r; j++) {
                            for (int k = 0; k < c; k++) {
                                expectedLeft[i][j] += w * g[t][b][i][k] * g[t][b][j][k];
                            }
                        }
                    }
                    for (int i = 0; i < c; i++) {
                        for (int j = 0; j < c; j++) {
                            for (int k = 0; k < r; k++) {
                                expectedRight[i][j] += w * g[t][b][k][i] * g[t][b][k][j];
                            }
                        }
                    }
                }
                if (left) {
                    assertBlock(expectedLeft, l, b);
                }
                if (right) {
                    assertBlock(expectedRight, rr, b);
                }
            }
        }
    }

    private static void assertBlock(double[][] expected, double[] actual, int block) {
        int n = expected.length;
        double largest = 0;
        for (double[] row : expected) {
            for (double x : row) {
                largest = Math.max(largest, Math.abs(x));
            }
        }
        double tolerance = 4 * largest * 20 * Tolerances.FLOAT64_UNIT_ROUNDOFF;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double a = actual[block * n * n + i * n + j];
                assertEquals(expected[i][j], a, tolerance, "entry " + i + ", " + j);
            }
        }
    }

    /**
     * A candidate changes nothing until committed; a commit that keeps the current arrays leaves
     * the statistics as they were (a rejected step); uncounted statistics have no count.
     */
    @Test
    void candidatesChangeNothingUntilCommitted() {
        try (KroneckerStatistics statistics =
                new KroneckerStatistics(
                        manager,
                        "w",
                        new Shape(1, 2, 3),
                        DataType.FLOAT32,
                        0.5,
                        true,
                        true,
                        false)) {
            NDArray g = manager.randomNormal(new Shape(1, 2, 3));
            statistics.commit(statistics.next(statistics.increments(g)), (c, old) -> c);
            float[] left = statistics.current().left().toFloatArray();
            float[] right = statistics.current().right().toFloatArray();
            Statistics candidate = statistics.next(statistics.increments(g.mul(3)));
            assertArrayEquals(left, statistics.current().left().toFloatArray());
            statistics.commit(candidate, (c, old) -> old);
            assertArrayEquals(left, statistics.current().left().toFloatArray());
            assertArrayEquals(right, statistics.current().right().toFloatArray());
            assertNull(statistics.current().updates());
            statistics.commit(
                    statistics.next(statistics.increments(g.mul(3))), (c, old) -> c.duplicate());
            assertTrue(statistics.current().left().toFloatArray()[0] > left[0]);
        }
    }

    /**
     * A restore checks every array before it changes anything, naming the first that does not fit:
     * a side the saved statistics have and these do not, or another shape.
     */
    @Test
    void restoresAreCheckedByName() {
        try (KroneckerStatistics leftOnly =
                        new KroneckerStatistics(
                                manager,
                                "w",
                                new Shape(1, 2, 3),
                                DataType.FLOAT32,
                                0.5,
                                true,
                                false,
                                false);
                KroneckerStatistics both =
                        new KroneckerStatistics(
                                manager,
                                "w",
                                new Shape(1, 2, 3),
                                DataType.FLOAT32,
                                0.5,
                                true,
                                true,
                                false);
                KroneckerStatistics wider =
                        new KroneckerStatistics(
                                manager,
                                "v",
                                new Shape(1, 4, 3),
                                DataType.FLOAT32,
                                0.5,
                                true,
                                false,
                                false)) {
            NDArray g = manager.randomNormal(new Shape(1, 2, 3));
            both.commit(both.next(both.increments(g)), (c, old) -> c);
            float[] before = leftOnly.current().left().toFloatArray();
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class, () -> leftOnly.restore(both.current()));
            assertEquals(
                    "the saved right statistics of w are present, but this preconditioner keeps"
                            + " none",
                    e.getMessage());
            assertArrayEquals(before, leftOnly.current().left().toFloatArray());
            e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> wider.restore(new Statistics(both.current().left(), null, null)));
            assertEquals(
                    "the saved left statistics of v are float32 (1, 2, 2), but this"
                            + " preconditioner's are float32 (1, 4, 4)",
                    e.getMessage());
            leftOnly.restore(new Statistics(both.current().left(), null, null));
            assertArrayEquals(
                    both.current().left().toFloatArray(), leftOnly.current().left().toFloatArray());
        }
    }

    @Test
    void invalidArgumentsAreNamed() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                new KroneckerStatistics(
                                        manager,
                                        "w",
                                        new Shape(1, 2, 3),
                                        DataType.FLOAT32,
                                        1.5,
                                        true,
                                        true,
                                        true));
        assertEquals("beta must be in [0, 1], but was 1.5", e.getMessage());
        try (KroneckerStatistics statistics =
                new KroneckerStatistics(
                        manager,
                        "w",
                        new Shape(1, 2, 3),
                        DataType.FLOAT32,
                        0.5,
                        true,
                        true,
                        true)) {
            e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> statistics.increments(manager.zeros(new Shape(1, 3, 2))));
            assertEquals("blocks must have shape (1, 2, 3), but had (1, 3, 2)", e.getMessage());
        }
    }
}
