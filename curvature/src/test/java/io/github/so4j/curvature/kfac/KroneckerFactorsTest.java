package io.github.so4j.curvature.kfac;

import static io.github.so4j.curvature.kfac.KroneckerAlgebra.dampedKroneckerProduct;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.kron;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.relativeError;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.secondMoment;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.shiftedInverse;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.toArray;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.toMatrix;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.Arrays;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link KroneckerFactors} against the dense formulas of its two inversion modes, evaluated in
 * float64 with Commons Math.
 *
 * <p>The factors are second moments of Gaussian rows (A: p = 7, full rank; G: q = 5, rank 3, as
 * output gradients of a small batch are), so with damping at least 1e-3 the damped matrices have
 * condition numbers below about 1e4 and float64 results agree to {@link
 * Tolerances#FLOAT64_RELATIVE}.
 */
class KroneckerFactorsTest {

    private static final int P = 7;
    private static final int Q = 5;

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private KroneckerFactors factors(InversionMode mode) {
        return new KroneckerFactors(
                manager, "test", P, Q, new KroneckerSettings(0.95, mode, 3, 512));
    }

    private FactorStatistics statistics(RealMatrix a, RealMatrix g, DataType type) {
        return new FactorStatistics(toArray(manager, a, type), toArray(manager, g, type));
    }

    @ParameterizedTest(name = "damping {0}")
    @ValueSource(doubles = {1e-1, 1e-3})
    void inverseModeIsFactoredTikhonovWithThePiCorrection(double damping) {
        Random random = new Random(3);
        RealMatrix a = secondMoment(random, 20, P, 1);
        RealMatrix g = secondMoment(random, 3, Q, 0.3);
        RealMatrix m = new Array2DRowRealMatrix(Dense.gaussian(random, Q, P, 1), false);
        try (KroneckerFactors factors = factors(InversionMode.INVERSE)) {
            factors.update(statistics(a, g, DataType.FLOAT64));
            assertTrue(factors.refresh(damping));
            RealMatrix actual =
                    toMatrix(factors.precondition(toArray(manager, m, DataType.FLOAT64)));
            RealMatrix expected = dampedKroneckerProduct(a, g, m, damping);
            double error = relativeError(actual, expected);
            assertTrue(error < Tolerances.FLOAT64_RELATIVE, "relative error " + error);
        }
    }

    @ParameterizedTest(name = "damping {0}")
    @ValueSource(doubles = {1e-1, 1e-3})
    void eigenModeIsTheExactDampedKroneckerInverse(double damping) {
        Random random = new Random(4);
        RealMatrix a = secondMoment(random, 20, P, 1);
        RealMatrix g = secondMoment(random, 3, Q, 0.3);
        RealMatrix m = new Array2DRowRealMatrix(Dense.gaussian(random, Q, P, 1), false);
        try (KroneckerFactors factors = factors(InversionMode.EIGEN)) {
            factors.update(statistics(a, g, DataType.FLOAT64));
            assertTrue(factors.refresh(damping));
            RealMatrix actual =
                    toMatrix(factors.precondition(toArray(manager, m, DataType.FLOAT64)));
            RealMatrix fisher =
                    kron(a, g)
                            .add(
                                    MatrixUtils.createRealIdentityMatrix(P * Q)
                                            .scalarMultiply(damping));
            double[] solved =
                    new LUDecomposition(fisher)
                            .getSolver()
                            .solve(new ArrayRealVector(KroneckerAlgebra.vec(m)))
                            .toArray();
            RealMatrix expected = KroneckerAlgebra.unvec(solved, Q, P);
            double error = relativeError(actual, expected);
            assertTrue(error < Tolerances.FLOAT64_RELATIVE, "relative error " + error);
            assertEquals(InversionMode.EIGEN, factors.mode());
        }
    }

    /**
     * In float32 the inverses are computed in float64 and rounded (relative error u each), then two
     * float32 products of inner lengths q and p add \( \gamma_q \) and \( \gamma_p \) relative to
     * the products of absolute values, so \( \|V - V^*\|_F \le (2u + \gamma_q + \gamma_p)
     * \|G_d^{-1}\|_F \|M\|_F \|A_d^{-1}\|_F \); the test allows twice that. The oracle sees the
     * float32-rounded inputs.
     */
    @Test
    void inverseModeInFloat32IsWithinTheRoundingBound() {
        double damping = 1e-3;
        Random random = new Random(5);
        RealMatrix a = KroneckerAlgebra.roundToFloat(secondMoment(random, 20, P, 1));
        RealMatrix g = KroneckerAlgebra.roundToFloat(secondMoment(random, 3, Q, 0.3));
        RealMatrix m =
                KroneckerAlgebra.roundToFloat(
                        new Array2DRowRealMatrix(Dense.gaussian(random, Q, P, 1), false));
        try (KroneckerFactors factors = factors(InversionMode.INVERSE)) {
            factors.update(statistics(a, g, DataType.FLOAT32));
            assertTrue(factors.refresh(damping));
            RealMatrix actual =
                    toMatrix(factors.precondition(toArray(manager, m, DataType.FLOAT32)));
            double pi = Math.sqrt((a.getTrace() / P) / (g.getTrace() / Q));
            RealMatrix left = shiftedInverse(g, Math.sqrt(damping) / pi);
            RealMatrix right = shiftedInverse(a, pi * Math.sqrt(damping));
            RealMatrix expected = left.multiply(m).multiply(right);
            double u = Tolerances.FLOAT32_UNIT_ROUNDOFF;
            double bound =
                    2
                            * (2 * u
                                    + Tolerances.float32DotProduct(Q)
                                    + Tolerances.float32DotProduct(P))
                            * left.getFrobeniusNorm()
                            * m.getFrobeniusNorm()
                            * right.getFrobeniusNorm();
            double error = actual.subtract(expected).getFrobeniusNorm();
            assertTrue(error < bound, "error " + error + " above the bound " + bound);
        }
    }

    /**
     * The running factors are the debiased exponential average: after three updates with decay \(
     * \rho \), \( A = (\rho^2 S_1 + \rho S_2 + S_3) / (\rho^2 + \rho + 1) \).
     */
    @Test
    void runningFactorsAreTheDebiasedExponentialAverage() {
        double rho = 0.9;
        Random random = new Random(6);
        RealMatrix[] a = new RealMatrix[3];
        RealMatrix[] g = new RealMatrix[3];
        try (KroneckerFactors factors =
                new KroneckerFactors(
                        manager,
                        "test",
                        P,
                        Q,
                        new KroneckerSettings(rho, InversionMode.INVERSE, 3, 512))) {
            for (int i = 0; i < 3; i++) {
                a[i] = secondMoment(random, 4, P, 1);
                g[i] = secondMoment(random, 4, Q, 1);
                factors.update(statistics(a[i], g[i], DataType.FLOAT64));
            }
            double total = rho * rho + rho + 1;
            RealMatrix expectedA =
                    a[0].scalarMultiply(rho * rho)
                            .add(a[1].scalarMultiply(rho))
                            .add(a[2])
                            .scalarMultiply(1 / total);
            RealMatrix expectedG =
                    g[0].scalarMultiply(rho * rho)
                            .add(g[1].scalarMultiply(rho))
                            .add(g[2])
                            .scalarMultiply(1 / total);
            assertTrue(relativeError(toMatrix(factors.inputFactor()), expectedA) < 1e-14);
            assertTrue(relativeError(toMatrix(factors.outputFactor()), expectedG) < 1e-14);
            assertEquals(3, factors.health().factorUpdates());
        }
    }

    /**
     * The first update gives the statistics themselves, bit for bit (the running factor's weight is
     * then exactly 0), and so does every update with decay 0; the next update with decay 0.95 does
     * not.
     */
    @ParameterizedTest(name = "decay {0}")
    @ValueSource(doubles = {0.95, 0})
    void anUpdateWithNothingToKeepGivesTheStatisticsExactly(double decay) {
        Random random = new Random(7);
        try (KroneckerFactors factors =
                new KroneckerFactors(
                        manager,
                        "test",
                        P,
                        Q,
                        new KroneckerSettings(decay, InversionMode.INVERSE, 3, 512))) {
            for (int i = 0; i < 2; i++) {
                FactorStatistics statistics =
                        statistics(
                                secondMoment(random, 4, P, 1),
                                secondMoment(random, 4, Q, 1),
                                DataType.FLOAT32);
                factors.update(statistics);
                boolean exact = i == 0 || decay == 0;
                assertEquals(
                        exact,
                        Arrays.equals(
                                statistics.input().toFloatArray(),
                                factors.inputFactor().toFloatArray()),
                        "update " + (i + 1));
                assertEquals(
                        exact,
                        Arrays.equals(
                                statistics.output().toFloatArray(),
                                factors.outputFactor().toFloatArray()),
                        "update " + (i + 1));
            }
        }
    }

    /** A refresh reads the factors and must leave them bit for bit as they were. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"INVERSE/FLOAT32", "INVERSE/FLOAT64", "EIGEN/FLOAT32", "EIGEN/FLOAT64"})
    void refreshLeavesTheFactorsUntouched(String modeAndType) {
        String[] parts = modeAndType.split("/");
        DataType type = DataType.valueOf(parts[1]);
        Random random = new Random(12);
        try (KroneckerFactors factors = factors(InversionMode.valueOf(parts[0]))) {
            factors.update(
                    statistics(
                            secondMoment(random, 20, P, 1), secondMoment(random, 3, Q, 1), type));
            double[] a = Dense.toDoubles(factors.inputFactor());
            double[] g = Dense.toDoubles(factors.outputFactor());
            assertTrue(factors.refresh(1e-3));
            assertTrue(factors.refresh(1e-3));
            assertArrayEquals(a, Dense.toDoubles(factors.inputFactor()), 0);
            assertArrayEquals(g, Dense.toDoubles(factors.outputFactor()), 0);
        }
    }

    @Test
    void piCorrectionIsTheRatioOfMeanEigenvaluesOrOne() {
        assertEquals(2.0, KroneckerFactors.piCorrection(8, 2), 0);
        assertEquals(1.0, KroneckerFactors.piCorrection(0, 2), 0);
        assertEquals(1.0, KroneckerFactors.piCorrection(3, 0), 0);
        assertEquals(1.0, KroneckerFactors.piCorrection(Double.NaN, 1), 0);
    }

    /**
     * A failed inversion keeps the previous preconditioner, bit for bit, and is counted; one more
     * failure than tolerated in a row throws with the cause chained. The factor is poisoned through
     * {@link KroneckerFactors#update}, which trusts its caller's finiteness check.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"INVERSE", "EIGEN"})
    void failedInversionsKeepThePreviousPreconditionerThenThrow(String modeName) {
        InversionMode mode = InversionMode.valueOf(modeName);
        Random random = new Random(7);
        RealMatrix a = secondMoment(random, 20, P, 1);
        RealMatrix g = secondMoment(random, 3, Q, 0.3);
        NDArray m = Dense.toArray(manager, Dense.gaussian(random, Q, P, 1), DataType.FLOAT32);
        try (KroneckerFactors factors =
                new KroneckerFactors(
                        manager, "layer7", P, Q, new KroneckerSettings(0.5, mode, 2, 512))) {
            factors.update(statistics(a, g, DataType.FLOAT32));
            assertTrue(factors.refresh(1e-2));
            float[] before = factors.precondition(m).toFloatArray();
            RealMatrix poisoned = a.copy();
            poisoned.setEntry(1, 2, Double.NaN);
            poisoned.setEntry(2, 1, Double.NaN);
            factors.update(statistics(poisoned, g, DataType.FLOAT32));
            assertFalse(factors.refresh(1e-2));
            assertFalse(factors.refresh(1e-2));
            assertArrayEquals(before, factors.precondition(m).toFloatArray(), 0f);
            assertEquals(2, factors.health().failedRefreshes());
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, () -> factors.refresh(1e-2));
            assertEquals(
                    "K-FAC layer layer7: the damped inverse failed 3 times in a row (more than"
                            + " maxConsecutiveFailures = 2); a larger damping may help",
                    e.getMessage());
            assertNotNull(e.getCause());
        }
    }

    /** A success resets the streak: failures that are not consecutive never throw. */
    @Test
    void aSuccessfulRefreshResetsTheStreak() {
        Random random = new Random(8);
        RealMatrix a = secondMoment(random, 20, P, 1);
        RealMatrix g = secondMoment(random, 3, Q, 0.3);
        RealMatrix poisoned = a.copy();
        poisoned.setEntry(0, 0, Double.NaN);
        try (KroneckerFactors factors =
                new KroneckerFactors(
                        manager,
                        "test",
                        P,
                        Q,
                        new KroneckerSettings(0, InversionMode.INVERSE, 1, 512))) {
            for (int round = 0; round < 3; round++) {
                factors.update(statistics(a, g, DataType.FLOAT64));
                assertTrue(factors.refresh(1e-3));
                factors.update(statistics(poisoned, g, DataType.FLOAT64));
                assertFalse(factors.refresh(1e-3));
            }
            assertEquals(3, factors.health().failedRefreshes());
            assertEquals(3, factors.health().refreshes());
        }
    }

    /** A factor above the host eigensolver's limit makes EIGEN fall back to INVERSE. */
    @Test
    void eigenFallsBackToInverseAboveTheHostLimit() {
        Random random = new Random(9);
        RealMatrix a = secondMoment(random, 20, P, 1);
        RealMatrix g = secondMoment(random, 3, Q, 0.3);
        RealMatrix m = new Array2DRowRealMatrix(Dense.gaussian(random, Q, P, 1), false);
        try (KroneckerFactors fallback =
                        new KroneckerFactors(
                                manager,
                                "big",
                                P,
                                Q,
                                new KroneckerSettings(0.95, InversionMode.EIGEN, 3, P - 1));
                KroneckerFactors inverse = factors(InversionMode.INVERSE)) {
            assertEquals(InversionMode.INVERSE, fallback.mode());
            assertEquals(1, fallback.health().inverseFallbacks());
            fallback.update(statistics(a, g, DataType.FLOAT64));
            inverse.update(statistics(a, g, DataType.FLOAT64));
            fallback.refresh(1e-3);
            inverse.refresh(1e-3);
            NDArray x = toArray(manager, m, DataType.FLOAT64);
            assertArrayEquals(
                    inverse.precondition(x).toDoubleArray(),
                    fallback.precondition(x).toDoubleArray(),
                    0);
        }
    }

    @Test
    void rejectedStatisticsAreCountedAndLeaveTheFactors() {
        Random random = new Random(10);
        try (KroneckerFactors factors = factors(InversionMode.INVERSE)) {
            factors.update(
                    statistics(
                            secondMoment(random, 9, P, 1),
                            secondMoment(random, 9, Q, 1),
                            DataType.FLOAT64));
            double[] before = factors.inputFactor().toDoubleArray();
            factors.rejectUpdate();
            factors.rejectUpdate();
            assertArrayEquals(before, factors.inputFactor().toDoubleArray(), 0);
            assertEquals(2, factors.health().rejectedFactorUpdates());
            assertEquals(1, factors.health().factorUpdates());
        }
    }

    @Test
    void misuseFailsWithTheValue() {
        try (KroneckerFactors factors = factors(InversionMode.INVERSE)) {
            IllegalStateException early =
                    assertThrows(IllegalStateException.class, () -> factors.refresh(1e-3));
            assertEquals("K-FAC layer test: no statistics to invert yet", early.getMessage());
            IllegalArgumentException damping =
                    assertThrows(IllegalArgumentException.class, () -> factors.refresh(-1));
            assertEquals("damping must be positive and finite, but was -1.0", damping.getMessage());
            IllegalArgumentException shape =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    factors.update(
                                            new FactorStatistics(
                                                    manager.zeros(
                                                            new ai.djl.ndarray.types.Shape(Q, Q)),
                                                    manager.zeros(
                                                            new ai.djl.ndarray.types.Shape(
                                                                    Q, Q)))));
            assertEquals(
                    "input statistic must have shape (7, 7), but had (5, 5)", shape.getMessage());
        }
    }

    @Test
    void invalidSettingsFailWithTheirValues() {
        assertEquals(
                "factorDecay must be in [0, 1), but was 1.0",
                assertThrows(
                                IllegalArgumentException.class,
                                () -> new KroneckerSettings(1, InversionMode.EIGEN, 3, 512))
                        .getMessage());
        assertEquals(
                "maxConsecutiveFailures must be at least 0, but was -1",
                assertThrows(
                                IllegalArgumentException.class,
                                () -> new KroneckerSettings(0.9, InversionMode.EIGEN, -1, 512))
                        .getMessage());
        assertEquals(
                "hostEigenLimit must be at least 1, but was 0",
                assertThrows(
                                IllegalArgumentException.class,
                                () -> new KroneckerSettings(0.9, InversionMode.EIGEN, 3, 0))
                        .getMessage());
    }

    /** Updates, refreshes and products in both modes must not grow the live arrays. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"INVERSE", "EIGEN"})
    void repeatedUseLeavesTheLiveArrayCountFlat(String modeName) {
        Random random = new Random(11);
        try (KroneckerFactors factors = factors(InversionMode.valueOf(modeName))) {
            int before = LiveArrays.count(manager);
            for (int i = 0; i < 200; i++) {
                try (NDManager step = manager.newSubManager()) {
                    factors.update(
                            new FactorStatistics(
                                    toArray(step, secondMoment(random, 9, P, 1), DataType.FLOAT32),
                                    toArray(
                                            step,
                                            secondMoment(random, 9, Q, 1),
                                            DataType.FLOAT32)));
                    if (i % 10 == 0) {
                        factors.refresh(1e-3);
                    }
                    factors.precondition(step.randomNormal(new ai.djl.ndarray.types.Shape(Q, P)));
                }
                if (i == 0) {
                    before = LiveArrays.count(manager);
                }
            }
            assertEquals(before, LiveArrays.count(manager));
        }
    }
}
