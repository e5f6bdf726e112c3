package io.github.so4j.curvature.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.loss.Loss;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link HalfSquaredErrorLoss} is DJL's {@code L2Loss} bit for bit (value and gradient), and its
 * gradient \( (y - t) / N \) is unchanged by a garbage collection between forward and backward.
 */
class HalfSquaredErrorLossTest {

    private static double[][] lossAndGradient(
            NDManager manager, DataType type, Loss loss, Runnable between) {
        Random random = new Random(5);
        Shape shape = new Shape(6, 3);
        NDArray y = Dense.toArray(manager, Dense.gaussian(random, 6, 3, 1), type);
        NDArray t = Dense.toArray(manager, Dense.gaussian(random, 6, 3, 1), type);
        y.setRequiresGradient(true);
        try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
            // y times 1 through an array: the loss's input is recorded, not the leaf itself
            NDArray value =
                    loss.evaluate(new NDList(t), new NDList(y.mul(manager.ones(shape, type))));
            between.run();
            collector.backward(value);
            return new double[][] {
                Dense.toDoubles(value),
                Dense.toDoubles(y.getGradient()),
                Dense.toDoubles(y),
                Dense.toDoubles(t)
            };
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void isDjlsL2LossAndSurvivesACollectionBeforeBackward(DataType type) {
        try (NDManager manager = NDManager.newBaseManager()) {
            double[][] djl = lossAndGradient(manager, type, Loss.l2Loss(), () -> {});
            HalfSquaredErrorLoss loss = new HalfSquaredErrorLoss();
            double[][] safe = lossAndGradient(manager, type, loss, () -> {});
            assertArrayEquals(djl[0], safe[0], 0.0);
            assertArrayEquals(djl[1], safe[1], 0.0);
            double[] expected = new double[safe[2].length];
            for (int i = 0; i < expected.length; i++) {
                expected[i] = (safe[2][i] - safe[3][i]) / expected.length;
            }
            // one rounding of an O(1) difference over 18: float32 near 1e-8, float64 near 1e-17
            assertArrayEquals(expected, safe[1], type == DataType.FLOAT32 ? 1e-7 : 1e-15);
            double[][] collected = lossAndGradient(manager, type, loss, GarbageCollection::collect);
            assertArrayEquals(safe[1], collected[1], 0.0);
        }
    }
}
