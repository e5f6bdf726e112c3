package io.github.so4j.curvature.linalg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link CoupledNewtonInverseRoot} against \( A^{-1/p} \) from Commons Math's eigendecomposition in
 * float64.
 *
 * <p>Matrices: \( Q \operatorname{diag}(\lambda) Q^\top \), \( \lambda \) log-spaced over [1 /
 * \kappa, 1], sizes 16, 128 and 512, \( \kappa \in \{1, 10^3, 10^6\} \), p in {2, 4}, no ridge (\(
 * \epsilon_{rel} = 0 \)) so that the condition number is the stated one. For float32 the oracle
 * decomposes the float32-rounded matrix, the data the device sees.
 *
 * <p>Tolerances (relative error in the Frobenius norm):
 *
 * <ul>
 *   <li>float64: the relative condition number of \( A \mapsto A^{-1/p} \) is \( \kappa / p \) (the
 *       largest divided difference of \( \lambda^{-1/p} \), at \( \lambda_{\min} \), times \( \|A\|
 *       / \|A^{-1/p}\| \)), and each product of the iteration is backward stable with error \(
 *       \gamma_n \) (Higham, eq. 3.4): the bound is \( \max(\kappa / p, 1) \gamma_n \).
 *   <li>float32: the same bound with float32's \( \gamma_n \) exceeds 1 for \( \kappa = 10^6 \), so
 *       it says nothing there. The test uses the probabilistic estimate \( \max(\kappa / p, 1)
 *       (\sqrt{n} + 4) u \) (rounding errors of random sign in the length-n products, Higham
 *       section 2.8, plus four scalar roundings in the scaling: reciprocal, power, two products)
 *       where it is below 1e-2, and 1e-2 otherwise: the accuracy Shampoo needs, since a
 *       preconditioner that is 1% off changes a direction far less than the gradient noise, and
 *       grafting resets its norm. Measured (n = 16 to 512): 0.9e-3 to 4.4e-3 for \( \kappa = 10^6
 *       \), 1.7e-6 to 8.3e-6 for \( \kappa = 10^3 \), at most 1.8e-7 for \( \kappa = 1 \); float64:
 *       3e-12 to 1.2e-10, 2e-14 to 2e-13 and below 4e-15.
 * </ul>
 */
class CoupledNewtonInverseRootTest {

    private static final Map<String, double[][]> ORACLES = new HashMap<>();
    private static NDManager shared;
    private NDManager manager;

    @BeforeAll
    static void openShared() {
        shared = NDManager.newBaseManager();
    }

    @AfterAll
    static void closeShared() {
        shared.close();
        ORACLES.clear();
    }

