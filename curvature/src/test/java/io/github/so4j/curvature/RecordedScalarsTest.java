package io.github.so4j.curvature;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.GarbageCollection;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link RecordedScalars} against DJL's number overloads: the same values and gradients bit for
 * bit, and the same gradient when a garbage collection runs between the forward and the backward
 * pass (where DJL's own overloads read freed memory).
 */
class RecordedScalarsTest {

    private static final double[] X = {-2.5, -1, -0.0, 0, 0.3, 1, 1.7, 3};

    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (String op : List.of("mul", "div", "maximum")) {
            // a double and a float that are not exact in float32, a long and an int
            for (Number c : List.<Number>of(1 / Math.sqrt(6), 0.1f, 7L, 0)) {
                if (op.equals("div") && c.doubleValue() == 0) {
                    continue;
                }
                for (DataType type : List.of(DataType.FLOAT32, DataType.FLOAT64)) {
                    cases.add(Arguments.of(op, c, type));
                }
            }
        }
        return cases.stream();
    }

    private static BiFunction<NDArray, Number, NDArray> djl(String op) {
        return switch (op) {
            case "mul" -> NDArray::mul;
            case "div" -> NDArray::div;
            default -> NDArray::maximum;
        };
    }

    private static BiFunction<NDArray, Number, NDArray> recorded(String op) {
        return switch (op) {
            case "mul" -> RecordedScalars::mul;
            case "div" -> RecordedScalars::div;
            default -> RecordedScalars::maximum;
        };
    }

    /** The value and the gradient of sum(f(x^2, c)), running {@code between} before backward. */
    private static double[][] valueAndGradient(
            NDManager manager,
            DataType type,
            Number c,
            BiFunction<NDArray, Number, NDArray> f,
            Runnable between) {
        NDArray x = Dense.toArray(manager, X, type);
        x.setRequiresGradient(true);
        try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
            // x^2 first, so that the operation's input is recorded and not the leaf itself
            NDArray y = f.apply(x.square(), c);
            between.run();
            collector.backward(y.sum());
            return new double[][] {Dense.toDoubles(y), Dense.toDoubles(x.getGradient())};
        }
    }

    @ParameterizedTest(name = "{0} {1}, {2}")
    @MethodSource("cases")
    void matchesDjlBitForBitAndSurvivesACollectionBeforeBackward(
            String op, Number c, DataType type) {
        try (NDManager manager = NDManager.newBaseManager()) {
            double[][] expected = valueAndGradient(manager, type, c, djl(op), () -> {});
            double[][] actual = valueAndGradient(manager, type, c, recorded(op), () -> {});
            assertArrayEquals(expected[0], actual[0], 0.0);
            assertArrayEquals(expected[1], actual[1], 0.0);
            double[][] collected =
                    valueAndGradient(manager, type, c, recorded(op), GarbageCollection::collect);
            assertArrayEquals(expected[1], collected[1], 0.0);
        }
    }

    static Stream<Number> numbers() {
        return Stream.of(1 / Math.sqrt(6), 0.1f, 7L, 0);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("numbers")
    void ofIsTheScalarDjlMakesOfTheNumber(Number c) {
        try (NDManager manager = NDManager.newBaseManager();
                NDArray expected = manager.create(c);
                NDArray actual = RecordedScalars.of(manager, c)) {
            assertEquals(expected.getDataType(), actual.getDataType());
            assertEquals(expected.getShape(), actual.getShape());
            assertEquals(
                    expected.toType(DataType.FLOAT64, false).getDouble(),
                    actual.toType(DataType.FLOAT64, false).getDouble());
        }
    }
}
