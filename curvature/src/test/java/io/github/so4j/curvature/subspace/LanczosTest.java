package io.github.so4j.curvature.subspace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.subspace.Lanczos.Eigenpairs;
import io.github.so4j.curvature.subspace.Lanczos.Which;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.Random;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.RealVector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link Lanczos} against matrices of known spectrum, d = 300, checked with the theorems that make
 * Ritz pairs trustworthy: a Ritz value lies within its residual r of an eigenvalue, and the angle
 * of a Ritz vector to its eigenvector has \( \sin \angle \le r / \text{gap} \) (Parlett, The
 * Symmetric Eigenvalue Problem, thms. 4.5.1 and 11.7.1). The residuals are recomputed densely, so
 * the reported ones are checked too.
 */
class LanczosTest {

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

    /** Top 60 eigenvalues 100 * 0.95^i, the rest uniform in [-1, 1]: an indefinite Hessian. */
    private static double[] spectrum(Random random) {
        double[] values = new double[D];
        for (int i = 0; i < D; i++) {
            values[i] = i < 60 ? 100 * Math.pow(0.95, i) : 2 * random.nextDouble() - 1;
        }
        return values;
    }

    @Test
    void topFiftyEigenpairsMatchTheDenseEigendecomposition() {
        Random random = new Random(1);
        KnownSpectrum known = new KnownSpectrum(spectrum(random), random);
        int k = 50;
        Lanczos lanczos = Lanczos.builder().optMaxSteps(200).optTolerance(1e-8).build();
        NDArray matrix = Dense.toArray(manager, known.data(), DataType.FLOAT64);
        NDArray start = Vectors.gaussian(manager, D, DataType.FLOAT64, random);
        Eigenpairs pairs = lanczos.eigenpairs(SymmetricOperator.dense(matrix), k, start, random);
        assertTrue(pairs.converged(), "not converged after " + pairs.steps() + " steps");
        assertEquals(new Shape(k, D), pairs.vectors().getShape());
        double norm = known.norm();
        double rounding = 1e3 * Tolerances.FLOAT64_UNIT_ROUNDOFF * norm;
        for (int i = 0; i < k; i++) {
            double[] y = Dense.toDoubles(pairs.vectors().get(i));
            RealVector yv = new ArrayRealVector(y);
            double residual =
                    known.matrix.operate(yv).subtract(yv.mapMultiply(pairs.values()[i])).getNorm();
            assertEquals(1, yv.getNorm(), 1e-10);
            assertTrue(
                    Math.abs(residual - pairs.residuals()[i]) <= rounding,
                    "pair " + i + ": residual " + residual + " reported " + pairs.residuals()[i]);
            double r = Math.max(residual, pairs.residuals()[i]) + rounding;
            assertTrue(
                    Math.abs(pairs.values()[i] - known.eigenvalues[i]) <= r,
                    "pair " + i + ": " + pairs.values()[i] + " vs " + known.eigenvalues[i]);
            double gap =
                    Math.min(
                            i == 0
                                    ? Double.POSITIVE_INFINITY
                                    : known.eigenvalues[i - 1] - known.eigenvalues[i],
                            known.eigenvalues[i] - known.eigenvalues[i + 1]);
            double cosine = Math.abs(yv.dotProduct(new ArrayRealVector(known.eigenvector(i))));
            double sine = Math.sqrt(Math.max(0, 1 - cosine * cosine));
            assertTrue(sine <= r / gap + 1e-7, "pair " + i + ": sin " + sine);
        }
    }

    /** The dominant eigenvalues of an indefinite matrix, negative ones included. */
    @Test
    void largestMagnitudeFindsNegativeEigenvalues() {
        Random random = new Random(2);
        double[] values = new double[D];
        for (int i = 0; i < D; i++) {
            values[i] = 2 * random.nextDouble() - 1;
        }
        values[10] = -50;
        values[20] = 40;
        values[30] = -30;
        KnownSpectrum known = new KnownSpectrum(values, random);
        NDArray matrix = Dense.toArray(manager, known.data(), DataType.FLOAT64);
        Eigenpairs pairs =
                Lanczos.builder()
                        .optWhich(Which.LARGEST_MAGNITUDE)
                        .optTolerance(1e-10)
                        .build()
                        .eigenpairs(
                                SymmetricOperator.dense(matrix),
                                3,
                                Vectors.gaussian(manager, D, DataType.FLOAT64, random),
                                random);
        assertTrue(pairs.converged());
        double[] expected = {-50, 40, -30};
        for (int i = 0; i < 3; i++) {
            assertEquals(expected[i], pairs.values()[i], pairs.residuals()[i] + 1e-9);
        }
    }

