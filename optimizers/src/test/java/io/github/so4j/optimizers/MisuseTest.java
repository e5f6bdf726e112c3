package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.LocalParameterServer;
import ai.djl.training.ParameterStore;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.testing.HalfSquaredErrorLoss;
import java.util.Arrays;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Misuse fails loudly and early, never silently: one optimizer given a second model or a second
 * device, an exception inside a step, and trackers that give bad values.
 */
class MisuseTest {

    static Stream<So4jOptimizers.Entry> optimizers() {
        return So4jOptimizers.all().stream();
    }

    /**
     * An optimizer that trains one model and is then handed a second model's parameters throws at
     * the second model's first update, names the fix, and stays ready for the first model.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("optimizers")
    void aSecondModelFailsAtOnce(So4jOptimizers.Entry entry) {
        try (NDManager manager = NDManager.newBaseManager()) {
            SecondOrderOptimizer optimizer = entry.build();
            try (ContractProblem first =
                            ContractProblem.quadratic(manager, DataType.FLOAT64, optimizer);
                    ContractProblem second =
                            ContractProblem.rosenbrock(manager, DataType.FLOAT64, optimizer)) {
                for (int i = 0; i < 2; i++) {
                    entry.step(optimizer, first);
                }
                double[] untouched = second.weights();
                second.backward();
                IllegalStateException e =
                        assertThrows(
                                IllegalStateException.class,
                                () -> {
                                    entry.afterBackward().accept(optimizer, second);
                                    second.update();
                                });
                assertTrue(
                        e.getMessage()
                                .matches(
                                        optimizer.getClass().getSimpleName()
                                                + " already trains another model's parameters,"
                                                + " and parameter \\S+ \\([0-9, ]+\\) belongs to a"
                                                + " different model: an so4j optimizer keeps the"
                                                + " state of one model, so build one optimizer per"
                                                + " trainer"),
                        e.getMessage());
                assertArrayEquals(untouched, second.weights(), 0.0);
                double before = first.loss();
                for (int i = 0; i < 3; i++) {
                    entry.step(optimizer, first);
                }
                assertTrue(first.loss() < before, before + " -> " + first.loss());
                assertEquals(5, optimizer.health().steps());
            }
        }
    }

    /**
     * DJL's multi-device training (a parameter store over several devices) calls {@code update}
     * once per device copy of a parameter, through {@code LocalParameterServer}; the first step
     * fails with a message naming the alternatives. On a CPU-only machine the second copy is a
     * second CPU array, which takes the optimizer through the same calls.
     */
    @Test
    void multiDeviceTrainingFailsAtTheFirstStep() {
        try (NDManager manager = NDManager.newBaseManager()) {
            SecondOrderOptimizer optimizer =
                    MFac.builder().optWindowSize(2).optLearningRate(0.01f).build();
            Block block = Linear.builder().setUnits(2).build();
            NDArray data = manager.randomNormal(new Shape(4, 3));
            NDArray labels = manager.randomNormal(new Shape(4, 2));
            block.initialize(manager, DataType.FLOAT32, data.getShape());
            ParameterStore store = new ParameterStore(manager, false);
            store.setParameterServer(
                    new LocalParameterServer(optimizer), new Device[] {manager.getDevice()});
            try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
                NDList out = block.forward(store, new NDList(data), true);
                collector.backward(new HalfSquaredErrorLoss().evaluate(new NDList(labels), out));
            }
            // what DJL's LocalParameterServer does for a parameter held on two devices: one
            // update per copy, with the same id (DJL refuses the same device twice in a store)
            Parameter weight = block.getParameters().get(0).getValue();
            NDArray copy = weight.getArray().duplicate();
            copy.setRequiresGradient(true);
            NDArray gradient = weight.getArray().getGradient();
            LocalParameterServer server = new LocalParameterServer(optimizer);
            IllegalStateException e =
                    assertThrows(
                            IllegalStateException.class,
                            () ->
                                    server.update(
                                            weight.getId(),
                                            new NDArray[] {gradient, gradient.duplicate()},
                                            new NDArray[] {weight.getArray(), copy}));

            assertTrue(
                    e.getMessage()
                            .matches(
                                    "MFac trains on one device, but DJL updated parameter .+ twice"
                                            + " in one step, once per device copy \\(optDevices with"
                                            + " more than one device\\): train on one device, or use"
                                            + " one of DJL's own optimizers for multi-device"
                                            + " training"),
                    e.getMessage());
        }
    }

    /**
     * An exception inside a step leaves the optimizer ready for the next step: the failed step
     * moves nothing and is not counted, and the next step moves the weights as a plain step does.
     */
    @Test
    void anExceptionInsideAStepLeavesTheOptimizerReady() {
        try (NDManager manager = NDManager.newBaseManager()) {
            GradientStepOptimizer failing =
                    GradientStepOptimizer.builder().throwingAtCall(2).build();
            GradientStepOptimizer plain = GradientStepOptimizer.builder().build();
            try (ContractProblem a = ContractProblem.mlp(manager, DataType.FLOAT32, failing);
                    ContractProblem b = ContractProblem.mlp(manager, DataType.FLOAT32, plain)) {
                a.backward();
                a.update();
                b.backward();
                b.update();
                double[] before = a.weights();
                a.backward();
                IllegalStateException e = assertThrows(IllegalStateException.class, a::update);
                assertEquals("computeStep failed on purpose", e.getMessage());
                assertArrayEquals(before, a.weights(), 0.0);
                assertEquals(1, failing.health().steps());
                for (int i = 0; i < 3; i++) {
                    a.backward();
                    a.update();
                    b.backward();
                    b.update();
                }
                assertArrayEquals(b.weights(), a.weights(), 0.0);
                assertEquals(4, failing.health().steps());
                assertEquals(0, failing.health().skippedSteps());
            }
        }
    }

    /** A learning-rate tracker whose first value is negative or not finite fails at build(). */
    @Test
    void badTrackersFailAtBuild() {
        Tracker negative = Tracker.fixed(-1f);
        Tracker nan = Tracker.fixed(Float.NaN);
        for (Supplier<SecondOrderOptimizer> build :
                Arrays.<Supplier<SecondOrderOptimizer>>asList(
                        () -> MFac.builder().optLearningRateTracker(negative).build(),
                        () -> Shampoo.builder().optLearningRateTracker(negative).build(),
                        () -> Kfac.builder().optLearningRateTracker(negative).build(),
                        () -> SubspaceNewton.builder().optLearningRateTracker(negative).build())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, build::get);
            assertEquals(
                    "learningRateTracker must give finite, non-negative values, but its first is"
                            + " -1.0",
                    e.getMessage());
        }
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> MFac.builder().optLearningRateTracker(nan).build());
        assertEquals(
                "learningRateTracker must give finite, non-negative values, but its first is NaN",
                e.getMessage());
    }

    /**
     * Ordinary steps read nothing from the device: over 20 clean steps, only the amortized steps of
     * each entry's settings read (none for M-FAC, every other step for K-FAC's and Shampoo's
     * refreshes every 2 steps, every step for subspace Newton's k x k solve).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("optimizers")
    void onlyAmortizedStepsReadFromTheDevice(So4jOptimizers.Entry entry) {
        try (NDManager manager = NDManager.newBaseManager()) {
            SecondOrderOptimizer optimizer = entry.build();
            try (ContractProblem problem =
                    ContractProblem.mlp(manager, DataType.FLOAT32, optimizer)) {
                long before = HostReads.count();
                for (int i = 0; i < 20; i++) {
                    entry.step(optimizer, problem);
                }
                long reads = HostReads.count() - before;
                OptimizerHealth health = optimizer.health();
                assertEquals(
                        entry.stepsWithReads().applyAsInt(20), health.hostReads().stepsWithReads());
                if (entry.stepsWithReads().applyAsInt(20) == 0) {
                    assertEquals(0, reads);
                }
                assertFalse(health.hostReads().reads() < health.hostReads().stepsWithReads());
            }
        }
    }
}
