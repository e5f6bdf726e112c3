package io.github.so4j.optimizers.objective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import io.github.so4j.curvature.subspace.LogisticRegression;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.optimizers.objective.DampedNewton.Run;
import io.github.so4j.optimizers.objective.DampedNewton.Schedule;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link DampedNewton} on an L2-regularised logistic regression (n = 200, d = 10, \( \lambda =
 * 10^{-3} \)) from the far start \( x_0 = 10 \cdot \mathbf{1} \), where the data term's curvature
 * has all but vanished and a full Newton step overshoots. Optimality is checked with a plain-Java
 * gradient: for a \( \lambda \)-strongly convex f, \( f(x) - f^* \le \|\nabla f(x)\|^2 / (2
 * \lambda) \).
 */
class DampedNewtonTest {

    private static final int D = 10;

    private NDManager manager;
    private LogisticProblem problem;
    private LogisticRegression objective;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
        problem = new LogisticProblem(200, D, 1e-3, 3, new Random(1));
        objective = problem.objective(manager);
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private double[] farStart() {
        double[] x = new double[D];
        Arrays.fill(x, 10);
        return x;
    }

    /**
     * Plain Newton never gets back below its starting loss in 60 iterations: its first step raises
     * the loss from 21 to about 320 and it keeps bouncing (measured: 150 to 320).
     */
    @Test
    void plainNewtonFailsFromTheFarStart() {
        Run run =
                DampedNewton.builder()
                        .optSchedule(Schedule.newton())
                        .optMaxIterations(60)
                        .build()
                        .minimize(objective, manager.create(farStart()));
        assertFalse(run.converged());
        double[] values = run.values();
        for (int k = 1; k < values.length; k++) {
            assertTrue(
                    !(values[k] <= values[0]),
                    "iteration " + k + ": " + values[k] + " vs " + values[0]);
        }
    }

    static Stream<Schedule> globalSchedules() {
        return Stream.of(
                Schedule.universal(3, 1, 2),
                Schedule.universal(4, 1, 2),
                Schedule.rootNewton(3, 1),
                Schedule.rootNewton(4, 1));
    }

    /**
     * The paper's schedules converge from the same start: the loss decreases at every iteration
     * (measured: 11 to 18 iterations to a decrement of 1e-10), the final point is optimal to the
     * plain-Java gradient, and the steps approach 1 (pure Newton) at the end.
     */
    @ParameterizedTest
    @MethodSource("globalSchedules")
    void dampedSchedulesConvergeGloballyFromTheFarStart(Schedule schedule) {
        Run run =
                DampedNewton.builder()
                        .optSchedule(schedule)
                        .optMaxIterations(40)
                        .build()
                        .minimize(objective, manager.create(farStart()));
        assertTrue(
                run.converged(), schedule + " did not converge: " + Arrays.toString(run.values()));
        assertTrue(run.iterations() <= 25, schedule + " took " + run.iterations());
        double[] values = run.values();
        for (int k = 1; k < values.length; k++) {
            assertTrue(values[k] <= values[k - 1], "iteration " + k);
        }
        double[] x = Dense.toDoubles(run.solution());
        double gradientNorm = 0;
        for (double g : problem.gradient(x)) {
            gradientNorm += g * g;
        }
        gradientNorm = Math.sqrt(gradientNorm);
        assertTrue(gradientNorm < 1e-9, "gradient norm " + gradientNorm);
        assertTrue(gradientNorm * gradientNorm / (2 * problem.lambda) < 1e-12);
        double[] steps = run.stepsizes();
        assertTrue(steps[steps.length - 1] > 0.99, "last step " + steps[steps.length - 1]);
    }

    /** RN's stepsizes are the documented formula of the recorded decrements. */
    @Test
    void rootNewtonStepsizesFollowTheFormula() {
        double q = 3.5;
        double m = 0.7;
        Run run =
                DampedNewton.builder()
                        .optSchedule(Schedule.rootNewton(q, m))
                        .build()
                        .minimize(objective, manager.create(farStart()));
        for (int k = 0; k < run.iterations(); k++) {
            double g = run.decrements()[k];
            double theta = Math.pow(9 * m, 1 / (q - 1)) * Math.pow(g, (q - 2) / (q - 1));
            assertEquals(1 / (1 + theta), run.stepsizes()[k], 1e-15);
        }
    }

