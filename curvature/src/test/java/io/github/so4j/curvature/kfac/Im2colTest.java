package io.github.so4j.curvature.kfac;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link Im2col} against a plain-Java im2col. The one-hot convolution multiplies each value by 1
 * and adds zeros, so the patches must be equal bit for bit, in float32 and in float64.
 */
class Im2colTest {

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    static Stream<Arguments> geometries() {
        return Stream.of(
                        new int[][] {{3, 3}, {1, 1}, {1, 1}, {1, 1}},
                        new int[][] {{2, 3}, {2, 1}, {0, 1}, {1, 1}},
                        new int[][] {{3, 3}, {2, 2}, {2, 2}, {2, 2}},
                        new int[][] {{1, 1}, {1, 1}, {0, 0}, {1, 1}},
                        new int[][] {{5, 5}, {1, 1}, {2, 2}, {1, 1}})
                .flatMap(
                        g ->
                                Stream.of(
                                        Arguments.of(g, DataType.FLOAT32),
                                        Arguments.of(g, DataType.FLOAT64)));
    }

    @ParameterizedTest(name = "kernel/stride/padding/dilation {0} {1}")
    @MethodSource("geometries")
    void patchesEqualPlainJavaIm2col(int[][] geometry, DataType type) {
        Random random = new Random(21);
        double[][][][] x = KroneckerAlgebra.tensor(random, 2, 3, 7, 6);
        double[][] expected =
                KroneckerAlgebra.im2col(x, geometry[0], geometry[1], geometry[2], geometry[3]);
        try (Im2col im2col =
                new Im2col(
                        manager,
                        3,
                        shape(geometry[0]),
                        shape(geometry[1]),
                        shape(geometry[2]),
                        shape(geometry[3]))) {
            NDArray input =
                    Dense.toArray(manager, KroneckerAlgebra.flatten(x), type).reshape(2, 3, 7, 6);
            NDArray patches = im2col.patches(input);
            assertEquals(new Shape(expected.length, expected[0].length), patches.getShape());
            double[] flat = Dense.toDoubles(patches);
            for (int r = 0; r < expected.length; r++) {
                double[] row = new double[expected[0].length];
                System.arraycopy(flat, r * row.length, row, 0, row.length);
                assertArrayEquals(expected[r], row, 0, "row " + r);
            }
        }
    }

    /** The cached one-hot kernel is made once; repeated extraction must not grow the arrays. */
    @Test
    void repeatedExtractionLeavesTheLiveArrayCountFlat() {
        try (Im2col im2col =
                new Im2col(
                        manager,
                        2,
                        new Shape(3, 3),
                        new Shape(1, 1),
                        new Shape(1, 1),
                        new Shape(1, 1))) {
            int before = -1;
            for (int i = 0; i < 50; i++) {
                try (NDManager step = manager.newSubManager()) {
                    im2col.patches(step.randomNormal(new Shape(2, 2, 5, 5)));
                }
                if (i == 0) {
                    before = LiveArrays.count(manager);
                }
            }
            assertEquals(before, LiveArrays.count(manager));
        }
    }

    private static Shape shape(int[] pair) {
        return new Shape(pair[0], pair[1]);
    }
}
