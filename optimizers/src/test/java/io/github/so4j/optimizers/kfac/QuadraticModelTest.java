package io.github.so4j.optimizers.kfac;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;
import org.junit.jupiter.api.Test;

/** The 2 x 2 solve against Commons Math's LU solve of the same damped system, in float64. */
class QuadraticModelTest {

    @Test
    void solveMatchesDenseLu() {
        Random random = new Random(3);
        for (int trial = 0; trial < 200; trial++) {
            // A = U^T C U and D = U^T U for random 5-vectors: symmetric positive definite
            double[][] u = new double[2][5];
            double[][] cu = new double[2][5];
            double[] c = new double[5]; // a diagonal positive definite curvature
            for (int k = 0; k < 5; k++) {
                c[k] = 0.1 + random.nextDouble();
            }
            for (int i = 0; i < 2; i++) {
                for (int k = 0; k < 5; k++) {
                    u[i][k] = random.nextGaussian();
                    cu[i][k] = u[i][k] * c[k];
                }
            }
            double[] a = {dot(u[0], cu[0]), dot(u[0], cu[1]), dot(u[1], cu[1])};
            double[] d = {dot(u[0], u[0]), dot(u[0], u[1]), dot(u[1], u[1])};
            double[] b = {random.nextGaussian(), random.nextGaussian()};
            double lambda = Math.exp(random.nextGaussian() * 2);
            QuadraticModel model = QuadraticModel.solve(a, d, b, lambda, true);
            RealMatrix am = new Array2DRowRealMatrix(new double[][] {{a[0], a[1]}, {a[1], a[2]}});
            RealMatrix dm = new Array2DRowRealMatrix(new double[][] {{d[0], d[1]}, {d[1], d[2]}});
            RealVector bv = new ArrayRealVector(b);
            RealMatrix damped = am.add(dm.scalarMultiply(lambda));
            RealVector w = new LUDecomposition(damped).getSolver().solve(bv.mapMultiply(-1));
            double change = am.operate(w).dotProduct(w) / 2 + w.dotProduct(bv);
            // closed form and LU are both backward stable for a 2 x 2 system; the condition
            // number here stays below about 1e4, so 1e-10 relative is far above their errors
            double scale = w.getNorm();
            assertEquals(w.getEntry(0), model.w0(), 1e-10 * scale, "trial " + trial);
            assertEquals(w.getEntry(1), model.w1(), 1e-10 * scale, "trial " + trial);
            assertEquals(change, model.change(), 1e-10 * Math.abs(change) + 1e-14);
        }
    }

    @Test
    void withoutVelocityOnlyTheFirstCoefficient() {
        double[] a = {2, 99, 99};
        double[] d = {0.5, 99, 99};
        double[] b = {-3, 99};
        QuadraticModel model = QuadraticModel.solve(a, d, b, 4, false);
        assertEquals(3.0 / (2 + 4 * 0.5), model.w0(), 0.0);
        assertEquals(0, model.w1(), 0.0);
        double w = model.w0();
        assertEquals(w * w * 2 / 2 + w * -3, model.change(), 1e-15);
    }

    @Test
    void parallelDirectionsFallBackToOne() {
        // v = 2 Delta: the damped matrix is singular, so only w0 is solved
        double[] a = {1, 2, 4};
        double[] d = {1, 2, 4};
        double[] b = {-1, -2};
        QuadraticModel model = QuadraticModel.solve(a, d, b, 1, true);
        assertEquals(0.5, model.w0(), 1e-15);
        assertEquals(0, model.w1(), 0.0);
    }

    @Test
    void negativeCurvatureAlongDeltaHasNoModel() {
        QuadraticModel model =
                QuadraticModel.solve(
                        new double[] {-5, 0, 0},
                        new double[] {1, 0, 0},
                        new double[] {1, 0},
                        1,
                        false);
        assertFalse(model.isFinite());
    }

    private static double dot(double[] x, double[] y) {
        double s = 0;
        for (int i = 0; i < x.length; i++) {
            s += x[i] * y[i];
        }
        return s;
    }
}
