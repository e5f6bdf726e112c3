package io.github.so4j.curvature.subspace;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.training.loss.Loss;
import io.github.so4j.curvature.testing.Dense;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The objectives against hand-written double-precision formulas and finite differences, and the
 * planar quadratic fit against exact quadratics.
 */
class ObjectiveTest {

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
     * Value, gradient and Hessian of logistic regression against a plain-Java evaluation (value,
     * rounding only: 1e-12) and central differences of it (gradient: truncation \( h^2 \|f'''\| \)
     * plus rounding \( u/h \), about 1e-9 for h = 1e-5; Hessian: differences of the gradient, same
     * order). The Hessian formed from d products must equal the closed form up to rounding.
     */
    @Test
    void logisticRegressionDerivativesMatchFiniteDifferences() {
        Random random = new Random(21);
        int n = 40;
        int d = 6;
        double lambda = 0.1;
        double[][] a = Dense.gaussian(random, n, d, 1);
        double[] y = new double[n];
        for (int i = 0; i < n; i++) {
            y[i] = random.nextBoolean() ? 1 : 0;
        }
        LogisticRegression objective =
                new LogisticRegression(
                        Dense.toArray(manager, a, DataType.FLOAT64), manager.create(y), lambda);
        double[] x = Dense.gaussian(random, 1, d, 1)[0];
        NDArray xa = manager.create(x);
        assertEquals(value(a, y, lambda, x), objective.value(xa), 1e-12);
        double h = 1e-5;
        double[] gradient = Dense.toDoubles(objective.gradient(xa));
        double[][] hessian = new double[d][];
        NDArray explicit = objective.hessian(xa);
        for (int j = 0; j < d; j++) {
            double[] up = x.clone();
            double[] down = x.clone();
            up[j] += h;
            down[j] -= h;
            double slope = (value(a, y, lambda, up) - value(a, y, lambda, down)) / (2 * h);
            assertEquals(slope, gradient[j], 1e-9);
            double[] gu = Dense.toDoubles(objective.gradient(manager.create(up)));
            double[] gd = Dense.toDoubles(objective.gradient(manager.create(down)));
            hessian[j] = new double[d];
            for (int i = 0; i < d; i++) {
                hessian[j][i] = (gu[i] - gd[i]) / (2 * h);
                assertEquals(hessian[j][i], explicit.getDouble(i, j), 1e-9);
            }
        }
        SmoothObjective byProducts =
                new SmoothObjective() {
                    @Override
                    public long dimension() {
                        return d;
                    }

                    @Override
                    public NDArray gradient(NDArray point) {
                        return objective.gradient(point);
                    }

                    @Override
                    public NDArray hessianTimes(NDArray point, NDArray v) {
                        return objective.hessianTimes(point, v);
                    }

                    @Override
                    public double value(NDArray point) {
                        return objective.value(point);
                    }
                };
        double[] formed = Dense.toDoubles(byProducts.hessian(xa));
        double[] closed = Dense.toDoubles(explicit);
        for (int i = 0; i < closed.length; i++) {
            assertEquals(closed[i], formed[i], 1e-14);
        }
    }

    private static double value(double[][] a, double[] y, double lambda, double[] x) {
        double total = 0;
        for (int i = 0; i < a.length; i++) {
            double z = 0;
            for (int j = 0; j < x.length; j++) {
                z += a[i][j] * x[j];
            }
            total += Math.log1p(Math.exp(z)) - y[i] * z;
        }
        double norm = 0;
        for (double v : x) {
            norm += v * v;
        }
        return total / a.length + lambda / 2 * norm;
    }

    /**
     * A quadratic on the plane is recovered exactly from six and from nine points, up to rounding:
     * the values (about 1.5) carry errors of \( 2^{-53} \cdot 1.5 \approx 2 \cdot 10^{-16} \),
     * which the second-order coefficients divide by \( e^2 = 10^{-6} \) and the normal equations
     * (scaled condition number below 100) amplify: about 2e-8 for the Hessian, 2e-11 for the
     * gradient; the bounds allow five times that.
     */
    @Test
    void planarQuadraticRecoversAQuadraticExactly() {
        double c = 1.5;
        double[] g = {-2, 0.5};
        double[][] h = {{3, -1}, {-1, 0.25}};
        double e = 1e-3;
        double[][] stencil = {
            {0, 0}, {e, 0}, {0, e}, {-e, 0}, {0, -e}, {e, e}, {-e, e}, {e, -e}, {-e, -e}
        };
        for (int points : new int[] {6, 9}) {
            double[] a = new double[points];
            double[] b = new double[points];
            double[] f = new double[points];
            for (int i = 0; i < points; i++) {
                a[i] = stencil[i][0];
                b[i] = stencil[i][1];
                f[i] =
                        c
                                + g[0] * a[i]
                                + g[1] * b[i]
                                + 0.5
                                        * (h[0][0] * a[i] * a[i]
                                                + 2 * h[0][1] * a[i] * b[i]
                                                + h[1][1] * b[i] * b[i]);
            }
            PlanarQuadratic model = PlanarQuadratic.fit(a, b, f, 0);
            assertEquals(c, model.constant(), 1e-12);
            assertArrayEquals(g, model.gradient(), 1e-10);
            for (int i = 0; i < 2; i++) {
                assertArrayEquals(h[i], model.hessian()[i], 1e-7);
            }
        }
        IllegalArgumentException few =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> PlanarQuadratic.fit(new double[5], new double[5], new double[5], 0));
        assertEquals(
                "a quadratic in two variables needs at least 6 points, but had 5",
                few.getMessage());
        IllegalArgumentException line =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                PlanarQuadratic.fit(
                                        new double[] {0, 1, 2, 3, 4, 5},
                                        new double[6],
                                        new double[6],
                                        0));
        assertEquals(
                "the points do not determine a quadratic; add points or a ridge",
                line.getMessage());
    }

    /** A block objective evaluates the block's loss at the vector, and assign writes it back. */
    @Test
    void blockObjectiveEvaluatesAndAssignsParameters() {
        TanhNetwork net = new TanhNetwork(5, 4, 3);
        Random random = new Random(22);
        double[][] x = net.inputs(random, 8);
        int[] y = net.labels(random, 8);
        Block block = net.block(manager, DataType.FLOAT64, 8);
        BlockObjective objective =
                new BlockObjective(
                        block,
                        Loss.softmaxCrossEntropyLoss(),
                        TanhNetwork.data(manager, x, DataType.FLOAT64),
                        TanhNetwork.labels(manager, y, DataType.FLOAT64));
        double[] w = TanhNetwork.weights(block);
        assertArrayEquals(w, Dense.toDoubles(objective.parameters(manager)));
        double[] moved = Dense.gaussian(random, 1, net.size, 0.3)[0];
        assertEquals(net.loss(moved, x, y), objective.value(manager.create(moved)), 1e-12);
        assertArrayEquals(w, TanhNetwork.weights(block));
        objective.assign(manager.create(moved));
        assertArrayEquals(moved, TanhNetwork.weights(block));
        assertTrue(objective.dimension() == net.size);
    }
}
