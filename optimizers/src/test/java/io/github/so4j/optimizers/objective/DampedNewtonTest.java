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
