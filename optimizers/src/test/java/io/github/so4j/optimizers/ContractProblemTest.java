package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.GarbageCollection;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The contract problems' gradients do not depend on when the garbage collector runs: a collection
 * between the forward and the backward pass gives the same gradient, bit for bit. A loss that
 * multiplies a recorded array by a Java number (DJL's {@code mul(Number)}) fails this: DJL's
 * PyTorch engine makes the number a scalar array over host memory and closes it at once, the graph
 * keeps it for the backward pass, and once the collector has freed that memory the gradient is
 * scaled by whatever it holds.
 */
class ContractProblemTest {

    static Stream<Arguments> problems() {
        List<Arguments> cases = new ArrayList<>();
        for (String name : List.of("quadratic", "rosenbrock", "mlp")) {
            for (DataType type : List.of(DataType.FLOAT32, DataType.FLOAT64)) {
                cases.add(Arguments.of(name, type));
            }
        }
        return cases.stream();
    }

    private static ContractProblem make(String name, NDManager manager, DataType type) {
        GradientStepOptimizer optimizer = GradientStepOptimizer.builder().build();
        return switch (name) {
            case "quadratic" -> ContractProblem.quadratic(manager, type, optimizer);
            case "rosenbrock" -> ContractProblem.rosenbrock(manager, type, optimizer);
            default -> ContractProblem.mlp(manager, type, optimizer);
        };
    }

    private static double[] gradients(ContractProblem problem) {
        List<double[]> parts = new ArrayList<>();
        int total = 0;
        for (NDArray w : problem.parameters()) {
            try (NDArray g = w.getGradient()) {
                double[] v = Dense.toDoubles(g);
                parts.add(v);
                total += v.length;
            }
        }
        double[] all = new double[total];
        int offset = 0;
        for (double[] v : parts) {
            System.arraycopy(v, 0, all, offset, v.length);
            offset += v.length;
        }
        return all;
    }

    @ParameterizedTest(name = "{0}, {1}")
    @MethodSource("problems")
    void gradientIsTheSameWhenTheCollectorRunsBeforeBackward(String name, DataType type) {
        try (NDManager manager = NDManager.newBaseManager();
                ContractProblem problem = make(name, manager, type)) {
            problem.backward();
            double[] undisturbed = gradients(problem);
            if (name.equals("rosenbrock")) {
                // the independent oracle at (-1.2, 1): (-2 (1 - x) - 400 x (y - x^2), 200 (y -
                // x^2));
                // float32 rounds the start point and each operation: a few ulps of 215.6
                double tolerance = type == DataType.FLOAT64 ? 1e-12 : 1e-4;
                assertArrayEquals(new double[] {-215.6, -88}, undisturbed, tolerance);
            }
            problem.scaleGradients(0);
            problem.backward(GarbageCollection::collect);
            assertArrayEquals(undisturbed, gradients(problem), 0.0);
        }
    }
}
