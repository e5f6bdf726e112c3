package io.github.so4j.curvature.shampoo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link ShampooPreconditioner} against brute force in float64: statistics summed gradient by
 * gradient, roots from Commons Math's eigendecomposition, blocks computed separately.
 */
class ShampooPreconditionerTest {

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private NDArray tensor(double[][] g, DataType type) {
        return Dense.toArray(manager, g, type);
    }

    /**
     * L and R of every block of a 6 x 10 tensor in blocks of at most 4 (2 x 3 blocks of 3 x 4, the
     * last column block padded by 2), after three gradients, against sums over the gradients'
     * slices: running sums for \( \beta_2 = 1 \), \( \sum_s \beta_2^{t-s} (1 - \beta_2) G_s
     * G_s^\top \) for \( \beta_2 = 0.9 \). Each entry sums at most 3 x 4 products: float64
     * agreement within \( \gamma_{12} \) relative to the sum of the magnitudes, bounded here by the
     * largest entry times 3.
     */
    @ParameterizedTest(name = "beta2={0}")
    @ValueSource(doubles = {1.0, 0.9})
    void statisticsAreSumsOverTheBlocksSlices(double beta2) {
        ShampooConfig config = ShampooConfig.DEFAULT.withMaxPreconditionerDim(4).withBeta2(beta2);
        Random random = new Random(1);
        double[][][] g = new double[3][][];
        try (ShampooPreconditioner shampoo =
                new ShampooPreconditioner(
                        manager, "w", new Shape(6, 10), DataType.FLOAT64, config)) {
            for (int t = 0; t < 3; t++) {
                g[t] = Dense.gaussian(random, 6, 10, 1);
                shampoo.update(tensor(g[t], DataType.FLOAT64));
            }
            double[] left = Dense.toDoubles(shampoo.leftStatistics(manager));
            double[] right = Dense.toDoubles(shampoo.rightStatistics(manager));
            double tolerance = 3 * 12 * Tolerances.FLOAT64_UNIT_ROUNDOFF;
            for (int i = 0; i < 2; i++) {
                for (int j = 0; j < 3; j++) {
                    int block = i * 3 + j;
                    double[][] l = new double[3][3];
                    double[][] r = new double[4][4];
                    for (int t = 0; t < 3; t++) {
                        double w = beta2 == 1 ? 1 : Math.pow(beta2, 2 - t) * (1 - beta2);
                        double[][] s = slice(g[t], 3 * i, 3, 4 * j, 4);
                        addProducts(l, s, false, w);
                        addProducts(r, s, true, w);
                    }
                    assertBlock(l, left, block, tolerance);
                    assertBlock(r, right, block, tolerance);
                }
            }
            assertEquals(3, shampoo.statisticsUpdates());
        }
    }