    @BeforeEach
    void open() {
        manager = shared.newSubManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    static Stream<Arguments> sweep() {
        Stream.Builder<Arguments> cases = Stream.builder();
        for (int n : new int[] {16, 128, 512}) {
            for (double kappa : new double[] {1, 1e3, 1e6}) {
                for (int p : new int[] {2, 4}) {
                    cases.add(Arguments.of(n, kappa, p, DataType.FLOAT64));
                    cases.add(Arguments.of(n, kappa, p, DataType.FLOAT32));
                }
            }
        }
        return cases.build();
    }

    @ParameterizedTest(name = "n={0} kappa={1} p={2} {3}")
    @MethodSource("sweep")
    void matchesTheEigendecompositionOracle(int n, double kappa, int p, DataType type) {
        double[][] a = Spd.withConditionNumber(n, kappa, new Random(n + 7L * (long) kappa));
        if (type == DataType.FLOAT32) {
            a = Dense.roundToFloat(a);
        }
        NDArray matrices = Dense.toArray(manager, Spd.flatten(a), type).reshape(new Shape(1, n, n));
        InverseRoots roots = new CoupledNewtonInverseRoot().compute(matrices, p, 0, manager);
        assertEquals(0.0, roots.epsilons()[0]);
        String key = n + "/" + kappa + "/" + p + "/" + type;
        double[][] a0 = a;
        double[][] expected = ORACLES.computeIfAbsent(key, k -> Spd.inverseRoot(a0, p, 0));
        double error = Spd.relativeError(Dense.toDoubles(roots.roots()), expected);
        double condition = Math.max(kappa / p, 1);
        double tolerance =
                type == DataType.FLOAT64
                        ? condition * gamma(n, Tolerances.FLOAT64_UNIT_ROUNDOFF)
                        : Math.min(
                                1e-2,
                                condition * (Math.sqrt(n) + 4) * Tolerances.FLOAT32_UNIT_ROUNDOFF);
        assertTrue(
                error <= tolerance,
                "relative error " + error + " > " + tolerance + " after " + roots.iterations());
        assertTrue(roots.maxResidual() <= 1e-5, "Newton residual " + roots.maxResidual());
    }

    private static double gamma(int n, double u) {
        return n * u / (1 - n * u);
    }

    /**
     * The ridge is the relative epsilon times the largest eigenvalue (up to the power iteration's
     * error, which is tiny here: a gap of 10 between the two largest eigenvalues shrinks the
     * Rayleigh quotient's error by \( 10^{-2k} \)); directions of the null space get \(
     * \epsilon^{-1/p} \). Oracle: the closed form of a diagonal matrix.
     */
    @Test
    void ridgeIsRelativeToTheLargestEigenvalue() {
        double[] diagonal = {100, 10, 0, 0, 1};
        double[][] a = new double[5][5];
        for (int i = 0; i < 5; i++) {
            a[i][i] = diagonal[i];
        }
        double relative = 1e-4;
        InverseRoots roots =
                new CoupledNewtonInverseRoot()
                        .compute(
                                Dense.toArray(manager, Spd.flatten(a), DataType.FLOAT64)
                                        .reshape(1, 5, 5),
                                4,
                                relative,
                                manager);
        double epsilon = roots.epsilons()[0];
        assertEquals(relative * 100, epsilon, 1e-12 * relative * 100);
        // kappa(A + eps I) = (100 + 0.01) / 0.01 = 1e4: tolerance (kappa / p) gamma_5
        double tolerance = 1e4 / 4 * gamma(5, Tolerances.FLOAT64_UNIT_ROUNDOFF);
        double[] x = Dense.toDoubles(roots.roots());
        for (int i = 0; i < 5; i++) {
            for (int j = 0; j < 5; j++) {
                double expected = i == j ? Math.pow(diagonal[i] + epsilon, -0.25) : 0;
                assertEquals(expected, x[i * 5 + j], tolerance * x[0], "entry " + i + ", " + j);
            }
        }
        double residual =
                InverseRootResidual.of(
                        Dense.toArray(manager, Spd.flatten(a), DataType.FLOAT64).reshape(5, 5),
                        roots.roots().get(0),
                        4,
                        epsilon);
        assertTrue(
                residual < 1e4 * gamma(5, Tolerances.FLOAT64_UNIT_ROUNDOFF),
                "residual " + residual);
    }

    @Test
    void zeroMatrixGetsTheRootOfTheRelativeEpsilon() {
        NDArray zero = manager.zeros(new Shape(2, 3, 3), DataType.FLOAT32);
        InverseRoots roots = new CoupledNewtonInverseRoot().compute(zero, 2, 1e-6, manager);
        assertArrayEquals(new double[] {1e-6, 1e-6}, roots.epsilons(), 1e-12);
        float[] x = roots.roots().toFloatArray();
        for (int b = 0; b < 2; b++) {
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                    assertEquals(i == j ? 1000f : 0f, x[b * 9 + i * 3 + j], 1e-3f);
                }
            }
        }
    }

    /** Matrices of a batch do not influence each other: the batch equals one-at-a-time runs. */
    @Test
    void batchEqualsSeparateComputations() {
        int n = 24;
        double[][][] matrices = {
            Spd.withConditionNumber(n, 1e2, new Random(1)),
            Spd.withConditionNumber(n, 1e5, new Random(2)),
            Spd.withConditionNumber(n, 1, new Random(3))
        };
        double[] flat = new double[3 * n * n];
        for (int b = 0; b < 3; b++) {
            System.arraycopy(Spd.flatten(matrices[b]), 0, flat, b * n * n, n * n);
        }
        NDArray batch = Dense.toArray(manager, flat, DataType.FLOAT64).reshape(3, n, n);
        CoupledNewtonInverseRoot method = new CoupledNewtonInverseRoot();
        InverseRoots together = method.compute(batch, 4, 1e-6, manager);
        double[] all = Dense.toDoubles(together.roots());
        for (int b = 0; b < 3; b++) {
            InverseRoots alone =
                    method.compute(
                            Dense.toArray(manager, Spd.flatten(matrices[b]), DataType.FLOAT64)
                                    .reshape(1, n, n),
                            4,
                            1e-6,
                            manager);
            double[] one = Dense.toDoubles(alone.roots());
            double[] part = java.util.Arrays.copyOfRange(all, b * n * n, (b + 1) * n * n);
            // each matrix runs the same operations; extra steps of the batch leave a converged
            // root at its rounding floor, (kappa / p) gamma_n with kappa <= 1e5
            assertTrue(
                    Dense.relativeError(part, one)
                            < 1e5 / 4 * gamma(n, Tolerances.FLOAT64_UNIT_ROUNDOFF),
                    "matrix " + b + ": " + Dense.relativeError(part, one));
            assertEquals(
                    alone.epsilons()[0],
                    together.epsilons()[b],
                    gamma(n, Tolerances.FLOAT64_UNIT_ROUNDOFF) * alone.epsilons()[0]);
        }
    }

    /**
     * An indefinite matrix (an eigenvalue -0.5 next to 1) has no real inverse root: the iteration
     * must report a large residual, so that callers reject it, and stop early rather than run to
     * the maximum.
     */
    @Test
    void indefiniteMatrixIsReportedByItsResidual() {
        double[][] a = {{1, 0}, {0, -0.5}};
        InverseRoots roots =
                new CoupledNewtonInverseRoot()
                        .compute(
                                Dense.toArray(manager, Spd.flatten(a), DataType.FLOAT32)
                                        .reshape(1, 2, 2),
                                4,
                                1e-6,
                                manager);
        assertFalse(roots.within(0, 1e-2), "residual " + roots.residuals()[0]);
        assertTrue(roots.iterations() < CoupledNewtonInverseRoot.DEFAULT_MAX_ITERATIONS);
    }

    @Test
    void nonFiniteMatrixGivesNanResidualQuickly() {
        NDArray a = manager.eye(4).expandDims(0);
        a = a.add(manager.create(new float[] {Float.NaN}).reshape(1, 1, 1).mul(a));
        InverseRoots roots = new CoupledNewtonInverseRoot().compute(a, 4, 1e-6, manager);
        assertTrue(Double.isNaN(roots.residuals()[0]));
        assertFalse(roots.allWithin(1));
        assertTrue(roots.iterations() <= 1);
    }

    @Test
    void repeatedComputationsLeaveNoArraysBehind() {
        NDArray a =
                Dense.toArray(
                                manager,
                                Spd.flatten(Spd.withConditionNumber(20, 1e4, new Random(4))),
                                DataType.FLOAT32)
                        .reshape(1, 20, 20);
        CoupledNewtonInverseRoot method = new CoupledNewtonInverseRoot();
        int before = LiveArrays.count(manager);
        for (int i = 0; i < 20; i++) {
            try (NDManager owner = manager.newSubManager()) {
                method.compute(a, 4, 1e-6, owner);
            }
        }
        assertEquals(before, LiveArrays.count(manager));
    }

    /**
     * Every read goes through {@link HostReads}: one per Newton step and one at the start (the
     * starting residuals with the ridges), for a batch as for one matrix; nothing else.
     */
    @Test
    void readsOncePerStepPlusOneAndCountsThem() {
        int n = 12;
        double[] flat = new double[2 * n * n];
        System.arraycopy(
                Spd.flatten(Spd.withConditionNumber(n, 1e3, new Random(5))), 0, flat, 0, n * n);
        System.arraycopy(
                Spd.flatten(Spd.withConditionNumber(n, 10, new Random(6))), 0, flat, n * n, n * n);
        NDArray batch = Dense.toArray(manager, flat, DataType.FLOAT32).reshape(2, n, n);
        long before = HostReads.count();
        InverseRoots roots = new CoupledNewtonInverseRoot().compute(batch, 4, 1e-4, manager);
        assertTrue(roots.iterations() > 1, "iterations " + roots.iterations());
        assertEquals(roots.iterations() + 1, HostReads.count() - before);
    }

    @Test
    void invalidArgumentsAreNamed() {
        NDArray a = manager.eye(3).expandDims(0);
        CoupledNewtonInverseRoot method = new CoupledNewtonInverseRoot();
        assertMessage(
                "maxIterations must be at least 1, but was 0",
                () -> new CoupledNewtonInverseRoot(0, 1e-6));
        assertMessage(
                "tolerance must be non-negative and finite, but was -1.0",
                () -> new CoupledNewtonInverseRoot(10, -1));
        assertMessage("p must be at least 1, but was 0", () -> method.compute(a, 0, 0, manager));
        assertMessage(
                "relativeEpsilon must be non-negative and finite, but was NaN",
                () -> method.compute(a, 2, Double.NaN, manager));
        assertMessage(
                "matrices must have shape (b, n, n), but had (3, 3)",
                () -> method.compute(manager.eye(3), 2, 0, manager));
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