    /**
     * A plain-Java twin of the method in double precision, written from the paper's formulas alone:
     * Cholesky solves instead of DJL's inverse, \( \theta = (9 M)^{1/(q-1)} g^{(q-2)/(q-1)} \), \(
     * \alpha = 1 / (1 + \theta) \), and for UN the acceptance test \( \langle \nabla f(x^+), n_k
     * \rangle \ge \|\nabla f(x^+)\|^{*2}_{x_k} / (2 \alpha \theta) \) with the estimate divided by
     * \( \rho \) at the start of every iteration after the first and multiplied by \( \rho \) on
     * each rejection.
     */
    private record Twin(double[] solution, double[] decrements, double[] stepsizes, int trials) {

        static Twin run(
                LogisticProblem problem,
                double[] start,
                boolean universal,
                double q,
                double m,
                double rho,
                int maxIterations) {
            double[] x = start.clone();
            double estimate = m;
            double[] decrements = new double[maxIterations + 1];
            double[] stepsizes = new double[maxIterations];
            int trials = 0;
            int k = 0;
            while (true) {
                double[] gradient = problem.gradient(x);
                double[][] factor = cholesky(problem.hessian(x));
                double[] direction = solve(factor, gradient);
                double decrement = Math.sqrt(dot(gradient, direction));
                decrements[k] = decrement;
                if (decrement <= 1e-10 || k == maxIterations) {
                    break;
                }
                double alpha;
                if (universal) {
                    if (k > 0) {
                        estimate /= rho;
                    }
                    while (true) {
                        trials++;
                        double theta = theta(q, estimate, decrement);
                        alpha = 1 / (1 + theta);
                        double[] g = problem.gradient(axpy(-alpha, direction, x));
                        double left = dot(g, direction);
                        double right = dot(g, solve(factor, g)) / (2 * alpha * theta);
                        if (left >= right) {
                            break;
                        }
                        estimate *= rho;
                    }
                } else {
                    trials++;
                    alpha = 1 / (1 + theta(q, m, decrement));
                }
                stepsizes[k] = alpha;
                x = axpy(-alpha, direction, x);
                k++;
            }
            return new Twin(
                    x, Arrays.copyOf(decrements, k + 1), Arrays.copyOf(stepsizes, k), trials);
        }

        private static double theta(double q, double m, double g) {
            return Math.pow(9 * m, 1 / (q - 1)) * Math.pow(g, (q - 2) / (q - 1));
        }

        private static double[] axpy(double a, double[] u, double[] v) {
            double[] out = new double[v.length];
            for (int i = 0; i < v.length; i++) {
                out[i] = v[i] + a * u[i];
            }
            return out;
        }

        private static double dot(double[] u, double[] v) {
            double sum = 0;
            for (int i = 0; i < u.length; i++) {
                sum += u[i] * v[i];
            }
            return sum;
        }

        /** The lower-triangular L with \( L L^\top = h \). */
        private static double[][] cholesky(double[][] h) {
            int d = h.length;
            double[][] l = new double[d][d];
            for (int i = 0; i < d; i++) {
                for (int j = 0; j <= i; j++) {
                    double sum = h[i][j];
                    for (int t = 0; t < j; t++) {
                        sum -= l[i][t] * l[j][t];
                    }
                    l[i][j] = i == j ? Math.sqrt(sum) : sum / l[j][j];
                }
            }
            return l;
        }

        private static double[] solve(double[][] l, double[] b) {
            int d = b.length;
            double[] y = new double[d];
            for (int i = 0; i < d; i++) {
                double sum = b[i];
                for (int t = 0; t < i; t++) {
                    sum -= l[i][t] * y[t];
                }
                y[i] = sum / l[i][i];
            }
            double[] x = new double[d];
            for (int i = d - 1; i >= 0; i--) {
                double sum = y[i];
                for (int t = i + 1; t < d; t++) {
                    sum -= l[t][i] * x[t];
                }
                x[i] = sum / l[i][i];
            }
            return x;
        }
    }

    static Stream<Arguments> twinSettings() {
        return Stream.of(
                Arguments.of(false, 3.0, 1.0),
                Arguments.of(false, 3.5, 0.7),
                Arguments.of(false, 4.0, 1.0),
                Arguments.of(true, 3.0, 1.0),
                Arguments.of(true, 4.0, 1.0),
                Arguments.of(true, 2.5, 1e-4));
    }

