package io.github.so4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.study.ZoSahStudy;
import io.github.so4j.curvature.subspace.LogisticRegression;
import io.github.so4j.optimizers.objective.Budget;
import io.github.so4j.optimizers.objective.DampedNewton;
import io.github.so4j.optimizers.objective.ZoSah;
import io.github.so4j.optimizers.objective.ZoSgd;
import java.io.IOException;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The objective-based methods on a real, ill-conditioned problem: L2-regularised logistic
 * regression (\( \lambda = 10^{-3} \)) separating T-shirts from shirts in the first 4,000
 * Fashion-MNIST training images (about 800 examples), on 4 x 4 block means of the pixels plus a
 * bias (d = 50). Neighbouring pixel blocks are strongly correlated, so the Hessian is badly
 * conditioned.
 */
class SubspaceLogisticRegressionTest {

    private static final int SUBSET = 4000;
    private static final double LAMBDA = 1e-3;

    /**
     * From \( x_0 = 3 \cdot \mathbf{1} \) (loss 24.8) plain Newton jumps to a loss of 3,285 and
     * then alternates between 3,285 and 3,361 for all 40 iterations. The backtracking schedule UN
     * (the default) converges to a Newton decrement of 1e-10, lowering the loss at every iteration
     * (measured: 16 iterations); RN with q = 3 and M = 1 also converges (measured: 24 iterations),
     * though M = 1 underestimates this problem's constant and its first steps raise the loss.
     * Optimality is checked against the optimum reached from \( x_0 = 0 \).
     */
    @Test
    void dampedNewtonConvergesFromAFarStartWherePlainNewtonFails()
            throws IOException, TranslateException {
        try (NDManager manager = NDManager.newBaseManager()) {
            LogisticRegression f = problem(manager, SUBSET, LAMBDA);
            int d = (int) f.dimension();
            NDArray origin = manager.zeros(new Shape(d), DataType.FLOAT64);
            DampedNewton.Run reference = DampedNewton.builder().build().minimize(f, origin);
            assertTrue(reference.converged());
            double optimum = reference.values()[reference.values().length - 1];
            double[] far = new double[d];
            Arrays.fill(far, 3);
            DampedNewton.Run plain =
                    DampedNewton.builder()
                            .optSchedule(DampedNewton.Schedule.newton())
                            .optMaxIterations(40)
                            .build()
                            .minimize(f, manager.create(far));
            assertFalse(plain.converged());
            for (int k = 1; k < plain.values().length; k++) {
                assertTrue(plain.values()[k] > 100 * plain.values()[0], "iteration " + k);
            }
            DampedNewton.Run universal =
                    DampedNewton.builder()
                            .optMaxIterations(40)
                            .build()
                            .minimize(f, manager.create(far));
            assertTrue(universal.converged());
            double[] values = universal.values();
            for (int k = 1; k < values.length; k++) {
                assertTrue(values[k] <= values[k - 1], "iteration " + k);
            }
            // f - f* is about half the squared decrement near the optimum: 1e-20 here
            assertEquals(optimum, values[values.length - 1], 1e-12);
            DampedNewton.Run root =
                    DampedNewton.builder()
                            .optSchedule(DampedNewton.Schedule.rootNewton(3, 1))
                            .optMaxIterations(40)
                            .build()
                            .minimize(f, manager.create(far));
            assertTrue(root.converged());
            assertEquals(optimum, root.values()[root.values().length - 1], 1e-12);
        }
    }

    /**
     * Function evaluations from \( x_0 = 0 \) until the loss is within 1% of the way from \( f(x_0)
     * \) to \( f^* \) (\( f^* \) by damped Newton): ZO-SAH with its defaults against ZO-SGD at the
     * best of learning rates 0.125, 0.25, 0.5 and 1 (1 diverges). Measured: ZO-SAH 1,057
     * evaluations, ZO-SGD 2,755 (at 0.5).
     */
    @Test
    void zoSahNeedsFewerEvaluationsThanZoSgd() throws IOException, TranslateException {
        try (NDManager manager = NDManager.newBaseManager()) {
            LogisticRegression f = problem(manager, SUBSET, LAMBDA);
            NDArray origin = manager.zeros(new Shape(f.dimension()), DataType.FLOAT64);
            DampedNewton.Run reference = DampedNewton.builder().build().minimize(f, origin);
            double optimum = reference.values()[reference.values().length - 1];
            double start = f.value(origin);
            double target = optimum + 0.01 * (start - optimum);
            Budget budget = new Budget(10_000, target);
            long sah =
                    ZoSah.builder()
                            .build()
                            .minimize(f, origin, budget, new Random(1))
                            .evaluationsTo(target);
            long sgd = Long.MAX_VALUE;
            for (double rate : new double[] {0.125, 0.25, 0.5, 1}) {
                long used =
                        ZoSgd.builder()
                                .optLearningRate(rate)
                                .build()
                                .minimize(f, origin, budget, new Random(1))
                                .evaluationsTo(target);
                if (used > 0) {
                    sgd = Math.min(sgd, used);
                }
            }
            assertTrue(sah > 0, "ZO-SAH did not reach the target in 10,000 evaluations");
            assertTrue(sah < sgd, "ZO-SAH " + sah + " vs ZO-SGD " + sgd + " evaluations");
        }
    }

    private static LogisticRegression problem(NDManager manager, int subset, double lambda)
            throws IOException, TranslateException {
        return ZoSahStudy.shirts(manager, null, subset, lambda);
    }
}
