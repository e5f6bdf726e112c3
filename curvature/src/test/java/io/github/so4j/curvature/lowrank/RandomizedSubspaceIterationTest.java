package io.github.so4j.curvature.lowrank;

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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link RandomizedSubspaceIteration} against Commons Math's SVD in float64 on matrices with a
 * known spectrum, with the error bound of subspace iteration computed for the very start the
 * iteration draws.
 */
class RandomizedSubspaceIterationTest {

    private static final int ROWS = 60;
    private static final int COLUMNS = 40;
    private static final int RANK = 5;

    /** Top singular values 10, 8, 6, 5, 4, then a tail from 0.4 down by 3% a step. */
    private static double[] spectrum() {
        double[] sigma = new double[COLUMNS];
        double[] top = {10, 8, 6, 5, 4};
        for (int i = 0; i < COLUMNS; i++) {
            sigma[i] = i < RANK ? top[i] : 0.4 * Math.pow(0.97, i - RANK);
        }
        return sigma;
    }

    private static RealMatrix orthogonal(Random random, int n) {
        return new QRDecomposition(new Array2DRowRealMatrix(Dense.gaussian(random, n, n, 1)))
                .getQ();
    }

    /**
     * The computed r-dimensional subspace against the top left singular subspace \( U_r \) of \( M
     * = U \Sigma V^\top \) (random orthogonal U, V; \( \sigma_r = 4 \), \( \sigma_{r+1} = 0.4 \)),
     * for q = 1, 2 power iterations, without and with oversampling, in float64 and float32.
     *
     * <p>The bound, for the start \( \Omega \) (b x k) the iteration draws (the test draws the same
     * numbers from the same seed, row by row): with \( V^\top \Omega = [\Omega_1; \Omega_2] \), \(
     * \Omega_1 \) the r x k block of the top right singular vectors, \( (M M^\top)^q M \Omega
     * \Omega_1^+ = U [I; \Sigma_2^{2q+1} \Omega_2 \Omega_1^+ \Sigma_1^{-(2q+1)}] \Sigma_1^{2q+1} \)
     * spans an r-dimensional subspace of the iteration's within \( \tan\theta \le
     * (\sigma_{r+1}/\sigma_r)^{2q+1} \|\Omega_2 \Omega_1^+\|_2 \) of \( U_r \) (Halko et al.,
     * section 9; the power method's bound when k = r). Without oversampling that subspace is the
     * result. With k = r + p the result is the Rayleigh–Ritz selection from the k-dimensional
     * subspace, whose angle is at most \( \sqrt{1 + \gamma^2 / \delta^2} \) times the subspace's
     * (Saad, Numerical Methods for Large Eigenvalue Problems, Theorem 4.6, on \( M M^\top \), with
     * \( \gamma \le \sigma_1^2 \) and the gap \( \delta \ge \sigma_r^2 - \sigma_{r+1}^2 \)).
     * Rounding: each of the 2q + 2 products perturbs M by at most \( \gamma_{\max(a, b)} \|M\| \)
     * (the dtype's dot-product bound), which moves the top subspace by at most that over the gap \(
     * \sigma_r - \sigma_{r+1} \) (Wedin's theorem). The Ritz values lie in \( [\sigma_j \cos\theta,
     * \sigma_j] \) up to the same rounding (interlacing, and \( \sigma_j(Q^\top M) \ge
     * \sigma_{\min}(Q^\top U_r) \sigma_j \)). The bound is checked to say something: below 0.5.
     */
    @ParameterizedTest(name = "q={0}, p={1}, {2}")
    @CsvSource({
        "1, 0, FLOAT64",
        "2, 0, FLOAT64",
        "1, 8, FLOAT64",
        "2, 8, FLOAT64",
        "2, 0, FLOAT32",
        "2, 8, FLOAT32"
    })
    void theSubspaceIsWithinTheBoundOfItsStartAndGap(int q, int p, DataType type) {
        long seed = 100L * q + p;
        Random random = new Random(seed);
        RealMatrix u = orthogonal(random, ROWS);
        RealMatrix v = orthogonal(random, COLUMNS);
        double[] sigma = spectrum();
        RealMatrix diagonal = new Array2DRowRealMatrix(ROWS, COLUMNS);
        for (int i = 0; i < COLUMNS; i++) {
            diagonal.setEntry(i, i, sigma[i]);
        }
        double[][] m = u.multiply(diagonal).multiply(v.transpose()).getData();
        if (type == DataType.FLOAT32) {
            m = Dense.roundToFloat(m);
        }
        int k = Math.min(RANK + p, COLUMNS);
        Random start = new Random(seed + 1);
        double[][] omega = new double[COLUMNS][k];
        for (int i = 0; i < COLUMNS; i++) {
            for (int j = 0; j < k; j++) {
                omega[i][j] = start.nextGaussian();
            }
        }
        RealMatrix rotated = v.transpose().multiply(new Array2DRowRealMatrix(omega));
        RealMatrix omega1 = rotated.getSubMatrix(0, RANK - 1, 0, k - 1);
        RealMatrix omega2 = rotated.getSubMatrix(RANK, COLUMNS - 1, 0, k - 1);
        RealMatrix pseudoInverse = new SingularValueDecomposition(omega1).getSolver().getInverse();
        double tan0 = new SingularValueDecomposition(omega2.multiply(pseudoInverse)).getNorm();
        double ratio = sigma[RANK] / sigma[RANK - 1];
        double bound = Math.pow(ratio, 2 * q + 1) * tan0;
        if (p > 0) {
            double gamma = sigma[0] * sigma[0];
            double delta = sigma[RANK - 1] * sigma[RANK - 1] - sigma[RANK] * sigma[RANK];
            bound *= Math.sqrt(1 + gamma * gamma / (delta * delta));
        }
        double unit =
                type == DataType.FLOAT32
                        ? Tolerances.float32DotProduct(ROWS)
                        : ROWS * Tolerances.FLOAT64_UNIT_ROUNDOFF;
        double rounding = (2 * q + 2) * unit * sigma[0] / (sigma[RANK - 1] - sigma[RANK]);
        assertTrue(bound < 0.5, "the bound is vacuous: " + bound);
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray matrix = Dense.toArray(manager, m, type);
            long reads = HostReads.count();
            RandomizedSubspaceIteration.Result result =
                    new RandomizedSubspaceIteration(q, p)
                            .leftSingularVectors(matrix, RANK, new Random(seed + 1), manager);
            assertEquals(2 * q + 2, HostReads.count() - reads);
            assertEquals(new Shape(ROWS, RANK), result.vectors().getShape());
            assertEquals(type, result.vectors().getDataType());
            RealMatrix computed = matrix(result.vectors());
            RealMatrix top = u.getSubMatrix(0, ROWS - 1, 0, RANK - 1);
            double sine = sine(top, computed);
            assertTrue(
                    sine <= bound + rounding,
                    "sin(theta) " + sine + " above " + bound + " + " + rounding);
            assertOrthonormal(computed, 10 * unit);
            double cosine = Math.sqrt(Math.max(0, 1 - Math.pow(bound + rounding, 2)));
            double[] ritz = result.singularValues();
            assertEquals(RANK, ritz.length);
            for (int j = 0; j < RANK; j++) {
                double slack = rounding * sigma[0];
                assertTrue(
                        ritz[j] <= sigma[j] + slack && ritz[j] >= sigma[j] * cosine - slack,
                        "Ritz value " + j + ": " + ritz[j] + " against " + sigma[j]);
            }
        }
    }

    /**
     * A matrix of rank 3 with k = 11 columns in the start and no power iteration: the panels are
     * rank-deficient, the factorizations still give orthonormal vectors, and the three top ones
     * span the column space to float64 rounding (\( 10^3 u \): products of length 30, a condition
     * number of 4 between the three singular values).
     */
    @Test
    void aRankDeficientMatrixGivesItsColumnSpace() {
        Random random = new Random(3);
        double[][] left = Dense.gaussian(random, 30, 3, 1);
        double[][] right = Dense.gaussian(random, 3, 20, 1);
        RealMatrix m = new Array2DRowRealMatrix(left).multiply(new Array2DRowRealMatrix(right));
        try (NDManager manager = NDManager.newBaseManager()) {
            RandomizedSubspaceIteration.Result result =
                    new RandomizedSubspaceIteration(0, 8)
                            .leftSingularVectors(
                                    Dense.toArray(manager, m.getData(), DataType.FLOAT64),
                                    3,
                                    new Random(4),
                                    manager);
            RealMatrix computed = matrix(result.vectors());
            RealMatrix exact = new SingularValueDecomposition(m).getU().getSubMatrix(0, 29, 0, 2);
            assertTrue(sine(exact, computed) < 1e3 * Tolerances.FLOAT64_UNIT_ROUNDOFF);
            assertOrthonormal(computed, 1e3 * Tolerances.FLOAT64_UNIT_ROUNDOFF);
        }
    }

    /**
     * The zero matrix (a zero gradient) gives orthonormal, finite vectors, zero Ritz values, and
     * the signs of the convention (each column's largest entry positive).
     */
    @Test
    void theZeroMatrixGivesOrthonormalVectors() {
        try (NDManager manager = NDManager.newBaseManager()) {
            int before = LiveArrays.count(manager);
            RandomizedSubspaceIteration.Result result =
                    new RandomizedSubspaceIteration()
                            .leftSingularVectors(
                                    manager.zeros(new Shape(12, 9), DataType.FLOAT32),
                                    4,
                                    new Random(5),
                                    manager);
            // the zero matrix and the result: every temporary was freed
            assertEquals(before + 2, LiveArrays.count(manager));
            RealMatrix computed = matrix(result.vectors());
            assertOrthonormal(computed, 1e-6);
            for (int c = 0; c < 4; c++) {
                double largest = 0;
                for (int i = 0; i < 12; i++) {
                    double entry = computed.getEntry(i, c);
                    if (Math.abs(entry) > Math.abs(largest)) {
                        largest = entry;
                    }
                }
                assertTrue(largest > 0, "column " + c);
                assertEquals(0.0, result.singularValues()[c]);
            }
        }
    }

    @Test
    void badArgumentsAreRefusedByName() {
        assertMessage(
                "powerIterations must be at least 0, but was -1",
                () -> new RandomizedSubspaceIteration(-1, 0));
        assertMessage(
                "oversampling must be at least 0, but was -2",
                () -> new RandomizedSubspaceIteration(1, -2));
        try (NDManager manager = NDManager.newBaseManager()) {
            RandomizedSubspaceIteration iteration = new RandomizedSubspaceIteration();
            NDArray matrix = manager.ones(new Shape(4, 6));
            assertMessage(
                    "rank must be from 1 to 4, but was 5",
                    () -> iteration.leftSingularVectors(matrix, 5, new Random(1), manager));
            assertMessage(
                    "rank must be from 1 to 4, but was 0",
                    () -> iteration.leftSingularVectors(matrix, 0, new Random(1), manager));
            assertMessage(
                    "matrix must have shape (a, b), but had (24)",
                    () ->
                            iteration.leftSingularVectors(
                                    matrix.reshape(24), 1, new Random(1), manager));
            assertMessage(
                    "matrix must be float32 or float64, but was int32",
                    () ->
                            iteration.leftSingularVectors(
                                    matrix.toType(DataType.INT32, false),
                                    1,
                                    new Random(1),
                                    manager));
        }
    }

    /**
     * The thin QR of the host: orthonormal columns spanning a random panel's, to float64 rounding.
     */
    @Test
    void theHostFactorSpansThePanel() {
        Random random = new Random(8);
        double[][] panel = Dense.gaussian(random, 25, 7, 1);
        double[] flat = new double[25 * 7];
        for (int i = 0; i < 25; i++) {
            System.arraycopy(panel[i], 0, flat, i * 7, 7);
        }
        double[] q = RandomizedSubspaceIteration.orthonormalColumns(flat, 25, 7);
        RealMatrix factor = new Array2DRowRealMatrix(25, 7);
        for (int i = 0; i < 25; i++) {
            for (int j = 0; j < 7; j++) {
                factor.setEntry(i, j, q[i * 7 + j]);
            }
        }
        assertOrthonormal(factor, 100 * Tolerances.FLOAT64_UNIT_ROUNDOFF);
        RealMatrix a = new Array2DRowRealMatrix(panel);
        RealMatrix residual = a.subtract(factor.multiply(factor.transpose()).multiply(a));
        assertTrue(residual.getFrobeniusNorm() < 1e3 * Tolerances.FLOAT64_UNIT_ROUNDOFF);
    }

    private static RealMatrix matrix(NDArray array) {
        int rows = Math.toIntExact(array.getShape().get(0));
        int columns = Math.toIntExact(array.getShape().get(1));
        double[] values = Dense.toDoubles(array);
        RealMatrix m = new Array2DRowRealMatrix(rows, columns);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < columns; j++) {
                m.setEntry(i, j, values[i * columns + j]);
            }
        }
        return m;
    }

    /** \( \|(I - U U^\top) W\|_2 \): the sine of the largest principal angle (U orthonormal). */
    private static double sine(RealMatrix u, RealMatrix w) {
        RealMatrix outside = w.subtract(u.multiply(u.transpose().multiply(w)));
        return new SingularValueDecomposition(outside).getNorm();
    }

    private static void assertOrthonormal(RealMatrix m, double tolerance) {
        RealMatrix gram = m.transpose().multiply(m);
        for (int i = 0; i < gram.getRowDimension(); i++) {
            for (int j = 0; j < gram.getColumnDimension(); j++) {
                assertEquals(i == j ? 1 : 0, gram.getEntry(i, j), tolerance, i + ", " + j);
            }
        }
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
