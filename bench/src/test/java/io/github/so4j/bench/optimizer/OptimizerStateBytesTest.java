package io.github.so4j.bench.optimizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.optimizer.Sgd;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.curvature.testing.HalfSquaredErrorLoss;
import io.github.so4j.optimizers.Muon;
import java.lang.reflect.Field;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link OptimizerStateBytes} for DJL's optimizers against the arrays they actually hold after a
 * few steps, read from their private state maps (DJL 0.36's field names) as the oracle, and against
 * counts by hand: a 5-4-3 MLP has W1 (4, 5), b1 (4), W2 (3, 4), b2 (3), 39 float32 numbers of 4
 * bytes.
 */
class OptimizerStateBytesTest {

    private static final long PARAMETER_BYTES = 39 * 4;

    private final OptimizerCatalog catalog = new OptimizerCatalog();

    /** What the harness computed and the optimizer it computed it for, after three steps. */
    private record Count(long computed, Optimizer optimizer) {

        /** The bytes DJL's optimizer holds. */
        long held() throws ReflectiveOperationException {
            return OptimizerStateBytesTest.held(optimizer);
        }
    }

    private Count train(String name, Map<String, String> overrides, boolean freezeFirstLayer)
            throws ReflectiveOperationException {
        OptimizerCatalog.Entry entry = catalog.get(name);
        OptimizerSettings settings = entry.settings(Workload.MLP, overrides);
        Optimizer optimizer = entry.create(Workload.MLP, overrides);
        SequentialBlock block =
                new SequentialBlock()
                        .add(Linear.builder().setUnits(4).build())
                        .add(Activation::tanh)
                        .add(Linear.builder().setUnits(3).build());
        try (Model model = Model.newInstance("state-bytes")) {
            model.setBlock(entry.strategy().prepare(block, optimizer));
            try (Trainer trainer =
                    model.newTrainer(
                            new DefaultTrainingConfig(new HalfSquaredErrorLoss())
                                    .optOptimizer(optimizer))) {
                trainer.initialize(new Shape(8, 5));
                if (freezeFirstLayer) {
                    block.getChildren().get(0).getValue().freezeParameters(true);
                }
                NDManager manager = trainer.getManager();
                for (int step = 0; step < 3; step++) {
                    try (NDManager scope = manager.newSubManager()) {
                        NDArray x = scope.randomNormal(new Shape(8, 5));
                        NDArray y = scope.randomNormal(new Shape(8, 3));
                        try (GradientCollector collector = trainer.newGradientCollector()) {
                            NDList out = trainer.forward(new NDList(x));
                            collector.backward(trainer.getLoss().evaluate(new NDList(y), out));
                        }
                        trainer.step();
                    }
                }
                return new Count(OptimizerStateBytes.of(optimizer, settings, block), optimizer);
            }
        }
    }

    /** The bytes of every array in the optimizer's private state maps (the test's oracle). */
    private static long held(Optimizer optimizer) throws ReflectiveOperationException {
        String[] fields =
                optimizer instanceof Sgd
                        ? new String[] {"momentumStates"}
                        : new String[] {"means", "variances"};
        long bytes = 0;
        for (String name : fields) {
            Field field = optimizer.getClass().getDeclaredField(name);
            field.setAccessible(true);
            Map<?, ?> byParameter = (Map<?, ?>) field.get(optimizer);
            for (Object byDevice : byParameter.values()) {
                for (Object value : ((Map<?, ?>) byDevice).values()) {
                    NDArray array = (NDArray) value;
                    bytes += array.size() * array.getDataType().getNumOfBytes();
                }
            }
        }
        return bytes;
    }

    @Test
    void adamAndAdamWHoldTwoMomentsPerParameter() throws ReflectiveOperationException {
        for (String name : new String[] {"adam", "adamw"}) {
            Count count = train(name, Map.of(), false);
            assertEquals(2 * PARAMETER_BYTES, count.held(), name);
            assertEquals(count.held(), count.computed(), name);
        }
    }

    @Test
    void sgdHoldsOneBufferWithMomentumAndNoneWithout() throws ReflectiveOperationException {
        Count momentum = train("sgd", Map.of(), false);
        assertEquals(PARAMETER_BYTES, momentum.held(), "the catalog's sgd has momentum 0.9");
        assertEquals(momentum.held(), momentum.computed());
        Count plain = train("sgd", Map.of("momentum", "0"), false);
        assertEquals(0, plain.held());
        assertEquals(0, plain.computed());
    }

    /** A frozen layer is not updated, so DJL keeps no state for it: W2 and b2 only. */
    @Test
    void frozenParametersHoldNoState() throws ReflectiveOperationException {
        Count count = train("adam", Map.of(), true);
        assertEquals(2 * (12 + 3) * 4, count.held());
        assertEquals(count.held(), count.computed());
    }

    /**
     * so4j's optimizers measure themselves: Muon's default rule gives the hidden W1 a momentum
     * buffer and W2 (the output layer) and the biases AdamW's two moments.
     */
    @Test
    void so4jOptimizersMeasureThemselves() throws ReflectiveOperationException {
        Count count = train("muon", Map.of(), false);
        assertEquals((20 + 2 * (12 + 4 + 3)) * 4, count.computed());
        assertEquals(((Muon) count.optimizer()).stateBytes(), count.computed());
    }

    @Test
    void otherDjlOptimizersAreUnknown() {
        OptimizerSettings none = OptimizerSettings.of("rmsprop", Map.of(), Map.of(), Map.of());
        assertEquals(
                OptimizerStateBytes.UNKNOWN,
                OptimizerStateBytes.of(Optimizer.rmsprop().build(), none, new SequentialBlock()));
    }
}
