package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import io.github.so4j.curvature.testing.Dense;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad input, for every optimizer of the {@link So4jOptimizers} registry: non-finite, zero and huge
 * gradients, a parameter frozen and unfrozen, and parameters whose shapes change.
 */
class BadInputContractTest {

    static Stream<So4jOptimizers.Entry> optimizers() {
        return So4jOptimizers.all().stream();
    }

    /**
     * A NaN, then an infinite gradient at chosen steps: the weights after each such step are
     * bit-identical to those before it, and the run then continues exactly like a twin run that
     * never saw the bad steps.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("optimizers")
    void nonFiniteGradientsLeaveNoTrace(So4jOptimizers.Entry entry) {
        try (NDManager manager = NDManager.newBaseManager()) {
            SecondOrderOptimizer poisoned = entry.build();
            SecondOrderOptimizer clean = entry.build();
            try (ContractProblem a = ContractProblem.mlp(manager, DataType.FLOAT32, poisoned);
                    ContractProblem b = ContractProblem.mlp(manager, DataType.FLOAT32, clean)) {
                for (int step = 0; step < 8; step++) {
                    if (step == 2 || step == 5) {
                        double[] before = a.weights();
                        a.backward();
                        a.scaleGradients(step == 2 ? Double.NaN : Double.POSITIVE_INFINITY);
                        entry.afterBackward().accept(poisoned, a);
                        a.update();
                        assertArrayEquals(before, a.weights(), 0.0, "step " + step);
                    }
                    entry.step(poisoned, a);
                    entry.step(clean, b);
                }
                assertArrayEquals(b.weights(), a.weights(), 0.0);
                assertEquals(2, poisoned.health().skippedSteps());
                assertEquals(10, poisoned.health().steps());
            }
        }
    }

    /** A zero gradient at the first step moves nothing and skips nothing; training then goes on. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("optimizers")
    void zeroGradientMovesNothing(So4jOptimizers.Entry entry) {
        try (NDManager manager = NDManager.newBaseManager()) {
            SecondOrderOptimizer optimizer = entry.build();
            try (ContractProblem problem =
                    ContractProblem.quadratic(manager, DataType.FLOAT32, optimizer)) {
                double[] before = problem.weights();
                double loss = problem.loss();
                problem.backward();
                problem.scaleGradients(0);
                entry.afterBackward().accept(optimizer, problem);
                problem.update();
                assertArrayEquals(before, problem.weights(), 0.0);
                assertEquals(0, optimizer.health().skippedSteps());
                for (int i = 0; i < 5; i++) {
                    entry.step(optimizer, problem);
                }
                assertTrue(problem.loss() < loss);
            }
        }
    }

    /**
     * A gradient of 1e30 (whose squares overflow float32) never puts a non-finite number into the
     * weights, and the following steps stay finite.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("optimizers")
    void hugeGradientsNeverMakeWeightsNonFinite(So4jOptimizers.Entry entry) {
        for (DataType type : new DataType[] {DataType.FLOAT32, DataType.FLOAT64}) {
            try (NDManager manager = NDManager.newBaseManager()) {
                SecondOrderOptimizer optimizer = entry.build();
                try (ContractProblem problem = ContractProblem.mlp(manager, type, optimizer)) {
                    for (int step = 0; step < 6; step++) {
                        problem.backward();
                        if (step == 2) {
                            problem.scaleGradients(1e30);
                        }
                        entry.afterBackward().accept(optimizer, problem);
                        problem.update();
                        assertAllFinite(problem.weights(), type + " step " + step);
                    }
                }
            }
        }
    }

    /**
     * A frozen layer does not move while the rest trains; unfrozen, it moves again (from the step
     * after it reappears); everything stays finite.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("optimizers")
    void frozenParametersStayAndUnfrozenOnesMoveAgain(So4jOptimizers.Entry entry) {
        try (NDManager manager = NDManager.newBaseManager()) {
            SecondOrderOptimizer optimizer = entry.build();
            try (ContractProblem problem =
                    ContractProblem.mlp(manager, DataType.FLOAT32, optimizer)) {
                Block first = problem.block.getChildren().get(0).getValue();
                for (int i = 0; i < 2; i++) {
                    entry.step(optimizer, problem);
                }
                first.freezeParameters(true);
                double[] frozen = Dense.toDoubles(problem.parameters().get(0));
                double[] frozenBias = Dense.toDoubles(problem.parameters().get(1));
                double[] rest = Dense.toDoubles(problem.parameters().get(2));
                for (int i = 0; i < 3; i++) {
                    entry.step(optimizer, problem);
                }
                assertArrayEquals(frozen, Dense.toDoubles(problem.parameters().get(0)), 0.0);
                assertFalse(Arrays.equals(rest, Dense.toDoubles(problem.parameters().get(2))));
                first.freezeParameters(false);
                for (int i = 0; i < 3; i++) {
                    entry.step(optimizer, problem);
                }
                assertFalse(
                        Arrays.equals(frozen, Dense.toDoubles(problem.parameters().get(0))),
                        "the unfrozen weight did not move");
                assertFalse(
                        Arrays.equals(frozenBias, Dense.toDoubles(problem.parameters().get(1))),
                        "the unfrozen bias did not move");
                assertAllFinite(problem.weights(), "after unfreezing");
            }
        }
    }

    /**
     * A NaN in one parameter's gradient only (the first parameter, then the last, in block order)
     * rejects the whole step: the run is then bit-identical to a twin run in which that step never
     * happened, and the health report counts the step as begun and skipped.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("optimizers")
    void nonFiniteGradientOfOneParameterLeavesNoTrace(So4jOptimizers.Entry entry) {
        for (boolean last : new boolean[] {false, true}) {
            try (NDManager manager = NDManager.newBaseManager()) {
                SecondOrderOptimizer poisoned = entry.build();
                SecondOrderOptimizer clean = entry.build();
                try (ContractProblem a = ContractProblem.mlp(manager, DataType.FLOAT32, poisoned);
                        ContractProblem b = ContractProblem.mlp(manager, DataType.FLOAT32, clean)) {
                    int index = last ? a.parameters().size() - 1 : 0;
                    for (int step = 0; step < 7; step++) {
                        if (step == 3) {
                            a.backward();
                            a.scaleGradient(index, Double.NaN);
                            entry.afterBackward().accept(poisoned, a);
                            a.update();
                        }
                        entry.step(poisoned, a);
                        entry.step(clean, b);
                    }
                    String which = last ? "last parameter" : "first parameter";
                    assertArrayEquals(b.weights(), a.weights(), 0.0, which);
                    assertEquals(8, poisoned.health().steps(), which);
                    assertEquals(1, poisoned.health().skippedSteps(), which);
                    assertEquals(1, poisoned.health().nonFiniteGradientSteps(), which);
                }
            }
        }
    }

    /**
     * The last rung of the failure ladder: after {@code maxConsecutiveSkips} bad steps in a row the
     * optimizer fails with a message that says why, and the weights are still those of the last
     * good step.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("optimizers")
    void tooManyConsecutiveSkipsFailClearly(So4jOptimizers.Entry entry) {
        try (NDManager manager = NDManager.newBaseManager()) {
            SecondOrderOptimizer optimizer = entry.withMaxConsecutiveSkips(3);
            try (ContractProblem problem =
                    ContractProblem.mlp(manager, DataType.FLOAT32, optimizer)) {
                entry.step(optimizer, problem);
                double[] good = problem.weights();
                SecondOrderOptimizer o = optimizer;
                for (int i = 0; i < 2; i++) {
                    poisonedStep(entry, o, problem);
                }
                IllegalStateException e =
                        assertThrows(
                                IllegalStateException.class, () -> poisonedStep(entry, o, problem));
                assertEquals(
                        o.getClass().getSimpleName()
                                + " skipped 3 consecutive steps (maxConsecutiveSkips), the last"
                                + " because a gradient has NaN or infinite entries; step skipped;"
                                + " training has diverged or its input is broken",
                        e.getMessage());
                assertArrayEquals(good, problem.weights(), 0.0);
            }
        }
    }

    private static void poisonedStep(
            So4jOptimizers.Entry entry, SecondOrderOptimizer optimizer, ContractProblem problem) {
        problem.backward();
        problem.scaleGradients(Double.NaN);
        entry.afterBackward().accept(optimizer, problem);
        problem.update();
    }

    private static void assertAllFinite(double[] values, String when) {
        for (double v : values) {
            assertTrue(Double.isFinite(v), when + ": a weight is " + v);
        }
    }
}
