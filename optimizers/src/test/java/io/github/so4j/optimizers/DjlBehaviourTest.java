package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.LocalParameterServer;
import ai.djl.training.ParameterStore;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Pins the three behaviours of DJL that {@link SecondOrderOptimizer} relies on to find a model's
 * parameters (DJL's optimizer protocol hands them over one at a time): a failure here after a DJL
 * upgrade means the discovery in the base class must be revisited.
 */
class DjlBehaviourTest {

    private static final Pattern ID = Pattern.compile("uid-\\d+-(\\d+)");

    /**
     * (1) A block's parameters are created in the manager given to {@code initialize}, and they are
     * the arrays of that manager that carry a gradient.
     */
    @Test
    void parametersLiveInTheInitializingManagerAndCarryGradients() {
        try (NDManager manager = NDManager.newBaseManager()) {
            SequentialBlock block = twoLayers();
            block.initialize(manager, DataType.FLOAT32, new Shape(1, 4));
            Set<String> parameters = new HashSet<>();
            for (Pair<String, Parameter> p : block.getParameters()) {
                NDArray array = p.getValue().getArray();
                assertSame(manager, array.getManager(), p.getKey());
                assertTrue(array.hasGradient(), p.getKey());
                parameters.add(array.getUid());
            }
            Set<String> withGradient = new HashSet<>();
            for (NDArray array : ((BaseNDManager) manager).getManagedArrays()) {
                if (array.hasGradient()) {
                    withGradient.add(array.getUid());
                }
            }
            assertEquals(parameters, withGradient);
        }
    }

    /**
     * (2) On one device, {@code ParameterStore.updateAllParameters} hands the optimizer the
     * parameter arrays themselves, not copies, each once.
     */
    @Test
    void theParameterStorePassesTheParametersThemselves() {
        try (NDManager manager = NDManager.newBaseManager()) {
            SequentialBlock block = twoLayers();
            block.initialize(manager, DataType.FLOAT32, new Shape(1, 4));
            List<String> seen = new ArrayList<>();
            Optimizer recorder =
                    new Optimizer(
                            Optimizer.sgd()
                                    .setLearningRateTracker(
                                            ai.djl.training.tracker.Tracker.fixed(0f))) {
                        @Override
                        public void update(String parameterId, NDArray weight, NDArray grad) {
                            seen.add(weight.getUid());
                        }
                    };
            ParameterStore store = new ParameterStore(manager, false);
            store.setParameterServer(
                    new LocalParameterServer(recorder), new Device[] {manager.getDevice()});
            try (var collector = manager.getEngine().newGradientCollector()) {
                NDList out = block.forward(store, new NDList(manager.ones(new Shape(1, 4))), true);
                collector.backward(out.head().sum());
            }
            store.updateAllParameters();
            List<String> expected = new ArrayList<>();
            for (Pair<String, Parameter> p : block.getParameters()) {
                expected.add(p.getValue().getArray().getUid());
            }
            // in an order of DJL's choosing
            assertEquals(new HashSet<>(expected), new HashSet<>(seen));
            assertEquals(expected.size(), seen.size());
        }
    }

    /**
     * (3) Parameter ids are {@code uid-<time>-<counter>}, the counter increasing in order of
     * creation, so it orders a model's parameters the same way on every run.
     */
    @Test
    void parameterIdsCountInOrderOfCreation() {
        SequentialBlock block = twoLayers();
        long previous = -1;
        for (Pair<String, Parameter> p : block.getParameters()) {
            Matcher m = ID.matcher(p.getValue().getId());
            assertTrue(m.matches(), "DJL's parameter id format changed: " + p.getValue().getId());
            long counter = Long.parseLong(m.group(1));
            assertTrue(counter > previous, p.getKey() + " was created after its predecessor");
            previous = counter;
        }
    }

    private static SequentialBlock twoLayers() {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(3).build())
                .add(Linear.builder().setUnits(2).build());
    }
}
