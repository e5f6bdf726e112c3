package io.github.so4j.curvature.lowrank;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link OnlinePca#gradient} against the gradient of \( \|P P^\top X - X\|_F^2 \) written in its
 * first form, \( 2 (E X^\top P + X E^\top P) \), in float64 with Commons Math, which is itself
 * checked against central differences of the objective.
 */
class OnlinePcaTest {

    private static double objective(RealMatrix p, RealMatrix x) {
        double norm = p.multiply(p.transpose()).multiply(x).subtract(x).getFrobeniusNorm();
        return norm * norm;
    }

    /** The first form: \( 2 (E X^\top P + X E^\top P) \), \( E = P P^\top X - X \). */
    private static RealMatrix reference(RealMatrix p, RealMatrix x) {
        RealMatrix e = p.multiply(p.transpose()).multiply(x).subtract(x);
        return e.multiply(x.transpose())
                .multiply(p)
                .add(x.multiply(e.transpose()).multiply(p))
                .scalarMultiply(2);
    }

    /**
     * A basis that is not orthonormal (Gaussian, scale 0.3) and a Gaussian X, tall and wide.
     *
     * <p>Central differences with step h: truncation \( h^2 \|L'''\| / 6 \) and cancellation \( u L
     * / h \); L is a quartic in P with coefficients of the size of \( \|X\|^2 \) (at most 100
     * here), so h = 1e-5 leaves both below 1e-7 relative to the gradient's largest entry (checked
     * at 1e-6). The device gradient against the reference: float64, a few products of length at
     * most s + o, \( 10^3 u \) relative to the largest entry; float32, \( 10 \gamma_{s + o} \) on
     * inputs rounded to float32 (Higham's dot-product bound, the products chained a few deep).
     */
    @ParameterizedTest(name = "{0} x {1}, r={2}, {3}")
    @CsvSource({"12, 30, 3, FLOAT64", "30, 7, 4, FLOAT64", "20, 25, 5, FLOAT32"})
    void theGradientMatchesTheFirstFormAndFiniteDifferences(int s, int o, int r, DataType type) {
        Random random = new Random(s * 100L + o);
        double[][] pValues = Dense.gaussian(random, s, r, 0.3);
        double[][] xValues = Dense.gaussian(random, s, o, 1);
        if (type == DataType.FLOAT32) {
            pValues = Dense.roundToFloat(pValues);
            xValues = Dense.roundToFloat(xValues);
        }
        RealMatrix p = new Array2DRowRealMatrix(pValues);
        RealMatrix x = new Array2DRowRealMatrix(xValues);
        RealMatrix expected = reference(p, x);
        double largest = 0;
        for (int i = 0; i < s; i++) {
            for (int j = 0; j < r; j++) {
                largest = Math.max(largest, Math.abs(expected.getEntry(i, j)));
            }
        }
        double h = 1e-5;
        for (int i = 0; i < s; i++) {
            for (int j = 0; j < r; j++) {
                RealMatrix plus = p.copy();
                RealMatrix minus = p.copy();
                plus.addToEntry(i, j, h);
                minus.addToEntry(i, j, -h);
                double difference = (objective(plus, x) - objective(minus, x)) / (2 * h);
                assertEquals(expected.getEntry(i, j), difference, 1e-6 * largest, "d/dP " + i + j);
            }
        }
        double tolerance =
                type == DataType.FLOAT64
                        ? 1e3 * Tolerances.FLOAT64_UNIT_ROUNDOFF
                        : 10 * Tolerances.float32DotProduct(s + o);
        try (NDManager manager = NDManager.newBaseManager()) {
            long reads = HostReads.count();
            double[] twoProducts =
                    Dense.toDoubles(
                            OnlinePca.gradient(
                                    Dense.toArray(manager, pValues, type),
                                    Dense.toArray(manager, xValues, type)));
            assertEquals(0, HostReads.count() - reads);
            for (int i = 0; i < s; i++) {
                for (int j = 0; j < r; j++) {
                    assertEquals(
                            expected.getEntry(i, j),
                            twoProducts[i * r + j],
                            tolerance * largest,
                            i + ", " + j);
                }
            }
        }
        assertTrue(largest > 0);
    }

    /**
     * At a basis of the top left singular subspace of X (orthonormal columns), the objective is
     * stationary: the gradient vanishes to float64 rounding.
     */
    @ParameterizedTest(name = "r={0}")
    @CsvSource({"1", "3"})
    void theGradientVanishesAtTheTopSubspace(int r) {
        Random random = new Random(r);
        RealMatrix x = new Array2DRowRealMatrix(Dense.gaussian(random, 9, 14, 1));
        RealMatrix u = new SingularValueDecomposition(x).getU().getSubMatrix(0, 8, 0, r - 1);
        try (NDManager manager = NDManager.newBaseManager()) {
            double[] gradient =
                    Dense.toDoubles(
                            OnlinePca.gradient(
                                    Dense.toArray(manager, u.getData(), DataType.FLOAT64),
                                    Dense.toArray(manager, x.getData(), DataType.FLOAT64)));
            double scale = x.getFrobeniusNorm() * x.getFrobeniusNorm();
            for (double g : gradient) {
                assertEquals(0, g, 1e3 * Tolerances.FLOAT64_UNIT_ROUNDOFF * scale);
            }
            assertEquals(
                    0, reference(u, x).getNorm(), 1e3 * Tolerances.FLOAT64_UNIT_ROUNDOFF * scale);
        }
    }
}
