package io.github.so4j.bench.workload;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.GarbageCollection;
import java.util.Random;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The summed sigmoid cross-entropy against its definition in plain Java, in float64; its gradient
 * against \( (\sigma(z) - y) / B \), and unchanged by a garbage collection between the forward and
 * the backward pass.
 */
class SummedSigmoidCrossEntropyLossTest {

    @Test
    void sumsOverFeaturesAndAveragesOverTheBatch() {
        int batch = 4;
        int features = 7;
        Random random = new Random(2);
        double[] z = new double[batch * features];
        double[] y = new double[batch * features];
        for (int i = 0; i < z.length; i++) {
            z[i] = random.nextGaussian() * 20; // large logits: the stable form matters
            y[i] = random.nextDouble();
        }
        double expected = 0;
        for (int i = 0; i < z.length; i++) {
            // -y log p - (1 - y) log(1 - p) for p = sigmoid(z), with log(1 - p) = log p - z
            double logP = -Math.log1p(Math.exp(-Math.abs(z[i]))) + Math.min(z[i], 0);
            expected += -y[i] * logP - (1 - y[i]) * (logP - z[i]);
        }
        expected /= batch;
        try (NDManager manager = NDManager.newBaseManager()) {
            double actual =
                    new SummedSigmoidCrossEntropyLoss()
                            .evaluate(
                                    new NDList(manager.create(y, new Shape(batch, features))),
                                    new NDList(manager.create(z, new Shape(batch, features))))
                            .getDouble();
            // float64 sums of 28 terms of size up to about 50: rounding far below 1e-12
            assertEquals(expected, actual, 1e-12 * Math.abs(expected));
        }
    }

    private static final int BATCH = 4;
    private static final int FEATURES = 7;

    /** Logits with exact zeros (where the maximum's gradient splits) and targets in [0, 1]. */
    private static double[][] logitsAndTargets() {
        Random random = new Random(3);
        double[] z = new double[BATCH * FEATURES];
        double[] y = new double[BATCH * FEATURES];
        for (int i = 0; i < z.length; i++) {
            z[i] = i % 5 == 0 ? 0 : random.nextGaussian() * 3;
            y[i] = random.nextDouble();
        }
        return new double[][] {z, y};
    }

    /** The loss and its gradient in the logits, running {@code between} before backward. */
    private static double[][] lossAndGradient(
            NDManager manager,
            DataType type,
            BiFunction<NDList, NDList, NDArray> loss,
            Runnable between) {
        double[][] zy = logitsAndTargets();
        Shape shape = new Shape(BATCH, FEATURES);
        NDArray z = Dense.toArray(manager, zy[0], type).reshape(shape);
        NDArray y = Dense.toArray(manager, zy[1], type).reshape(shape);
        z.setRequiresGradient(true);
        try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
            // z times 1 through an array: the loss's input is recorded, not the leaf itself
            NDArray value = loss.apply(new NDList(y), new NDList(z.mul(manager.ones(shape, type))));
            between.run();
            collector.backward(value);
            return new double[][] {Dense.toDoubles(value), Dense.toDoubles(z.getGradient())};
        }
    }

    /**
     * The loss as it was computed with DJL's number overloads (right when nothing is collected).
     */
    private static NDArray numberOverloads(NDList labels, NDList predictions) {
        NDArray z = predictions.singletonOrThrow();
        NDArray y = labels.singletonOrThrow().reshape(z.getShape()).toType(z.getDataType(), false);
        NDArray elements = z.maximum(0).sub(z.mul(y)).add(z.abs().neg().exp().add(1).log());
        return elements.sum().div(z.getShape().get(0));
    }

    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void gradientIsSigmoidMinusTargetOverBatchAndSurvivesACollectionBeforeBackward(DataType type) {
        SummedSigmoidCrossEntropyLoss loss = new SummedSigmoidCrossEntropyLoss();
        try (NDManager manager = NDManager.newBaseManager()) {
            double[][] actual = lossAndGradient(manager, type, loss::evaluate, () -> {});
            double[][] zy = logitsAndTargets();
            double[] expected = new double[zy[0].length];
            for (int i = 0; i < expected.length; i++) {
                expected[i] = (1 / (1 + Math.exp(-zy[0][i])) - zy[1][i]) / BATCH;
            }
            // entries below 1 from O(1) operations: float32 rounding near 1e-7, float64 near 1e-16
            assertArrayEquals(expected, actual[1], type == DataType.FLOAT32 ? 1e-6 : 1e-14);
            double[][] before =
                    lossAndGradient(
                            manager,
                            type,
                            SummedSigmoidCrossEntropyLossTest::numberOverloads,
                            () -> {});
            assertArrayEquals(before[0], actual[0], 0.0);
            assertArrayEquals(before[1], actual[1], 0.0);
            double[][] collected =
                    lossAndGradient(manager, type, loss::evaluate, GarbageCollection::collect);
            assertArrayEquals(actual[1], collected[1], 0.0);
        }
    }
}