    /**
     * RN and UN take the same steps as the plain-Java twin: the same number of iterations, and
     * stepsizes, decrements and the solution equal to 1e-8 relative. Stepsizes are compared while
     * \( g_k > 10^{-6} \): in UN's last iteration (\( g_k \approx 10^{-10} \)) \( \nabla f(x^+) \)
     * is at round-off level, the acceptance test compares noise, and the two may spend a different
     * number of trials (measured: 18 and 19 for q = 4) on a step within 1e-6 of 1 either way.
     *
     * <p>Then the local rate. RN's is superlinear, not quadratic: \( 1 - \alpha_k \approx \theta_k
     * \), so \( g_{k+1} \approx (9 M)^{1/(q-1)} g_k^{(2q-3)/(q-1)} \) (order 3/2 for q = 3, 5/3 for
     * q = 4); measured, once \( g_k < 0.01 \), the ratio \( g_{k+1} / g_k^{(2q-3)/(q-1)} \) stays
     * within 1.12 times that constant and ends within 4% of it, while \( g_{k+1} / g_k^2 \) grows
     * to about 2000. UN's estimate falls by \( \rho \) at every accepted first trial, so its
     * contraction improves faster: \( g_{k+1} \le 0.05 g_k \) once \( g_k < 0.01 \) (measured: at
     * most 0.025).
     */
    @ParameterizedTest
    @MethodSource("twinSettings")
    void stepsMatchAPlainJavaTwinOfThePaperFormulas(boolean universal, double q, double m) {
        Schedule schedule = universal ? Schedule.universal(q, m, 2) : Schedule.rootNewton(q, m);
        Run run =
                DampedNewton.builder()
                        .optSchedule(schedule)
                        .optMaxIterations(60)
                        .build()
                        .minimize(objective, manager.create(farStart()));
        Twin twin = Twin.run(problem, farStart(), universal, q, m, 2, 60);
        assertTrue(run.converged(), schedule + ": " + Arrays.toString(run.decrements()));
        assertEquals(twin.stepsizes().length, run.iterations(), schedule + " iterations");
        for (int k = 0; k < run.iterations(); k++) {
            double g = twin.decrements()[k];
            assertEquals(g, run.decrements()[k], 1e-8 * g + 1e-14, "g" + k);
            if (g > 1e-6) {
                assertEquals(
                        twin.stepsizes()[k],
                        run.stepsizes()[k],
                        1e-8 * twin.stepsizes()[k],
                        "α" + k);
            }
        }
        double[] x = Dense.toDoubles(run.solution());
        for (int j = 0; j < D; j++) {
            assertEquals(twin.solution()[j], x[j], 1e-8 * (1 + Math.abs(x[j])), "x" + j);
        }
        double order = (2 * q - 3) / (q - 1);
        double constant = Math.pow(9 * m, 1 / (q - 1));
        double[] g = run.decrements();
        double last = Double.NaN;
        for (int k = 0; k + 1 < g.length; k++) {
            if (g[k] < 0.01 && g[k + 1] > 1e-9) {
                double ratio = g[k + 1] / Math.pow(g[k], order);
                if (universal) {
                    assertTrue(g[k + 1] <= 0.05 * g[k], "g" + (k + 1) + " = " + g[k + 1]);
                } else {
                    assertTrue(ratio <= 1.25 * constant, "g" + (k + 1) + " = " + g[k + 1]);
                }
                last = ratio;
            }
        }
        if (!universal) {
            assertEquals(1, last / constant, 0.1, "last rate constant " + last);
        }
    }

    @Test
    void runsLeaveNoArraysBehind() {
        try (NDManager scope = manager.newSubManager()) {
            int before = LiveArrays.count(manager);
            DampedNewton.builder()
                    .build()
                    .minimize(objective, scope.create(farStart()))
                    .solution()
                    .close();
            assertEquals(before + 1, LiveArrays.count(manager));
        }
    }

    @Test
    void badSettingsAreRejected() {
        assertMessage("q must be in [2, 4], but was 5.0", () -> Schedule.rootNewton(5, 1));
        assertMessage(
                "M must be positive and finite, but was 0.0", () -> Schedule.rootNewton(3, 0));
        assertMessage(
                "rho must be greater than 1 and finite, but was 1.0",
                () -> Schedule.universal(3, 1, 1));
        assertMessage(
                "maxIterations must be non-negative, but was -1",
                () -> DampedNewton.builder().optMaxIterations(-1).build());
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
