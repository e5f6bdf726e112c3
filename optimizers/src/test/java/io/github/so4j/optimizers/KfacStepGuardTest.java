package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.HostReads;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link Kfac} under the step guard: a rejected step leaves no trace, ordinary steps read nothing
 * from the device, a model without instrumented layers is refused with the fix, and trackers are
 * checked at {@code build()}.
 */
class KfacStepGuardTest {

    private static final String UNINSTRUMENTED =
            "K-FAC found no instrumented layer among the model's trained parameters: pass the"
                    + " model's block through Kfac.instrument(block) before initializing the model"
                    + " or creating its trainer (model.setBlock(kfac.instrument(block))), or build"
                    + " with optAllowUninstrumented(true) to train every parameter with the"
                    + " first-order rule";

    /**
     * Factors every 2 taken steps (t = 1, 3, 5, 7), inverses every 3 (t = 1, 4, 7), momentum,
     * decoupled weight decay and the KL clip: state of every kind.
     */
    private static Kfac kfac() {
        return Kfac.builder()
                .optFactorUpdateFrequency(2)
                .optInverseUpdateFrequency(3)
                .optDamping(1e-1f)
                .optMomentum(0.5f)
                .optWeightDecays(1e-3f)
                .optLearningRate(0.05f)
                .build();
    }

    /**
     * A NaN in one parameter's gradient, before taken step t = 1 (factor and refresh step), 3
     * (factor step), 4 (refresh step) or 6 (neither): that step is rejected, and the run is then
     * bit-identical to a twin run in which it never happened, factors and counters included.
     */
    @ParameterizedTest(name = "before step {0}")
    @ValueSource(ints = {0, 2, 3, 5})
    void aNanInOneGradientLeavesNoTrace(int position) {
        assertLeavesNoTrace(position, 0, Double.NaN);
    }

    /**
     * A gradient of 1e30 in float32 (finite, but its squares are not): the preconditioned norm
     * overflows (on a refresh step, its bound \( \|M\|^2 / \lambda \) does), so the step is
     * rejected rather than written as NaN, and the run is bit-identical to a twin run in which it
     * never happened. It counts as rejected statistics, not as a non-finite gradient.
     */
    @ParameterizedTest(name = "before step {0}")
    @ValueSource(ints = {0, 2, 3, 5})
    void anOverflowingPreconditionedNormLeavesNoTrace(int position) {
        assertLeavesNoTrace(position, 2, 1e30);
    }

    private static void assertLeavesNoTrace(int position, int parameter, double factor) {
        try (NDManager manager = NDManager.newBaseManager()) {
            Kfac poisoned = kfac();
            Kfac clean = kfac();
            try (ContractProblem a = ContractProblem.mlp(manager, DataType.FLOAT32, poisoned);
                    ContractProblem b = ContractProblem.mlp(manager, DataType.FLOAT32, clean)) {
                for (int step = 0; step < 8; step++) {
                    if (step == position) {
                        double[] before = a.weights();
                        a.backward();
                        a.scaleGradient(parameter, factor);
                        a.update();
                        assertArrayEquals(before, a.weights(), 0.0, "the rejected step");
                    }
                    a.backward();
                    a.update();
                    b.backward();
                    b.update();
                }
                assertArrayEquals(b.weights(), a.weights(), 0.0);
                OptimizerHealth health = poisoned.health();
                assertEquals(9, health.steps());
                assertEquals(1, health.skippedSteps());
                boolean nan = Double.isNaN(factor);
                assertEquals(nan ? 1 : 0, health.nonFiniteGradientSteps());
                assertEquals(nan ? 0 : 1, health.rejectedStatisticsSteps());
                assertEquals(clean.kroneckerHealth(), poisoned.kroneckerHealth());
            }
        }
    }

