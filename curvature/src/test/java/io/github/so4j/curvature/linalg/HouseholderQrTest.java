package io.github.so4j.curvature.linalg;

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
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link HouseholderQr} against Commons Math's (unblocked) Householder QR in float64, and the
 * properties of a QR factor in float32 and for rank-deficient matrices.
 */
class HouseholderQrTest {

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
     * A batch of 3 Gaussian n x n matrices in panels of w (one panel, several, a ragged last one):
     * every column of Q equals Commons Math's up to sign, within \( 10^2 n u \sqrt{n} \kappa \)
     * (both are backward stable, Q's forward error grows with the condition number \( \kappa \) of
     * A, below 1e5 for these Gaussian matrices, checked); one read per panel.
     */
    @ParameterizedTest(name = "n={0}, panel={1}")
    @CsvSource({"5, 32", "5, 2", "33, 32", "70, 32", "64, 16"})
    void float64EqualsCommonsMathUpToSigns(int n, int panel) {
        Random random = new Random(n * 31L + panel);
        int batch = 3;
        double[][][] a = new double[batch][][];
        double[] flat = new double[batch * n * n];
        for (int b = 0; b < batch; b++) {
            a[b] = Dense.gaussian(random, n, n, 1);
            for (int i = 0; i < n; i++) {
                System.arraycopy(a[b][i], 0, flat, (b * n + i) * n, n);
            }
        }
        NDArray matrices = manager.create(flat, new Shape(batch, n, n));
        long before = HostReads.count();
        NDArray q = HouseholderQr.q(matrices, panel, manager);
        assertEquals((n + panel - 1) / panel, HostReads.count() - before);
        double[] actual = Dense.toDoubles(q);
        for (int b = 0; b < batch; b++) {
            RealMatrix m = new Array2DRowRealMatrix(a[b]);
            double[] singular = new SingularValueDecomposition(m).getSingularValues();
            double kappa = singular[0] / singular[n - 1];
            assertTrue(kappa < 1e5, "condition number " + kappa);
            RealMatrix expected = new QRDecomposition(m).getQ();
            double tolerance = 1e2 * n * Math.sqrt(n) * kappa * Tolerances.FLOAT64_UNIT_ROUNDOFF;
            for (int j = 0; j < n; j++) {
                double sign = Math.signum(expected.getEntry(0, j) * actual[(b * n) * n + j]);
                for (int i = 0; i < n; i++) {
                    assertEquals(
                            expected.getEntry(i, j),
                            sign * actual[(b * n + i) * n + j],
                            tolerance,
                            "batch " + b + ", entry " + i + ", " + j);
                }
            }
        }
    }

    /**
     * Float32, n = 100 in panels of 32: \( Q^\top Q = I \) and \( Q^\top A \) upper triangular,
     * within \( 10 n u_{32} \) (relative to \( \|A\| \) for the second), the backward error of a
     * Householder QR whose updates round at \( u_{32} \).
     */
    @Test
    void float32IsOrthogonalAndTriangularises() {
        int n = 100;
        Random random = new Random(2);
        double[][] a = Dense.roundToFloat(Dense.gaussian(random, n, n, 1));
        NDArray q =
                HouseholderQr.q(
                        Dense.toArray(manager, a, DataType.FLOAT32).expandDims(0),
                        HouseholderQr.DEFAULT_PANEL,
                        manager);
        assertEquals(DataType.FLOAT32, q.getDataType());
        RealMatrix qm = matrix(Dense.toDoubles(q), n);
        RealMatrix am = new Array2DRowRealMatrix(a);
        assertFactor(qm, am, 10 * n * Tolerances.FLOAT32_UNIT_ROUNDOFF);
    }

    /**
     * Rank-deficient matrices need no special case: a zero matrix gives Q = I exactly (every \(
     * \tau = 0 \)); a matrix of rank 20 (n = 50, float64) gives an orthogonal Q with \( Q^\top A \)
     * upper triangular, its first 20 columns spanning A's range.
     */
    @Test
    void rankDeficientMatricesGiveOrthogonalFactors() {
        int n = 50;
        NDArray zero = manager.zeros(new Shape(1, n, n), DataType.FLOAT64);
        assertArrayEquals(
                Dense.toDoubles(manager.eye(n, n, 0, DataType.FLOAT64)),
                Dense.toDoubles(HouseholderQr.q(zero, 16, manager)),
                0.0);
        Random random = new Random(3);
        RealMatrix low =
                new Array2DRowRealMatrix(Dense.gaussian(random, n, 20, 1))
                        .multiply(new Array2DRowRealMatrix(Dense.gaussian(random, 20, n, 1)));
        NDArray q =
                HouseholderQr.q(
                        Dense.toArray(manager, low.getData(), DataType.FLOAT64).expandDims(0),
                        16,
                        manager);
        assertFactor(
                matrix(Dense.toDoubles(q), n), low, 1e2 * n * Tolerances.FLOAT64_UNIT_ROUNDOFF);
    }

    private static void assertFactor(RealMatrix q, RealMatrix a, double tolerance) {
        int n = q.getRowDimension();
        RealMatrix gram = q.transpose().multiply(q);
        RealMatrix r = q.transpose().multiply(a);
        double norm = a.getFrobeniusNorm();
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                assertEquals(i == j ? 1 : 0, gram.getEntry(i, j), tolerance, "Q^T Q at " + i);
                if (i > j) {
                    assertEquals(0, r.getEntry(i, j) / norm, tolerance, "Q^T A at " + i + ", " + j);
                }
            }
        }
    }

    /** A call leaves nothing behind in the manager but its result. */
    @Test
    void leavesOnlyTheResult() {
        NDArray a = manager.randomNormal(new Shape(2, 40, 40));
        int before = LiveArrays.count(manager);
        try (NDManager results = manager.newSubManager()) {
            HouseholderQr.q(a, 16, results);
            assertEquals(before + 1, LiveArrays.count(manager));
        }
        assertEquals(before, LiveArrays.count(manager));
    }

    @Test
    void invalidArgumentsAreNamed() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> HouseholderQr.q(manager.zeros(new Shape(2, 3, 4)), 2, manager));
        assertEquals("matrices must have shape (b, n, n), but had (2, 3, 4)", e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> HouseholderQr.q(manager.zeros(new Shape(1, 3, 3)), 0, manager));
        assertEquals("panel must be at least 1, but was 0", e.getMessage());
    }

    private static RealMatrix matrix(double[] flat, int n) {
        double[][] m = new double[n][n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(flat, i * n, m[i], 0, n);
        }
        return new Array2DRowRealMatrix(m, false);
    }
}
