package io.github.so4j.curvature.lowrank;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link DctBasis} against the DCT-II as it is defined on vectors, evaluated independently in
 * float64, and its orthonormality on the device.
 */
class DctBasisTest {

    /**
     * The DCT-II of x with orthonormal scaling, straight from its definition (SciPy's {@code dct(x,
     * type=2, norm="ortho")}): \( y_k = 2 f_k \sum_j x_j \cos(\pi k (2j + 1) / (2n)) \) with \( f_0
     * = \sqrt{1/(4n)} \) and \( f_k = \sqrt{1/(2n)} \) otherwise.
     */
    private static double[] dct(double[] x) {
        int n = x.length;
        double[] y = new double[n];
        for (int k = 0; k < n; k++) {
            double sum = 0;
            for (int j = 0; j < n; j++) {
                sum += x[j] * Math.cos(Math.PI * k * (2 * j + 1) / (2 * n));
            }
            double f = k == 0 ? Math.sqrt(1.0 / (4 * n)) : Math.sqrt(1.0 / (2 * n));
            y[k] = 2 * f * sum;
        }
        return y;
    }

    /**
     * \( x^\top Q \) equals the DCT-II of x for random vectors x, and \( Q^\top Q = I \), on the
     * device in both dtypes.
     *
     * <p>Tolerances from the rounding of each computation. A float64 entry of Q is off by at most
     * \( \delta = (\pi n + 2) u \) (the cosine's argument, up to \( \pi n \), rounded relatively,
     * then the cosine and the scale), \( u = 2^{-53} \); the reference transform makes the same
     * error, and the product adds \( \gamma_n \approx n u \): \( 2 (\delta + n u) \sum_j |x_j| \).
     * A Gram entry sums n products of columns of norm 1: \( 2 \sqrt{n} \delta + n u \). In float32,
     * Q is rounded once (\( 2^{-24} \) relative per entry) and the products accumulate in float32
     * (\( \gamma_n \) for float32, Higham's bound): \( (2^{-24} + \gamma_n) \sum_j |x_j| \) and \(
     * 2 \sqrt{n} \, 2^{-24} + \gamma_n \), added to the float64 terms.
     */
    @ParameterizedTest(name = "n={0}, {1}")
    @CsvSource({
        "1, FLOAT64",
        "2, FLOAT64",
        "7, FLOAT64",
        "64, FLOAT64",
        "256, FLOAT64",
        "7, FLOAT32",
        "128, FLOAT32"
    })
    void rowsTransformLikeTheDefinitionAndTheBasisIsOrthonormal(int n, DataType type) {
        Random random = new Random(n);
        double u = Tolerances.FLOAT64_UNIT_ROUNDOFF;
        double delta = (Math.PI * n + 2) * u;
        double transformTolerance = 2 * (delta + n * u);
        double gramTolerance = 2 * Math.sqrt(n) * delta + n * u;
        if (type == DataType.FLOAT32) {
            double gamma = Tolerances.float32DotProduct(n);
            transformTolerance += Tolerances.FLOAT32_UNIT_ROUNDOFF + gamma;
            gramTolerance += 2 * Math.sqrt(n) * Tolerances.FLOAT32_UNIT_ROUNDOFF + gamma;
        }
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray q = DctBasis.create(manager, n, type);
            assertEquals(type, q.getDataType());
            double[][] x = Dense.gaussian(random, 3, n, 1);
            if (type == DataType.FLOAT32) {
                x = Dense.roundToFloat(x);
            }
            double[] transformed = Dense.toDoubles(Dense.toArray(manager, x, type).matMul(q));
            for (int i = 0; i < 3; i++) {
                double[] expected = dct(x[i]);
                double scale = 0;
                for (double v : x[i]) {
                    scale += Math.abs(v);
                }
                for (int k = 0; k < n; k++) {
                    assertEquals(
                            expected[k],
                            transformed[i * n + k],
                            transformTolerance * scale,
                            "row " + i + ", frequency " + k);
                }
            }
            double[] gram = Dense.toDoubles(q.transpose().matMul(q));
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    assertEquals(i == j ? 1 : 0, gram[i * n + j], gramTolerance, i + ", " + j);
                }
            }
        }
    }

    /**
     * The host matrix is the transform of the unit vectors, entry by entry: both evaluate the same
     * cosines with differently rounded arguments, \( 2 (\pi n + 2) u \) apart at most.
     */
    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 3, 16, 100})
    void theHostMatrixHoldsTheTransformsOfTheUnitVectors(int n) {
        double[][] q = DctBasis.matrix(n);
        for (int j = 0; j < n; j++) {
            double[] unit = new double[n];
            unit[j] = 1;
            double[] expected = dct(unit);
            for (int k = 0; k < n; k++) {
                assertEquals(
                        expected[k],
                        q[j][k],
                        2 * (Math.PI * n + 2) * Tolerances.FLOAT64_UNIT_ROUNDOFF,
                        j + ", " + k);
            }
        }
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {0, -3})
    void aSizeBelowOneIsRefusedByName(int n) {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> DctBasis.matrix(n));
        assertEquals("n must be at least 1, but was " + n, e.getMessage());
    }
}
