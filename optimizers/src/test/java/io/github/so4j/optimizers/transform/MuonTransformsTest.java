package io.github.so4j.optimizers.transform;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.linalg.NewtonSchulzOrthogonalizer;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link EmaMomentum} and {@link Orthogonalize} against plain-Java float64 twins (float64 arrays:
 * the tolerances cover the order of operations only).
 */
class MuonTransformsTest {

    private static final int N = 6;
    private static final int STEPS = 7;

    /**
     * The reference's momentum, \( b \leftarrow \mu b + (1 - \mu) d \), then \( (1 - \mu) d + \mu b
     * \) or b, at 1e-12 (values of order 1, a handful of operations); and the identity with the
     * suite's {@link Momentum}: \( 1 - \mu \) times its output, at every step.
     */
    @Test
    void emaMomentumMatchesItsFormulaAndIsScaledSgdMomentum() {
        float mu = 0.9f;
        double m = mu;
        Random random = new Random(3);
        for (boolean nesterov : new boolean[] {true, false}) {
            try (NDManager manager = NDManager.newBaseManager()) {
                NDArray weight = manager.zeros(new Shape(N)).toType(DataType.FLOAT64, false);
                EmaMomentum ema = new EmaMomentum(mu, nesterov);
                Momentum sgd = Momentum.of(mu, 0, nesterov);
                NDList emaState = ema.init(weight);
                NDList sgdState = sgd.init(weight);
                double[] buffer = new double[N];
                for (int s = 0; s < STEPS; s++) {
                    double[] d = new double[N];
                    for (int i = 0; i < N; i++) {
                        d[i] = random.nextGaussian();
                    }
                    Transform.Context context =
                            new Transform.Context(
                                    manager.create(d), weight, manager.create(s + 1.0));
                    Transform.Result e = ema.apply(manager.create(d), emaState, context);
                    Transform.Result g = sgd.apply(manager.create(d), sgdState, context);
                    emaState = e.state();
                    sgdState = g.state();
                    double[] expected = new double[N];
                    for (int i = 0; i < N; i++) {
                        buffer[i] = m * buffer[i] + (1 - m) * d[i];
                        expected[i] = nesterov ? (1 - m) * d[i] + m * buffer[i] : buffer[i];
                    }
                    double[] out = e.direction().toDoubleArray();
                    assertArrayEquals(expected, out, 1e-12, "step " + s);
                    assertArrayEquals(buffer, emaState.head().toDoubleArray(), 1e-12);
                    double[] scaled = g.direction().mul(1 - m).toDoubleArray();
                    assertArrayEquals(scaled, out, 1e-12, "step " + s + " against Momentum");
                }
            }
        }
        assertEquals(
                "momentum must be in [0, 1), but was 1.0",
                assertThrows(IllegalArgumentException.class, () -> new EmaMomentum(1, true))
                        .getMessage());
        assertEquals(
                "momentum must be in [0, 1), but was NaN",
                assertThrows(IllegalArgumentException.class, () -> new EmaMomentum(Float.NaN, true))
                        .getMessage());
    }

    /**
     * A kernel (4, 2, 1, 3) is orthogonalised as the 4 x 6 matrix of its rows, and scaled by \(
     * \sqrt{\max(1, 4/6)} = 1 \) or \( 0.2 \sqrt{6} \); a tall (6, 2) matrix by \( \sqrt{3} \) or
     * \( 0.2 \sqrt{6} \). Oracle: the device iteration on the reshaped matrix (itself checked
     * against its closed form in curvature), times the factor computed here.
     */
    @Test
    void orthogonalizeFlattensKernelsAndScalesByShape() {
        NewtonSchulzOrthogonalizer ns = new NewtonSchulzOrthogonalizer();
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray kernel =
                    manager.randomNormal(new Shape(4, 2, 1, 3)).toType(DataType.FLOAT64, false);
            NDArray tall = manager.randomNormal(new Shape(6, 2)).toType(DataType.FLOAT64, false);
            double[][] cases = {{1, 0.2 * Math.sqrt(6)}, {Math.sqrt(3), 0.2 * Math.sqrt(6)}};
            NDArray[] inputs = {kernel, tall};
            Shape[] matrices = {new Shape(4, 6), new Shape(6, 2)};
            for (int k = 0; k < 2; k++) {
                NDArray input = inputs[k];
                double[] plain =
                        ns.orthogonalize(input.reshape(matrices[k]), manager).toDoubleArray();
                Orthogonalize.Scale[] scales = Orthogonalize.Scale.values();
                for (int s = 0; s < scales.length; s++) {
                    Transform.Result r =
                            new Orthogonalize(ns, scales[s])
                                    .apply(
                                            input,
                                            new NDList(),
                                            new Transform.Context(
                                                    input, input, manager.create(1.0)));
                    assertEquals(input.getShape(), r.direction().getShape());
                    double[] out = r.direction().toDoubleArray();
                    for (int i = 0; i < plain.length; i++) {
                        assertEquals(cases[k][s] * plain[i], out[i], 1e-14, "entry " + i);
                    }
                }
            }
            assertEquals(new Shape(4, 6), Orthogonalize.matrixShape(kernel.getShape()));
            assertEquals(
                    "only parameters of 2 dimensions or more can be orthogonalised, but the shape"
                            + " was (4)",
                    assertThrows(
                                    IllegalArgumentException.class,
                                    () -> Orthogonalize.matrixShape(new Shape(4)))
                            .getMessage());
        }
    }
}