    /** Rows [row, row + rows) and columns [column, column + columns), zero outside g. */
    private static double[][] slice(double[][] g, int row, int rows, int column, int columns) {
        double[][] s = new double[rows][columns];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < columns; c++) {
                int i = row + r;
                int j = column + c;
                s[r][c] = i < g.length && j < g[0].length ? g[i][j] : 0;
            }
        }
        return s;
    }

    /** target += w s s^T (or w s^T s), one gradient at a time. */
    private static void addProducts(double[][] target, double[][] s, boolean right, double w) {
        int n = target.length;
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                double dot = 0;
                if (right) {
                    for (double[] row : s) {
                        dot += row[a] * row[b];
                    }
                } else {
                    for (int k = 0; k < s[0].length; k++) {
                        dot += s[a][k] * s[b][k];
                    }
                }
                target[a][b] += w * dot;
            }
        }
    }

    private static void assertBlock(
            double[][] expected, double[] actual, int block, double tolerance) {
        int n = expected.length;
        double scale = 0;
        for (double[] row : expected) {
            for (double v : row) {
                scale = Math.max(scale, Math.abs(v));
            }
        }
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                assertEquals(
                        expected[a][b],
                        actual[(block * n + a) * n + b],
                        tolerance * scale,
                        "block " + block + " entry " + a + "," + b);
            }
        }
    }

    /**
     * The direction \( \hat L^{-1/p_L} G \hat R^{-1/p_R} \) on the device path (coupled Newton in
     * float64: hostRootMaxDim 0) against roots of the dense statistics from Commons Math, for
     * Shampoo (4, 4), Shampoo squared (2, 2) and a mixed pair, with exponential averages and bias
     * correction. The gradients share a strong rank-one part, so that the top eigenvalue of each
     * factor is well separated (the power iteration's estimate, and with it the ridge, is then
     * exact to rounding: its error shrinks like \( (\lambda_2 / \lambda_1)^{20} \)); G is one of
     * the accumulated gradients.
     *
     * <p>Tolerance: each root is within \( e = (\kappa / p) \gamma_n \) of the oracle (relative,
     * Frobenius; \( \kappa \le 1 / \epsilon_{rel} + 1 \)); the direction, normalized by \( \|A\|_2
     * \|G\|_F \|B\|_2 \), is then within \( e_L \sqrt{r} + e_R \sqrt{c} \).
     */
    @ParameterizedTest(name = "roots {0}, {1}")
    @CsvSource({"4, 4", "2, 2", "2, 4"})
    void directionMatchesDenseRootsOnTheDevicePath(int leftRoot, int rightRoot) {
        int rows = 24;
        int columns = 36;
        double epsilon = 1e-6;
        double beta2 = 0.95;
        ShampooConfig config =
                ShampooConfig.DEFAULT
                        .withRoots(leftRoot, rightRoot)
                        .withHostRootMaxDim(0)
                        .withBeta2(beta2)
                        .withRelativeEpsilon(epsilon);
        Random random = new Random(2);
        int steps = 5;
        double[][][] g = new double[steps][][];
        RealMatrix l = new Array2DRowRealMatrix(rows, rows);
        RealMatrix r = new Array2DRowRealMatrix(columns, columns);
        try (ShampooPreconditioner shampoo =
                new ShampooPreconditioner(
                        manager, "w", new Shape(rows, columns), DataType.FLOAT64, config)) {
            double[][] signal = Dense.gaussian(random, 2, Math.max(rows, columns), 1);
            for (int t = 0; t < steps; t++) {
                g[t] = Dense.gaussian(random, rows, columns, 1);
                for (int i = 0; i < rows; i++) {
                    for (int j = 0; j < columns; j++) {
                        g[t][i][j] += 3 * signal[0][i] * signal[1][j];
                    }
                }
                shampoo.update(tensor(g[t], DataType.FLOAT64));
                RealMatrix gt = new Array2DRowRealMatrix(g[t]);
                l =
                        l.scalarMultiply(beta2)
                                .add(gt.multiply(gt.transpose()).scalarMultiply(1 - beta2));
                r =
                        r.scalarMultiply(beta2)
                                .add(gt.transpose().multiply(gt).scalarMultiply(1 - beta2));
            }
            shampoo.updateRoots();
            double correction = 1 - Math.pow(beta2, steps);
            RealMatrix a = root(l.scalarMultiply(1 / correction), leftRoot, epsilon);
            RealMatrix b = root(r.scalarMultiply(1 / correction), rightRoot, epsilon);
            RealMatrix x = new Array2DRowRealMatrix(g[2]);
            double[][] expected = a.multiply(x).multiply(b).getData();
            double[] actual =
                    Dense.toDoubles(shampoo.preconditionTensor(tensor(g[2], DataType.FLOAT64)));
            double diff = 0;
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < columns; j++) {
                    double d = actual[i * columns + j] - expected[i][j];
                    diff += d * d;
                }
            }
            double scale = norm2(a) * x.getFrobeniusNorm() * norm2(b);
            double kappa = 1 / epsilon + 1;
            double tolerance =
                    kappa / leftRoot * gamma(rows) * Math.sqrt(rows)
                            + kappa / rightRoot * gamma(columns) * Math.sqrt(columns);
            double error = Math.sqrt(diff) / scale;
            assertTrue(error < tolerance, "error " + error + " > " + tolerance);
            assertEquals(1, shampoo.health().computations());
            assertEquals(0, shampoo.health().float64Retries() + shampoo.health().hostFallbacks());
        }
    }

    private static double gamma(int n) {
        double nu = n * Tolerances.FLOAT64_UNIT_ROUNDOFF;
        return nu / (1 - nu);
    }

    /** \( (A + \epsilon \lambda_{\max} I)^{-1/p} \) by Commons Math's eigendecomposition. */
    private static RealMatrix root(RealMatrix a, int p, double relativeEpsilon) {
        EigenDecomposition eigen = new EigenDecomposition(a.add(a.transpose()).scalarMultiply(0.5));
        double[] lambda = eigen.getRealEigenvalues();
        double top = 0;
        for (double v : lambda) {
            top = Math.max(top, v);
        }
        double[] mu = new double[lambda.length];
        for (int i = 0; i < mu.length; i++) {
            mu[i] = Math.pow(Math.max(lambda[i], 0) + relativeEpsilon * top, -1.0 / p);
        }
        RealMatrix v = eigen.getV();
        return v.multiply(MatrixUtils.createRealDiagonalMatrix(mu)).multiply(v.transpose());
    }

    private static double norm2(RealMatrix symmetricPositive) {
        double top = 0;
        for (double v : new EigenDecomposition(symmetricPositive).getRealEigenvalues()) {
            top = Math.max(top, Math.abs(v));
        }
        return top;
    }

    /**
     * A 7 x 10 tensor in blocks of at most 4 (2 x 3 blocks, padded to 8 x 12) gives, block by
     * block, the direction of six separate preconditioners on the unpadded slices (4 x 4, 4 x 4, 4
     * x 2, 3 x 4, 3 x 4, 3 x 2). Roots from the host eigendecomposition (exact largest eigenvalue,
     * so the ridges agree: padding adds only zero eigenvalues). Tolerance as in the device-path
     * test, with n = 4.
     */
    @Test
    void blockedTensorEqualsItsBlocksComputedSeparately() {
        ShampooConfig blocked = ShampooConfig.DEFAULT.withMaxPreconditionerDim(4);
        Random random = new Random(3);
        double[][][] g = new double[4][][];
        for (int t = 0; t < 4; t++) {
            g[t] = Dense.gaussian(random, 7, 10, 1);
        }
        int[] rowStarts = {0, 4};
        int[] rowSizes = {4, 3};
        int[] columnStarts = {0, 4, 8};
        int[] columnSizes = {4, 4, 2};
        try (ShampooPreconditioner whole =
                new ShampooPreconditioner(
                        manager, "w", new Shape(7, 10), DataType.FLOAT64, blocked)) {
            for (double[][] gt : g) {
                whole.update(tensor(gt, DataType.FLOAT64));
            }
            whole.updateRoots();
            double[] direction =
                    Dense.toDoubles(whole.preconditionTensor(tensor(g[3], DataType.FLOAT64)));
            double kappa = 1 / blocked.relativeEpsilon() + 1;
            double tolerance = 2 * (kappa / 4) * gamma(4) * 2;
            for (int i = 0; i < 2; i++) {
                for (int j = 0; j < 3; j++) {
                    int rows = rowSizes[i];
                    int columns = columnSizes[j];
                    try (ShampooPreconditioner part =
                            new ShampooPreconditioner(
                                    manager,
                                    "block",
                                    new Shape(rows, columns),
                                    DataType.FLOAT64,
                                    ShampooConfig.DEFAULT)) {
                        for (double[][] gt : g) {
                            part.update(
                                    tensor(
                                            slice(gt, rowStarts[i], rows, columnStarts[j], columns),
                                            DataType.FLOAT64));
                        }
                        part.updateRoots();
                        double[] expected =
                                Dense.toDoubles(
                                        part.preconditionTensor(
                                                tensor(
                                                        slice(
                                                                g[3],
                                                                rowStarts[i],
                                                                rows,
                                                                columnStarts[j],
                                                                columns),
                                                        DataType.FLOAT64)));
                        double scale = 0;
                        for (double v : expected) {
                            scale = Math.max(scale, Math.abs(v));
                        }
                        for (int r = 0; r < rows; r++) {
                            for (int c = 0; c < columns; c++) {
                                assertEquals(
                                        expected[r * columns + c],
                                        direction[(rowStarts[i] + r) * 10 + columnStarts[j] + c],
                                        tolerance * scale,
                                        "block " + i + "," + j);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Failure ladder, rungs 1 and 2: with a single Newton step allowed, neither the float32 nor the
     * float64 iteration converges, so both factors of both blocks go to the host; the result is
     * exactly what the host method gives directly.
     */
    @Test
    void unconvergedIterationFallsBackToFloat64ThenTheHost() {
        ShampooConfig oneStep =
                ShampooConfig.DEFAULT
                        .withMaxPreconditionerDim(16)
                        .withHostRootMaxDim(0)
                        .withNewton(1, 1e-6);
        ShampooConfig host = oneStep.withHostRootMaxDim(100);
        Random random = new Random(4);
        Shape shape = new Shape(20, 12);
        try (ShampooPreconditioner ladder =
                        new ShampooPreconditioner(manager, "w", shape, DataType.FLOAT32, oneStep);
                ShampooPreconditioner direct =
                        new ShampooPreconditioner(manager, "w", shape, DataType.FLOAT32, host)) {
            for (int t = 0; t < 3; t++) {
                NDArray g = tensor(Dense.gaussian(random, 20, 12, 1), DataType.FLOAT32);
                ladder.update(g);
                direct.update(g);
            }
            ladder.updateRoots();
            direct.updateRoots();
            RootHealth health = ladder.health();
            assertEquals(4, health.float64Retries(), health.toString());
            assertEquals(4, health.hostFallbacks(), health.toString());
            assertEquals(0, health.failedRoots());
            assertEquals(0, health.consecutiveFailures());
            assertArrayEquals(
                    direct.leftRoots(manager).toFloatArray(),
                    ladder.leftRoots(manager).toFloatArray());
            assertArrayEquals(
                    direct.rightRoots(manager).toFloatArray(),
                    ladder.rightRoots(manager).toFloatArray());
        }
    }

    /**
     * Failure ladder, rungs 3 and 4: statistics that overflowed to infinity have no acceptable root
     * anywhere; the previous roots are kept and counted, and the computation after {@code
     * maxConsecutiveFailures} failed ones throws.
     */
    @Test
    void nonFiniteStatisticsKeepThePreviousRootsThenThrow() {
        ShampooConfig config = ShampooConfig.DEFAULT.withHostRootMaxDim(4);
        try (ShampooPreconditioner shampoo =
                new ShampooPreconditioner(
                        manager, "layer.weight", new Shape(3, 8), DataType.FLOAT32, config)) {
            shampoo.update(tensor(Dense.gaussian(new Random(5), 3, 8, 1), DataType.FLOAT32));
            shampoo.updateRoots();
            float[] left = shampoo.leftRoots(manager).toFloatArray();
            float[] right = shampoo.rightRoots(manager).toFloatArray();
            NDArray huge = manager.full(new Shape(1, 3, 3), Float.POSITIVE_INFINITY);
            NDArray fine = manager.zeros(new Shape(1, 8, 8));
            shampoo.accumulate(new ShampooPreconditioner.Increments(huge, fine));
            for (int k = 1; k <= 3; k++) {
                shampoo.updateRoots();
                assertArrayEquals(left, shampoo.leftRoots(manager).toFloatArray());
                assertArrayEquals(right, shampoo.rightRoots(manager).toFloatArray());
                assertEquals(k, shampoo.health().consecutiveFailures());
                assertEquals(k, shampoo.health().failedRoots());
            }
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, shampoo::updateRoots);
            assertEquals(
                    "Shampoo layer.weight: inverse roots failed in 4 consecutive computations (at"
                            + " most 3 tolerated); last problem: L of block 0 (3 x 3): no"
                            + " acceptable root (residual NaN)",
                    e.getMessage());
        }
    }

    /**
     * Candidates change nothing until committed: statistics staged with {@link
     * ShampooPreconditioner#next} and kept or not, roots computed with {@link
     * ShampooPreconditioner#nextRoots} and installed or not. Staging and committing statistics read
     * nothing from the device; a commit that keeps the candidate gives bit for bit what {@link
     * ShampooPreconditioner#update} gives.
     */
    @Test
    void stagedChangesWaitForTheirCommit() {
        ShampooConfig config = ShampooConfig.DEFAULT.withMaxPreconditionerDim(4).withBeta2(0.9);
        Random random = new Random(9);
        Shape shape = new Shape(6, 10);
        try (ShampooPreconditioner staged =
                        new ShampooPreconditioner(manager, "w", shape, DataType.FLOAT32, config);
                ShampooPreconditioner direct =
                        new ShampooPreconditioner(manager, "w", shape, DataType.FLOAT32, config)) {
            NDArray first = tensor(Dense.gaussian(random, 6, 10, 1), DataType.FLOAT32);
            staged.update(first);
            direct.update(first);
            staged.updateRoots();
            direct.updateRoots();
            float[] left = staged.leftStatistics(manager).toFloatArray();
            float[] roots = staged.leftRoots(manager).toFloatArray();
            NDArray second = tensor(Dense.gaussian(random, 6, 10, 1), DataType.FLOAT32);
            long reads = HostReads.count();
            ShampooPreconditioner.Statistics rejected =
                    staged.next(staged.layout().toBlocks(second));
            staged.commit(rejected, (candidate, current) -> current.duplicate());
            assertEquals(0, HostReads.count() - reads);
            assertArrayEquals(left, staged.leftStatistics(manager).toFloatArray(), 0f);
            assertEquals(1, staged.statisticsUpdates());
            ShampooPreconditioner.Roots unused =
                    staged.nextRoots(staged.next(staged.layout().toBlocks(second)), manager);
            unused.left().close();
            unused.right().close();
            assertArrayEquals(roots, staged.leftRoots(manager).toFloatArray(), 0f);
            assertEquals(1, staged.health().computations());
            ShampooPreconditioner.Statistics kept = staged.next(staged.layout().toBlocks(second));
            staged.commit(staged.nextRoots(kept, manager));
            staged.commit(kept, (candidate, current) -> candidate);
            direct.update(second);
            direct.updateRoots();
            assertArrayEquals(
                    direct.leftStatistics(manager).toFloatArray(),
                    staged.leftStatistics(manager).toFloatArray(),
                    0f);
            assertArrayEquals(
                    direct.rightRoots(manager).toFloatArray(),
                    staged.rightRoots(manager).toFloatArray(),
                    0f);
            assertEquals(direct.health(), staged.health());
            assertEquals(2, staged.statisticsUpdates());
        }
    }

    @Test
    void rootsStartAsIdentities() {
        try (ShampooPreconditioner shampoo =
                new ShampooPreconditioner(
                        manager, "w", new Shape(2, 3), DataType.FLOAT32, ShampooConfig.DEFAULT)) {
            NDArray g = manager.create(new float[] {1, 2, 3, 4, 5, 6}, new Shape(2, 3));
            assertArrayEquals(g.toFloatArray(), shampoo.preconditionTensor(g).toFloatArray());
        }
    }

    /**
     * A preconditioner restored from another's state gives bit for bit the same statistics, roots,
     * counters and directions over the next steps (including a root computation); one of another
     * layout is refused by name, unchanged. Exponential statistics with bias correction, so that
     * the restored update count matters too.
     */
    @Test
    void restoredStateContinuesBitForBit() {
        ShampooConfig config = ShampooConfig.DEFAULT.withMaxPreconditionerDim(4).withBeta2(0.9);
        Random random = new Random(8);
        double[][][] g = new double[6][][];
        for (int t = 0; t < g.length; t++) {
            g[t] = Dense.gaussian(random, 6, 10, 1);
        }
        Shape shape = new Shape(6, 10);
        try (ShampooPreconditioner original =
                        new ShampooPreconditioner(manager, "w", shape, DataType.FLOAT32, config);
                ShampooPreconditioner restored =
                        new ShampooPreconditioner(manager, "w", shape, DataType.FLOAT32, config);
                ShampooPreconditioner other =
                        new ShampooPreconditioner(
                                manager,
                                "v",
                                shape,
                                DataType.FLOAT32,
                                config.withMaxPreconditionerDim(8))) {
            for (int t = 0; t < 3; t++) {
                original.update(tensor(g[t], DataType.FLOAT32));
            }
            original.updateRoots();
            restored.restore(original.state());
            assertEquals(original.health(), restored.health());
            assertEquals(original.statisticsUpdates(), restored.statisticsUpdates());
            for (int t = 3; t < 6; t++) {
                NDArray gradient = tensor(g[t], DataType.FLOAT32);
                original.update(gradient);
                restored.update(gradient);
                if (t == 4) {
                    original.updateRoots();
                    restored.updateRoots();
                }
                assertArrayEquals(
                        original.preconditionTensor(gradient).toFloatArray(),
                        restored.preconditionTensor(gradient).toFloatArray());
            }
            assertArrayEquals(
                    original.leftStatistics(manager).toFloatArray(),
                    restored.leftStatistics(manager).toFloatArray());
            assertArrayEquals(
                    original.rightRoots(manager).toFloatArray(),
                    restored.rightRoots(manager).toFloatArray());
            assertEquals(original.health(), restored.health());
            float[] before = other.leftStatistics(manager).toFloatArray();
            assertMessage(
                    "the saved left statistics of v are float32 (6, 3, 3), but this"
                            + " preconditioner's are float32 (2, 6, 6)",
                    () -> other.restore(original.state()));
            assertArrayEquals(before, other.leftStatistics(manager).toFloatArray());
        }
    }

    /** Statistics, roots and directions for 300 steps must not grow the live-array count. */
    @Test
    void manyStepsLeaveTheLiveArrayCountFlat() {
        ShampooConfig config = ShampooConfig.DEFAULT.withMaxPreconditionerDim(8).withBeta2(0.99);
        Random random = new Random(6);
        try (ShampooPreconditioner shampoo =
                new ShampooPreconditioner(
                        manager, "w", new Shape(12, 40), DataType.FLOAT32, config)) {
            int before = -1;
            for (int t = 0; t < 300; t++) {
                try (NDManager step = manager.newSubManager()) {
                    NDArray g =
                            Dense.toArray(
                                    step, Dense.gaussian(random, 12, 40, 1), DataType.FLOAT32);
                    shampoo.update(g);
                    if (t % 10 == 0) {
                        shampoo.updateRoots();
                    }
                    shampoo.preconditionTensor(g);
                }
                if (t == 20) {
                    before = LiveArrays.count(manager);
                }
            }
            assertEquals(before, LiveArrays.count(manager));
        }
    }

    @Test
    void invalidSettingsAreNamed() {
        assertMessage(
                "beta2 must be in (0, 1], but was 1.5", () -> ShampooConfig.DEFAULT.withBeta2(1.5));
        assertMessage(
                "epsilon must be positive and finite, but was 0.0",
                () -> ShampooConfig.DEFAULT.withRelativeEpsilon(0));
        assertMessage(
                "leftRoot must be at least 1, but was 0",
                () -> ShampooConfig.DEFAULT.withRoots(0, 4));
        assertMessage(
                "maxIterations must be at least 1, but was 0",
                () -> ShampooConfig.DEFAULT.withNewton(0, 1e-6));
        assertMessage(
                "dataType must be float32 or float64, but was int32",
                () ->
                        new ShampooPreconditioner(
                                manager,
                                "w",
                                new Shape(2, 2),
                                DataType.INT32,
                                ShampooConfig.DEFAULT));
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
