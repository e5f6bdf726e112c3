package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.tracker.ParameterTracker;
import ai.djl.training.tracker.Tracker;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the base class's step guard costs and counts, on the smallest subclass. */
class StepGuardTest {

    /** A schedule that halves the rate every 3 taken steps and records the counts it is asked. */
    private static final class RecordingSchedule implements ParameterTracker {
        final List<Integer> asked = new ArrayList<>();

        @Override
        public float getNewValue(String parameterId, int numUpdate) {
            asked.add(numUpdate);
            return 0.1f * (float) Math.pow(0.5, numUpdate / 3);
        }
    }

    /**
     * With a learning-rate schedule, a rejected step does not count: the run after it equals, bit
     * for bit, a twin in which the step never happened. A schedule needs the count on the host, so
     * every step reads the counters once.
     */
    @Test
    void schedulesCountTakenStepsOnly() {
        try (NDManager manager = NDManager.newBaseManager()) {
            RecordingSchedule poisonedSchedule = new RecordingSchedule();
            GradientStepOptimizer poisoned =
                    GradientStepOptimizer.builder()
                            .optLearningRateTracker(poisonedSchedule)
                            .build();
            GradientStepOptimizer clean =
                    GradientStepOptimizer.builder()
                            .optLearningRateTracker(new RecordingSchedule())
                            .build();
            try (ContractProblem a = ContractProblem.mlp(manager, DataType.FLOAT32, poisoned);
                    ContractProblem b = ContractProblem.mlp(manager, DataType.FLOAT32, clean)) {
                for (int step = 0; step < 8; step++) {
                    if (step == 3) {
                        a.backward();
                        a.scaleGradient(0, Double.NaN);
                        a.update();
                    }
                    a.backward();
                    a.update();
                    b.backward();
                    b.update();
                }
                assertArrayEquals(b.weights(), a.weights(), 0.0);
                OptimizerHealth health = poisoned.health();
                assertEquals(9, health.steps());
                assertEquals(9, health.hostReads().stepsWithReads());
                // the rejected step asked for the rate of index 4, which the next step then took
                assertEquals(4, poisonedSchedule.asked.get(4 * a.parameters().size()));
            }
        }
    }

    /**
     * With a fixed rate, a clean run reads only for the failure ladder's check: once every {@code
     * maxConsecutiveSkips} steps.
     */
    @Test
    void aFixedRateReadsOnlyForTheFailureLadder() {
        try (NDManager manager = NDManager.newBaseManager()) {
            GradientStepOptimizer optimizer =
                    GradientStepOptimizer.builder()
                            .optLearningRateTracker(Tracker.fixed(0.01f))
                            .optMaxConsecutiveSkips(10)
                            .build();
            try (ContractProblem problem =
                    ContractProblem.mlp(manager, DataType.FLOAT32, optimizer)) {
                for (int step = 0; step < 35; step++) {
                    problem.backward();
                    problem.update();
                }
                OptimizerHealth health = optimizer.health();
                assertEquals(3, health.hostReads().stepsWithReads());
                assertEquals(3, health.hostReads().reads());
            }
        }
    }

    /**
     * A report made after the model was closed still tells what happened: the counters are read one
     * last time when the model's arrays are freed.
     */
    @Test
    void healthAfterTheModelIsClosedCountsEverySkip() {
        GradientStepOptimizer optimizer = GradientStepOptimizer.builder().build();
        try (NDManager manager = NDManager.newBaseManager()) {
            try (ContractProblem problem =
                    ContractProblem.mlp(manager, DataType.FLOAT32, optimizer)) {
                for (int step = 0; step < 4; step++) {
                    problem.backward();
                    if (step == 2) {
                        problem.scaleGradients(Double.NaN);
                    }
                    problem.update();
                }
            }
        }
        OptimizerHealth health = optimizer.health();
        assertEquals(4, health.steps());
        assertEquals(1, health.skippedSteps());
        assertEquals(1, health.nonFiniteGradientSteps());
    }
}