    /**
     * Over 20 steps with factors every step and inverses every 10, only the refresh steps (taken
     * steps 1 and 11) read from the device. On the 2-layer MLP in INVERSE mode: step 1 reads its
     * decision (1), then per layer the two inversions and one read of whether its statistics and
     * inverses are finite (3 x 2) = 7; step 11 first reads its index (the host has not seen steps 2
     * to 10 decided, and only step 11 of the indices it may have is a refresh step), then the same
     * 7 = 8. Steps 2 to 10 and 12 to 20 read nothing.
     */
    @Test
    void onlyRefreshStepsReadFromTheDevice() {
        Kfac kfac =
                Kfac.builder()
                        .optFactorUpdateFrequency(1)
                        .optInverseUpdateFrequency(10)
                        .optDamping(1e-1f)
                        .optLearningRate(0.05f)
                        .build();
        try (NDManager manager = NDManager.newBaseManager();
                ContractProblem problem = ContractProblem.mlp(manager, DataType.FLOAT32, kfac)) {
            long[] reads = new long[20];
            long before = HostReads.count();
            for (int step = 0; step < 20; step++) {
                long start = HostReads.count();
                problem.backward();
                problem.update();
                reads[step] = HostReads.count() - start;
            }
            long total = HostReads.count() - before;
            long[] expected = new long[20];
            expected[0] = 7;
            expected[10] = 8;
            assertArrayEquals(expected, reads);
            assertEquals(15, total);
            OptimizerHealth health = kfac.health();
            assertEquals(2, health.hostReads().stepsWithReads());
            // the steps' 15; the read health() makes of the step counters is no step's
            assertEquals(15, health.hostReads().reads());
            assertEquals(0, health.skippedSteps());
        }
    }

    /**
     * A model whose block did not go through {@code instrument} is refused at the first step with
     * the fix, and the step changes nothing; with {@code optAllowUninstrumented(true)} every
     * parameter moves by the first-order rule (here plain SGD: \( w - \eta g \), exactly).
     */
    @Test
    void aModelWithoutInstrumentedLayersIsRefusedUnlessAllowed() {
        Kfac refusing = Kfac.builder().build();
        Random random = new Random(1);
        try (KfacNet net =
                new KfacNet(
                        KfacNet.mlp(), b -> b, refusing, DataType.FLOAT64, KfacNet.mlpInput(8))) {
            Map<String, double[]> before = net.weights();
            double[][] batch = KfacNet.batch(random, KfacNet.mlpInput(8));
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, () -> net.step(batch));
            assertEquals(UNINSTRUMENTED, e.getMessage());
            assertEquals(0, refusing.health().steps());
            for (String name : before.keySet()) {
                assertArrayEquals(before.get(name), net.weights().get(name), 0.0, name);
            }
        }
        double lr = 0.125;
        Kfac allowing =
                Kfac.builder()
                        .optAllowUninstrumented(true)
                        .optMomentum(0)
                        .optLearningRate((float) lr)
                        .build();
        try (KfacNet net =
                new KfacNet(
                        KfacNet.mlp(), b -> b, allowing, DataType.FLOAT64, KfacNet.mlpInput(8))) {
            for (int step = 0; step < 2; step++) {
                Map<String, double[]> before = net.weights();
                Map<String, double[]> gradients =
                        net.step(KfacNet.batch(random, KfacNet.mlpInput(8)));
                Map<String, double[]> after = net.weights();
                for (String name : before.keySet()) {
                    double[] expected = before.get(name).clone();
                    for (int i = 0; i < expected.length; i++) {
                        expected[i] -= gradients.get(name)[i] * lr;
                    }
                    assertArrayEquals(expected, after.get(name), 0.0, name);
                }
            }
            assertEquals(List.of(), allowing.instrumentation().layers());
            assertEquals(0, allowing.health().skippedSteps());
        }
    }

    /** Damping and frequency trackers fail at build(), naming the setting and its first value. */
    @Test
    void trackersAreCheckedAtBuild() {
        assertMessage(
                "dampingTracker must give finite, non-negative values, but its first is -1.0",
                () -> Kfac.builder().optDampingTracker(Tracker.fixed(-1f)).build());
        assertMessage(
                "dampingTracker must give finite, non-negative values, but its first is NaN",
                () -> Kfac.builder().optDampingTracker(Tracker.fixed(Float.NaN)).build());
        assertMessage(
                "dampingTracker must give positive values, but its first is 0.0",
                () -> Kfac.builder().optDampingTracker(Tracker.fixed(0f)).build());
        assertMessage(
                "factorUpdateFrequencyTracker must give finite, non-negative values, but its first"
                        + " is -2.0",
                () -> Kfac.builder().optFactorUpdateFrequencyTracker(Tracker.fixed(-2f)).build());
        assertMessage(
                "inverseUpdateFrequencyTracker must give finite, non-negative values, but its"
                        + " first is Infinity",
                () ->
                        Kfac.builder()
                                .optInverseUpdateFrequencyTracker(
                                        Tracker.fixed(Float.POSITIVE_INFINITY))
                                .build());
        assertEquals(
                2e-3f,
                Kfac.builder()
                        .optDampingTracker(Tracker.fixed(2e-3f))
                        .build()
                        .getDampingTracker()
                        .getNewValue(0));
    }

    private static void assertMessage(String message, Supplier<Kfac> build) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, build::get);
        assertEquals(message, e.getMessage());
    }
}
