package io.github.so4j.bench.workload;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The summed sigmoid cross-entropy against its definition in plain Java, in float64. */
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
}
