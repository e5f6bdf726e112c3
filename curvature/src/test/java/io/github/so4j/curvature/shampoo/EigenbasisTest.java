package io.github.so4j.curvature.shampoo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link Eigenbasis} against Commons Math in float64: the initial bases diagonalise their
 * statistics with eigenvalues in descending order, a refresh is the QR factor of the statistic
 * times the sorted basis, and each call reads the device once.
 */
class EigenbasisTest {

    private static final int[] SIZES = {3, 6, 17};

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
     * \( G G^\top \) of an n x (n + 2) Gaussian: symmetric positive definite, distinct spectrum.
     */
    private static double[][] statistic(Random random, int n) {
        double[][] g = Dense.gaussian(random, n, n + 2, 1);
        double[][] s = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                for (int k = 0; k < n + 2; k++) {
                    s[i][j] += g[i][k] * g[j][k];
                }
            }
        }
        return s;
    }

    /**
     * For statistics of sizes 3, 6 and 17 in one call: \( Q^\top Q = I \) and \( Q^\top S Q =
     * \operatorname{diag}(\lambda) \) with \( \lambda \) Commons Math's eigenvalues in descending
     * order. In float64 both within \( 10^{3} n u \lambda_{\max} \) (the eigensolver's backward
     * error is a few n u, the products' another n u); in float32 the statistic itself is rounded
     * (relative \( u_{32} \)), and the products are formed in float64 from the rounded basis:
     * within \( 10 n u_{32} \lambda_{\max} \). One read for the three statistics.
     */
    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void initialBasesDiagonaliseInDescendingOrder(DataType type) {
        Random random = new Random(11);
        List<double[][]> matrices = new ArrayList<>();
        List<NDArray> statistics = new ArrayList<>();
        for (int n : SIZES) {
            double[][] s = statistic(random, n);
            if (type == DataType.FLOAT32) {
                s = Dense.roundToFloat(s);
            }
            matrices.add(s);
            statistics.add(Dense.toArray(manager, s, type));
        }
        long before = HostReads.count();
        Eigenbasis.Initial initial = Eigenbasis.initial(statistics, manager);
        assertEquals(1, HostReads.count() - before);
        assertEquals(0, initial.failures());
        for (int k = 0; k < SIZES.length; k++) {
            int n = SIZES[k];
            NDArray basis = initial.bases().get(k);
            assertEquals(type, basis.getDataType());
            RealMatrix q = matrix(Dense.toDoubles(basis), n);
            RealMatrix s = new Array2DRowRealMatrix(matrices.get(k));
            double[] lambda = new EigenDecomposition(s).getRealEigenvalues().clone();
            Arrays.sort(lambda);
            double top = lambda[n - 1];
            double u =
                    type == DataType.FLOAT64
                            ? 1e3 * Tolerances.FLOAT64_UNIT_ROUNDOFF
                            : 10 * Tolerances.FLOAT32_UNIT_ROUNDOFF;
            RealMatrix d = q.transpose().multiply(s).multiply(q);
            RealMatrix gram = q.transpose().multiply(q);
            for (int i = 0; i < n; i++) {
                assertEquals(lambda[n - 1 - i], d.getEntry(i, i), n * u * top, "eigenvalue " + i);
                assertEquals(1, gram.getEntry(i, i), n * u);
                for (int j = 0; j < n; j++) {
                    if (i != j) {
                        assertEquals(0, d.getEntry(i, j), n * u * top);
                        assertEquals(0, gram.getEntry(i, j), n * u);
                    }
                }
            }
        }
    }

    /**
     * A refresh of each statistic \( S = S_0 + 0.1 S_1 \) from a basis that is near, but not, its
     * eigenbasis (the eigenbasis of \( S_0 \), its columns shuffled): the order sorts \(
     * \operatorname{diag}(Q^\top S Q) \) in descending order, and the new basis equals the Q of
     * Commons Math's QR of \( S Q_{:, \pi} \) column by column up to sign. Float64, within \( 10^3
     * n u \) (both QRs are backward stable; \( S Q \) is well conditioned here). Sizes 3, 6, 6 and
     * 40: the two of size 6 form one batch, so the QR reads once for size 3, once for size 6 and
     * twice for size 40 (panels of 32).
     */
    @Test
    void refreshIsTheQrOfTheSortedPowerStep() {
        Random random = new Random(12);
        List<double[][]> matrices = new ArrayList<>();
        List<double[][]> bases = new ArrayList<>();
        List<NDArray> statistics = new ArrayList<>();
        List<NDArray> current = new ArrayList<>();
        int[] sizes = {3, 6, 6, 40};
        for (int n : sizes) {
            double[][] old = statistic(random, n);
            double[][] v = new EigenDecomposition(new Array2DRowRealMatrix(old)).getV().getData();
            double[][] q = shuffled(v, random);
            double[][] s = statistic(random, n);
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    s[i][j] = old[i][j] + 0.1 * s[i][j];
                }
            }
            matrices.add(s);
            bases.add(q);
            statistics.add(Dense.toArray(manager, s, DataType.FLOAT64));
            current.add(Dense.toArray(manager, q, DataType.FLOAT64));
        }
        long before = HostReads.count();
        List<Eigenbasis.Refreshed> refreshed = Eigenbasis.refresh(statistics, current, manager);
        assertEquals(4, HostReads.count() - before);
        for (int k = 0; k < sizes.length; k++) {
            int n = sizes[k];
            RealMatrix s = new Array2DRowRealMatrix(matrices.get(k));
            RealMatrix q = new Array2DRowRealMatrix(bases.get(k));
            RealMatrix estimates = q.transpose().multiply(s).multiply(q);
            long[] order = refreshed.get(k).order().toLongArray();
            for (int i = 0; i + 1 < n; i++) {
                assertTrue(
                        estimates.getEntry((int) order[i], (int) order[i])
                                >= estimates.getEntry((int) order[i + 1], (int) order[i + 1]),
                        "order " + Arrays.toString(order));
            }
            RealMatrix sorted = new Array2DRowRealMatrix(n, n);
            for (int j = 0; j < n; j++) {
                sorted.setColumn(j, q.getColumn((int) order[j]));
            }
            RealMatrix expected = new QRDecomposition(s.multiply(sorted)).getQ();
            RealMatrix actual = matrix(Dense.toDoubles(refreshed.get(k).basis()), n);
            double tolerance = 1e3 * n * Tolerances.FLOAT64_UNIT_ROUNDOFF;
            for (int j = 0; j < n; j++) {
                double sign = Math.signum(expected.getEntry(0, j) * actual.getEntry(0, j));
                for (int i = 0; i < n; i++) {
                    assertEquals(
                            expected.getEntry(i, j),
                            sign * actual.getEntry(i, j),
                            tolerance,
                            "entry " + i + ", " + j);
                }
            }
        }
    }

    /** The columns of v in a random order. */
    private static double[][] shuffled(double[][] v, Random random) {
        int n = v.length;
        List<Integer> order = new ArrayList<>();
        for (int j = 0; j < n; j++) {
            order.add(j);
        }
        Collections.shuffle(order, random);
        double[][] q = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                q[i][j] = v[i][order.get(j)];
            }
        }
        return q;
    }

    /**
     * A statistic whose decomposition fails (NaN entries: Commons Math's iteration does not
     * converge) gets the identity and is counted; the others of the call are unaffected.
     */
    @Test
    void aFailedDecompositionGivesTheIdentity() {
        double[][] bad = {{1, Double.NaN}, {Double.NaN, 2}};
        double[][] good = {{2, 0}, {0, 3}};
        Eigenbasis.Initial initial =
                Eigenbasis.initial(
                        List.of(
                                Dense.toArray(manager, bad, DataType.FLOAT64),
                                Dense.toArray(manager, good, DataType.FLOAT64)),
                        manager);
        assertEquals(1, initial.failures());
        assertArrayEquals(new double[] {1, 0, 0, 1}, Dense.toDoubles(initial.bases().get(0)));
        double[] second = Dense.toDoubles(initial.bases().get(1));
        assertEquals(1, Math.abs(second[1]), 1e-15); // eigenvalue 3 first: e_2 up to sign
        assertEquals(1, Math.abs(second[2]), 1e-15);
    }

    /** Calls leave nothing behind in the manager but their results. */
    @ParameterizedTest
    @ValueSource(ints = {1, 3})
    void callsLeaveOnlyTheirResults(int count) {
        Random random = new Random(13);
        List<NDArray> statistics = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            statistics.add(Dense.toArray(manager, statistic(random, 4), DataType.FLOAT32));
        }
        int before = LiveArrays.count(manager);
        try (NDManager results = manager.newSubManager()) {
            Eigenbasis.Initial initial = Eigenbasis.initial(statistics, results);
            Eigenbasis.refresh(statistics, initial.bases(), results);
            assertEquals(before + 3 * count, LiveArrays.count(manager));
        }
        assertEquals(before, LiveArrays.count(manager));
    }

    private static RealMatrix matrix(double[] flat, int n) {
        double[][] m = new double[n][n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(flat, i * n, m[i], 0, n);
        }
        return new Array2DRowRealMatrix(m, false);
    }
}
