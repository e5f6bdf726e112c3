package io.github.so4j.optimizers.objective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.subspace.LogisticRegression;
import io.github.so4j.curvature.subspace.Objective;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ZerothOrderTest {

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
     * ZO-SAH against ZO-SGD on an ill-conditioned L2-regularised logistic regression: n = 200, d =
     * 20, \( \lambda = 10^{-4} \), feature scales spread over a factor of 10 (so \( A^\top A \) has
     * a condition number of about 100, as correlated pixels do), from \( x_0 = 0 \). The target is
     * 99.9% of the way from \( f(x_0) \) to \( f^* \), with \( f^* \) from damped Newton to a
     * decrement of 1e-10. ZO-SAH runs with its defaults; ZO-SGD gets the best of learning rates 2,
     * 4, 8, 16, 32 (32 no longer reaches the target). Measured: ZO-SAH 793 evaluations, ZO-SGD
     * 2,119 at its best rate (16; 5,461, 2,539 and 2,217 at 2, 4 and 8).
     */
    @Test
    void zoSahReachesTheTargetWithFewerEvaluationsThanTunedZoSgd() {
        int d = 20;
        LogisticProblem problem = new LogisticProblem(200, d, 1e-4, 3, 10, new Random(2));
        LogisticRegression f = problem.objective(manager);
        NDArray origin = manager.zeros(new Shape(d), DataType.FLOAT64);
        DampedNewton.Run newton = DampedNewton.builder().build().minimize(f, origin);
        assertTrue(newton.converged());
        double optimum = newton.values()[newton.values().length - 1];
        double start = f.value(origin);
        double target = optimum + 1e-3 * (start - optimum);
        Budget budget = new Budget(20_000, target);
        long sah =
                ZoSah.builder()
                        .build()
                        .minimize(f, origin, budget, new Random(3))
                        .evaluationsTo(target);
        long sgd = Long.MAX_VALUE;
        for (double rate : new double[] {2, 4, 8, 16, 32}) {
            long used =
                    ZoSgd.builder()
                            .optLearningRate(rate)
                            .build()
                            .minimize(f, origin, budget, new Random(3))
                            .evaluationsTo(target);
            if (used > 0) {
                sgd = Math.min(sgd, used);
            }
        }
        assertTrue(sah > 0, "ZO-SAH did not reach the target");
        assertTrue(sah < sgd, "ZO-SAH " + sah + " vs ZO-SGD " + sgd + " evaluations");
    }

    /**
     * On a quadratic the six-point fit is exact, so one ZO-SAH step is the Newton step restricted
     * to its plane: \( x_1 = x_0 - E (E^\top A E)^{-1} E^\top \nabla f(x_0) \) with E the plane's
     * orthonormal basis, rebuilt here from the same random draws by Gram-Schmidt in double. The fit
     * is exact for any stencil radius, so the test uses \( \epsilon = 0.1 \): the values' rounding
     * (about \( 10^{-14} \) here) reaches the fitted curvature divided by \( \epsilon^2 \), 1e-12,
     * and the step through the 2 x 2 solve (condition number below 1e3): 1e-9 at most.
     */
    @Test
    void oneZoSahStepOnAQuadraticIsTheNewtonStepInItsPlane() {
        int d = 8;
        Random data = new Random(4);
        double[][] m = Dense.gaussian(data, d, d, 1);
        RealMatrix a =
                new Array2DRowRealMatrix(m).transpose().multiply(new Array2DRowRealMatrix(m));
        for (int i = 0; i < d; i++) {
            a.addToEntry(i, i, 1);
        }
        RealVector b = new ArrayRealVector(Dense.gaussian(data, 1, d, 1)[0]);
        NDArray matrix = Dense.toArray(manager, a.getData(), DataType.FLOAT64);
        NDArray vector = manager.create(b.toArray());
        Objective quadratic =
                x -> {
                    try (NDManager scope = manager.newSubManager()) {
                        scope.tempAttachAll(x);
                        NDArray ax = x.matMul(matrix);
                        return x.mul(ax).sum().mul(0.5).sub(x.mul(vector).sum()).getDouble();
                    }
                };
        double[] x0 = Dense.gaussian(data, 1, d, 1)[0];
        ZerothOrderRun run =
                ZoSah.builder()
                        .optDamping(1e-12)
                        .optSmoothing(0.1)
                        .optRidge(0)
                        .build()
                        .minimize(
                                quadratic,
                                manager.create(x0),
                                new Budget(6, Double.NEGATIVE_INFINITY),
                                new Random(5));
        Random same = new Random(5);
        double[] g1 = new double[d];
        double[] g2 = new double[d];
        for (int i = 0; i < d; i++) {
            g1[i] = same.nextGaussian();
        }
        for (int i = 0; i < d; i++) {
            g2[i] = same.nextGaussian();
        }
        RealVector e1 = new ArrayRealVector(g1).unitVector();
        RealVector e2 = new ArrayRealVector(g2);
        for (int pass = 0; pass < 2; pass++) {
            e2 = e2.subtract(e1.mapMultiply(e1.dotProduct(e2)));
        }
        e2 = e2.unitVector();
        RealMatrix e = new Array2DRowRealMatrix(d, 2);
        e.setColumnVector(0, e1);
        e.setColumnVector(1, e2);
        RealVector x = new ArrayRealVector(x0);
        RealVector gradient = a.operate(x).subtract(b);
        RealMatrix projected = e.transpose().multiply(a).multiply(e);
        RealVector step =
                e.operate(
                        new LUDecomposition(projected)
                                .getSolver()
                                .solve(e.transpose().operate(gradient)));
        double[] expected = x.subtract(step).toArray();
        double[] actual = Dense.toDoubles(run.solution());
        assertEquals(6, run.evaluations()[0] + 5);
        assertTrue(
                Dense.relativeError(actual, expected) < 1e-8,
                "relative error " + Dense.relativeError(actual, expected));
    }

    /**
     * ZO-SGD's update is the documented formula: on a linear f the slope estimate is exact, so
     * every step moves by \( -\eta (c^\top u) u \) for the same Gaussian draws.
     */
    @Test
    void zoSgdStepsFollowTheTwoPointFormula() {
        int d = 5;
        double[] c = {1, -2, 0.5, 3, -1};
        NDArray cArray = manager.create(c);
        Objective linear = x -> x.mul(cArray).sum().getDouble();
        double rate = 0.1;
        ZerothOrderRun run =
                ZoSgd.builder()
                        .optLearningRate(rate)
                        .build()
                        .minimize(
                                linear,
                                manager.zeros(new Shape(d), DataType.FLOAT64),
                                new Budget(6, Double.NEGATIVE_INFINITY),
                                new Random(6));
        Random same = new Random(6);
        double[] x = new double[d];
        for (int step = 0; step < 3; step++) {
            double[] u = new double[d];
            double slope = 0;
            for (int i = 0; i < d; i++) {
                u[i] = same.nextGaussian();
                slope += c[i] * u[i];
            }
            for (int i = 0; i < d; i++) {
                x[i] -= rate * slope * u[i];
            }
        }
        assertArrayEquals(x, Dense.toDoubles(run.solution()), 1e-9);
        assertArrayEquals(new long[] {1, 3, 5}, run.evaluations());
    }

    @Test
    void runsLeaveNoArraysBehind() {
        LogisticProblem problem = new LogisticProblem(50, 6, 1e-3, 1, new Random(7));
        LogisticRegression f = problem.objective(manager);
        try (NDManager scope = manager.newSubManager()) {
            NDArray start = scope.zeros(new Shape(6), DataType.FLOAT64);
            int before = LiveArrays.count(manager);
            Budget budget = new Budget(300, Double.NEGATIVE_INFINITY);
            ZoSah.builder().build().minimize(f, start, budget, new Random(8)).solution().close();
            ZoSgd.builder().build().minimize(f, start, budget, new Random(8)).solution().close();
            assertEquals(before, LiveArrays.count(manager));
        }
    }

    @Test
    void badInputIsRejected() {
        NDArray start = manager.zeros(new Shape(3), DataType.FLOAT64);
        Objective f = x -> 0;
        assertMessage(
                "planes must be at most d / 2 = 1, but was 2",
                () ->
                        ZoSah.builder()
                                .optPlanes(2)
                                .build()
                                .minimize(f, start, new Budget(10, 0), new Random(1)));
        assertMessage("maxEvaluations must be at least 1, but was 0", () -> new Budget(0, 0));
        assertMessage(
                "smoothing must be positive and finite, but was 0.0",
                () -> ZoSah.builder().optSmoothing(0).build());
        assertMessage(
                "learningRate must be positive and finite, but was -1.0",
                () -> ZoSgd.builder().optLearningRate(-1).build());
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
