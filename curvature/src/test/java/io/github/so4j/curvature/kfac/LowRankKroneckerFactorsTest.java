package io.github.so4j.curvature.kfac;

import static io.github.so4j.curvature.kfac.KroneckerAlgebra.dampedKroneckerProduct;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.relativeError;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.toArray;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.toMatrix;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link InversionMode#LOW_RANK} against dense float64 oracles from Commons Math: the exact damped
 * inverses of {@link InversionMode#INVERSE} where a factor's rank is at most k, and the truncated
 * eigendecomposition where a factor has a spectral gap after its k-th eigenvalue.
 *
 * <p>Factors are built as \( Q \mathrm{diag}(\lambda) Q^\top \) with Q from the QR decomposition of
 * a Gaussian matrix, so their spectra are known exactly.
 */
class LowRankKroneckerFactorsTest {

    private static final int RANK = 8;

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private KroneckerFactors factors(int p, int q, int maxFailures) {
        return new KroneckerFactors(
                manager,
                "test",
                p,
                q,
                new KroneckerSettings(0.95, InversionMode.LOW_RANK, maxFailures, 512, RANK));
    }

    /** \( Q \mathrm{diag}(\lambda) Q^\top \) with a random orthogonal Q of size n. */
    private static RealMatrix withSpectrum(Random random, double[] eigenvalues) {
        int n = eigenvalues.length;
        RealMatrix basis =
                new QRDecomposition(
                                new Array2DRowRealMatrix(Dense.gaussian(random, n, n, 1), false))
                        .getQ();
        return basis.multiply(MatrixUtils.createRealDiagonalMatrix(eigenvalues))
                .multiply(basis.transpose());
    }

    /** r eigenvalues from top down to bottom in geometric steps, then n - r of {@code tail}. */
    private static double[] spectrum(int n, int r, double top, double bottom, double tail) {
        double[] values = new double[n];
        for (int i = 0; i < n; i++) {
            values[i] =
                    i < r ? top * Math.pow(bottom / top, i / (double) Math.max(r - 1, 1)) : tail;
        }
        return values;
    }

    private FactorStatistics statistics(RealMatrix a, RealMatrix g) {
        return new FactorStatistics(
                toArray(manager, a, DataType.FLOAT64), toArray(manager, g, DataType.FLOAT64));
    }

    private static double pi(RealMatrix a, RealMatrix g) {
        return Math.sqrt(
                (a.getTrace() / a.getRowDimension()) / (g.getTrace() / g.getRowDimension()));
    }

    /**
     * Factors of rank at most k are captured exactly: Y spans their range, so the formula is
     * INVERSE's \( (G + d_G I)^{-1} M (A + d_A I)^{-1} \) up to rounding. Y's columns carry \(
     * \lambda^2 \) of eigenvalues within a ratio of 4, so Y's Gram matrix has condition number
     * below about \( 4^4 \cdot l \), far above the 1e-12 cutoff, and the directions outside the
     * range are float64 noise (below 1e-15) under it; the result is then accurate to a small
     * multiple of \( 2^{-53} \) times those condition numbers, and {@link
     * Tolerances#FLOAT64_RELATIVE} (1e-9) leaves a wide margin. The case q = 12 (at most 2k) gives
     * G the exact dense inverse.
     */
    @ParameterizedTest(name = "p {0}, q {1}, ranks {2} and {3}, damping {4}")
    @CsvSource({"60, 40, 8, 5, 1e-2", "60, 40, 3, 8, 1", "60, 12, 6, 12, 1e-2"})
    void factorsOfRankAtMostKGiveTheExactDampedInverses(
            int p, int q, int rankA, int rankG, double damping) {
        Random random = new Random(11);
        RealMatrix a = withSpectrum(random, spectrum(p, rankA, 4, 1, 0));
        RealMatrix g = withSpectrum(random, spectrum(q, rankG, 0.4, 0.1, 0));
        RealMatrix m = new Array2DRowRealMatrix(Dense.gaussian(random, q, p, 1), false);
        try (KroneckerFactors factors = factors(p, q, 3)) {
            factors.update(statistics(a, g));
            assertTrue(factors.refresh(damping));
            RealMatrix actual =
                    toMatrix(factors.precondition(toArray(manager, m, DataType.FLOAT64)));
            RealMatrix expected = dampedKroneckerProduct(a, g, m, damping);
            double error = relativeError(actual, expected);
            assertTrue(error < Tolerances.FLOAT64_RELATIVE, "relative error " + error);
        }
    }

    /**
     * A dense layer's weight and bias preconditioned apart ({@link
     * KroneckerFactoredBlock#preconditionScaled}, {@link KroneckerFactors#preconditionLowRank}):
     * the scale times the directions is the same dense oracle as for the joined matrix \( [W, b]
     * \), and the squared norm is \( \langle V, M \rangle \) from that oracle; with a bias and
     * without. The factors have rank at most k, so the formula is exact up to float64 rounding, as
     * in the test above ({@link Tolerances#FLOAT64_RELATIVE}). {@link
     * KroneckerFactoredBlock#precondition} applies the scale itself.
     */
    @ParameterizedTest(name = "bias {0}")
    @CsvSource({"true", "false"})
    void weightAndBiasApartGiveTheJoinedProduct(boolean bias) {
        int p = 60;
        int q = 40;
        double damping = 1e-2;
        Random random = new Random(12);
        RealMatrix a = withSpectrum(random, spectrum(p, 8, 4, 1, 0));
        RealMatrix g = withSpectrum(random, spectrum(q, 5, 0.4, 0.1, 0));
        RealMatrix m = new Array2DRowRealMatrix(Dense.gaussian(random, q, p, 1), false);
        int columns = bias ? p - 1 : p;
        KroneckerSettings settings =
                new KroneckerSettings(0.95, InversionMode.LOW_RANK, 3, 512, RANK);
        try (LinearKroneckerFactored block =
                new LinearKroneckerFactored(manager, "fc", columns, q, bias, settings)) {
            block.factors().update(statistics(a, g));
            assertTrue(block.factors().refresh(damping));
            assertTrue(block.factors().hasLowRankSides());
            RealMatrix expected = dampedKroneckerProduct(a, g, m, damping);
            NDArray weight =
                    toArray(manager, m.getSubMatrix(0, q - 1, 0, columns - 1), DataType.FLOAT64);
            NDArray biasGradient =
                    bias
                            ? toArray(
                                            manager,
                                            m.getSubMatrix(0, q - 1, p - 1, p - 1),
                                            DataType.FLOAT64)
                                    .reshape(q)
                            : null;
            LayerDirection split = block.preconditionScaled(weight, biasGradient);
            assertTrue(split.scale() != null, "the scale is left to the caller");
            RealMatrix actual = toMatrix(joined(split.directions(), bias, q).mul(split.scale()));
            double error = relativeError(actual, expected);
            assertTrue(error < Tolerances.FLOAT64_RELATIVE, "relative error " + error);
            double norm = 0;
            for (int i = 0; i < q; i++) {
                norm += expected.getRowVector(i).dotProduct(m.getRowVector(i));
            }
            double normError = Math.abs(split.squaredNorm().getDouble() - norm) / Math.abs(norm);
            assertTrue(normError < Tolerances.FLOAT64_RELATIVE, "squared norm error " + normError);
            LayerDirection whole = block.precondition(weight, biasGradient);
            assertEquals(null, whole.scale());
            double wholeError =
                    relativeError(toMatrix(joined(whole.directions(), bias, q)), expected);
            assertTrue(wholeError < Tolerances.FLOAT64_RELATIVE, "relative error " + wholeError);
        }
    }

    private static NDArray joined(NDList directions, boolean bias, int q) {
        return bias
                ? directions.get(0).concat(directions.get(1).reshape(q, 1), 1)
                : directions.get(0);
    }

    /**
     * With k eigenvalues from 100 down to 10 and the rest 1e-3, the direction is the truncated
     * formula \( U_k \mathrm{diag}(1/(\mu_i + s) - 1/s) U_k^\top + I/s \) on both sides, from
     * Commons Math's eigendecomposition. Subspace iteration on \( F^2 \Omega \) with l = k + 10
     * columns leaves the top-k subspace at an angle of at most about \( C (\lambda_{k+1} /
     * \lambda_k)^2 \) (Halko, Martinsson and Tropp 2011, theorem 9.2 with one power step), where C,
     * a ratio of singular values of Gaussian blocks, is about 10 here; the eigenvalues move by the
     * square of that. The inverse moves by at most the angle times \( 1/s \), relative to a
     * direction of norm about \( 1/s \) too, so the relative error is of order \( C \cdot 10^{-8}
     * \) (measured: 1.8e-8); the test allows 100 times the squared gap ratio (1e-6), and a single
     * product (\( F \Omega \) alone, the gap ratio to the first power) gives 1e-4 and fails it.
     */
    @Test
    void aSpectralGapAfterKGivesTheTruncatedEigendecomposition() {
        int p = 80;
        int q = 50;
        double damping = 1e-2;
        double gapRatio = 1e-3 / 10;
        Random random = new Random(12);
        RealMatrix a = withSpectrum(random, spectrum(p, RANK, 100, 10, 1e-3));
        RealMatrix g = withSpectrum(random, spectrum(q, RANK, 100, 10, 1e-3));
        RealMatrix m = new Array2DRowRealMatrix(Dense.gaussian(random, q, p, 1), false);
        try (KroneckerFactors factors = factors(p, q, 3)) {
            factors.update(statistics(a, g));
            assertTrue(factors.refresh(damping));
            RealMatrix actual =
                    toMatrix(factors.precondition(toArray(manager, m, DataType.FLOAT64)));
            double pi = pi(a, g);
            RealMatrix expected =
                    truncatedInverse(g, Math.sqrt(damping) / pi)
                            .multiply(m)
                            .multiply(truncatedInverse(a, pi * Math.sqrt(damping)));
            double error = relativeError(actual, expected);
            assertTrue(error < 100 * gapRatio * gapRatio, "relative error " + error);
            // The exact inverse differs by the dropped eigenvalues: the oracle is not trivial.
            RealMatrix exact = dampedKroneckerProduct(a, g, m, damping);
            assertTrue(relativeError(exact, expected) > 1e-4);
        }
    }

    /** The top-k truncated damped inverse of a symmetric matrix, from Commons Math. */
    private static RealMatrix truncatedInverse(RealMatrix f, double shift) {
        int n = f.getRowDimension();
        EigenDecomposition eigen = new EigenDecomposition(f);
        double[] values = eigen.getRealEigenvalues();
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (i, j) -> Double.compare(values[j], values[i]));
        RealMatrix result = MatrixUtils.createRealIdentityMatrix(n).scalarMultiply(1 / shift);
        for (int c = 0; c < RANK; c++) {
            int j = order[c];
            RealMatrix u = eigen.getV().getColumnMatrix(j);
            double coefficient = 1 / (values[j] + shift) - 1 / shift;
            result = result.add(u.multiply(u.transpose()).scalarMultiply(coefficient));
        }
        return result;
    }

    /**
     * A refresh reads once (the weight, traces and both sketches' small matrices); a dense factor
     * adds its counted inversion; a product reads nothing.
     */
    @ParameterizedTest(name = "q {0}: {1} reads")
    @CsvSource({"40, 1", "12, 2"})
    void aRefreshReadsOnceAndAProductNever(int q, long reads) {
        Random random = new Random(13);
        int p = 60;
        RealMatrix a = withSpectrum(random, spectrum(p, p, 4, 0.1, 0));
        RealMatrix g = withSpectrum(random, spectrum(q, q, 4, 0.1, 0));
        try (KroneckerFactors factors = factors(p, q, 3)) {
            factors.update(statistics(a, g));
            long before = HostReads.count();
            assertTrue(factors.refresh(1e-2));
            assertEquals(reads, HostReads.count() - before);
            NDArray m = Dense.toArray(manager, Dense.gaussian(random, q, p, 1), DataType.FLOAT64);
            before = HostReads.count();
            factors.precondition(m).close();
            assertEquals(0, HostReads.count() - before);
            assertFalse(factors.rowsAreCheaper(1));
        }
    }

    /**
     * A NaN factor fails the refresh (counted) and leaves the previous preconditioner, bit for bit;
     * past {@code maxConsecutiveFailures} failures in a row the next throws.
     */
    @Test
    void aNanFactorKeepsThePreviousPreconditioner() {
        Random random = new Random(14);
        int p = 60;
        int q = 40;
        RealMatrix a = withSpectrum(random, spectrum(p, p, 4, 0.1, 0));
        RealMatrix g = withSpectrum(random, spectrum(q, q, 4, 0.1, 0));
        NDArray m = Dense.toArray(manager, Dense.gaussian(random, q, p, 1), DataType.FLOAT64);
        try (KroneckerFactors factors =
                new KroneckerFactors(
                        manager,
                        "test",
                        p,
                        q,
                        new KroneckerSettings(0, InversionMode.LOW_RANK, 1, 512, RANK))) {
            factors.update(statistics(a, g));
            assertTrue(factors.refresh(1e-2));
            double[] before = Dense.toDoubles(factors.precondition(m));
            RealMatrix poisoned = a.copy();
            poisoned.setEntry(3, 5, Double.NaN);
            factors.update(statistics(poisoned, g));
            assertFalse(factors.refresh(1e-2));
            assertArrayEquals(before, Dense.toDoubles(factors.precondition(m)));
            assertEquals(1, factors.health().failedRefreshes());
            assertThrows(IllegalStateException.class, () -> factors.refresh(1e-2));
        }
    }

    /**
     * A restored copy preconditions bit for bit as the original, now and after both take the same
     * further update and refresh (the Gaussian start blocks are rebuilt from their seed).
     */
    @ParameterizedTest(name = "q {0}")
    @CsvSource({"40", "12"})
    void aRestoredCopyIsBitIdentical(int q) {
        Random random = new Random(15);
        int p = 60;
        RealMatrix a = withSpectrum(random, spectrum(p, p, 4, 0.1, 0));
        RealMatrix g = withSpectrum(random, spectrum(q, q, 4, 0.1, 0));
        RealMatrix a2 = withSpectrum(random, spectrum(p, p, 2, 0.1, 0));
        RealMatrix g2 = withSpectrum(random, spectrum(q, q, 3, 0.1, 0));
        NDArray m = Dense.toArray(manager, Dense.gaussian(random, q, p, 1), DataType.FLOAT32);
        try (KroneckerFactors original = factors(p, q, 3);
                KroneckerFactors copy = factors(p, q, 3)) {
            original.update(
                    new FactorStatistics(
                            toArray(manager, a, DataType.FLOAT32),
                            toArray(manager, g, DataType.FLOAT32)));
            assertTrue(original.refresh(1e-2));
            KroneckerFactors.State state = original.state();
            assertEquals(q == 40 ? 6 : 4, state.preconditioner().size());
            copy.restore(state);
            assertArrayEquals(
                    Dense.toDoubles(original.precondition(m)),
                    Dense.toDoubles(copy.precondition(m)));
            for (KroneckerFactors f : new KroneckerFactors[] {original, copy}) {
                f.update(
                        new FactorStatistics(
                                toArray(manager, a2, DataType.FLOAT32),
                                toArray(manager, g2, DataType.FLOAT32)));
                assertTrue(f.refresh(1e-1));
            }
            assertArrayEquals(
                    Dense.toDoubles(original.precondition(m)),
                    Dense.toDoubles(copy.precondition(m)));
        }
    }

    /** A saved basis of the wrong shape is refused, naming it. */
    @Test
    void aMisshapenSavedBasisIsRefused() {
        Random random = new Random(16);
        int p = 60;
        int q = 40;
        RealMatrix a = withSpectrum(random, spectrum(p, p, 4, 0.1, 0));
        RealMatrix g = withSpectrum(random, spectrum(q, q, 4, 0.1, 0));
        try (KroneckerFactors original = factors(p, q, 3);
                KroneckerFactors copy = factors(p, q, 3)) {
            original.update(statistics(a, g));
            assertTrue(original.refresh(1e-2));
            KroneckerFactors.State state = original.state();
            NDList saved = new NDList(state.preconditioner());
            saved.set(1, manager.zeros(new ai.djl.ndarray.types.Shape(q, RANK + 1)));
            KroneckerFactors.State bad =
                    new KroneckerFactors.State(
                            state.inputFactor(),
                            state.outputFactor(),
                            state.weightSum(),
                            saved,
                            state.counters());
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> copy.restore(bad));
            assertTrue(e.getMessage().contains("left low-rank basis"), e.getMessage());
        }
    }

    /** The rank is validated with the other settings. */
    @Test
    void theRankIsValidated() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new KroneckerSettings(0.95, InversionMode.LOW_RANK, 3, 512, 0));
        assertEquals("factorRank must be at least 1, but was 0", e.getMessage());
    }
}