    /**
     * Float32 vectors: the basis is orthogonal to about \( \sqrt{d}\, u \) with \( u = 2^{-24} \),
     * so Ritz values carry an extra error of order \( \sqrt{d}\, u \|A\| \approx 10^{-6} \|A\| \);
     * the bound allows ten times that.
     */
    @Test
    void float32OperatorsGiveTopEigenvaluesToFloatPrecision() {
        Random random = new Random(3);
        KnownSpectrum known = new KnownSpectrum(spectrum(random), random);
        NDArray matrix = Dense.toArray(manager, known.data(), DataType.FLOAT32);
        Eigenpairs pairs =
                Lanczos.builder()
                        .optTolerance(1e-5)
                        .build()
                        .eigenpairs(
                                SymmetricOperator.dense(matrix),
                                10,
                                Vectors.gaussian(manager, D, DataType.FLOAT32, random),
                                random);
        double bound = 10 * Math.sqrt(D) * Tolerances.FLOAT32_UNIT_ROUNDOFF * known.norm();
        for (int i = 0; i < 10; i++) {
            assertEquals(known.eigenvalues[i], pairs.values()[i], pairs.residuals()[i] + bound);
        }
    }

    /**
     * A matrix with three distinct eigenvalues has a Krylov space of dimension 3: asking for 5
     * pairs forces a restart with a vector orthogonal to the basis, and every pair returned must
     * still be an exact eigenpair (a single-vector method cannot tell how often an eigenvalue
     * repeats, so which copies are found depends on the restarts).
     */
    @Test
    void invariantSubspacesRestartWithAnOrthogonalVector() {
        Random random = new Random(4);
        int d = 40;
        double[] values = new double[d];
        for (int i = 0; i < d; i++) {
            values[i] = i < 5 ? 3 : (i < 20 ? 2 : 1);
        }
        KnownSpectrum known = new KnownSpectrum(values, random);
        NDArray matrix = Dense.toArray(manager, known.data(), DataType.FLOAT64);
        Eigenpairs pairs =
                Lanczos.builder()
                        .optTolerance(1e-10)
                        .build()
                        .eigenpairs(
                                SymmetricOperator.dense(matrix),
                                5,
                                Vectors.gaussian(manager, d, DataType.FLOAT64, random),
                                random);
        assertTrue(pairs.steps() > 3, "no restart: " + pairs.steps() + " steps");
        assertEquals(3, pairs.values()[0], 1e-12);
        for (int i = 0; i < 5; i++) {
            double value = pairs.values()[i];
            assertEquals(Math.rint(value), value, 1e-12);
            RealVector y = new ArrayRealVector(Dense.toDoubles(pairs.vectors().get(i)));
            double residual = known.matrix.operate(y).subtract(y.mapMultiply(value)).getNorm();
            assertTrue(residual < 1e-12, "pair " + i + ": residual " + residual);
        }
    }

    @Test
    void badInputIsRejected() {
        NDArray matrix = manager.eye(D, D, 0, DataType.FLOAT64);
        SymmetricOperator operator = SymmetricOperator.dense(matrix);
        Lanczos lanczos = Lanczos.builder().build();
        Random random = new Random(5);
        NDArray start = Vectors.gaussian(manager, D, DataType.FLOAT64, random);
        assertMessage(
                "k must be between 1 and d = 300, but was 301",
                () -> lanczos.eigenpairs(operator, D + 1, start, random));
        assertMessage(
                "start must not be the zero vector",
                () ->
                        lanczos.eigenpairs(
                                operator,
                                2,
                                manager.zeros(new Shape(D), DataType.FLOAT64),
                                random));
        assertMessage(
                "start must have shape (300), but had shape (299)",
                () ->
                        lanczos.eigenpairs(
                                operator,
                                2,
                                manager.ones(new Shape(D - 1), DataType.FLOAT64),
                                random));
        assertMessage(
                "maxSteps must be at least k = 10, but was 5",
                () ->
                        Lanczos.builder()
                                .optMaxSteps(5)
                                .build()
                                .eigenpairs(operator, 10, start, random));
        assertMessage(
                "tolerance must be positive and finite, but was -1.0",
                () -> Lanczos.builder().optTolerance(-1).build());
        assertMessage(
                "matrix must be square, but had shape (3, 4)",
                () -> SymmetricOperator.dense(manager.ones(new Shape(3, 4))));
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
