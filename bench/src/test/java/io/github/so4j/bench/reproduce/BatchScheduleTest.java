package io.github.so4j.bench.reproduce;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.translate.Batchifier;
import io.github.so4j.bench.optimizer.TrainingStrategy;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The schedule against the values TensorFlow K-FAC's example computes, printed by Python from its
 * expression {@code min(int(2.**(float(k)/div) * start), max)} with {@code div = float(K - 1) /
 * math.log(float(max) / start, 2)}: the same double-precision operations, so the integers agree
 * exactly.
 */
class BatchScheduleTest {

    @Test
    void sizesAreTensorFlowKfacs() {
        BatchSchedule mnist = BatchSchedule.growing(1000, 60000, 500);
        int[] steps = {1, 2, 3, 101, 251, 499, 500, 501, 5000};
        int[] expected = {1000, 1008, 1016, 2271, 7777, 59509, 60000, 60000, 60000};
        for (int i = 0; i < steps.length; i++) {
            assertEquals(expected[i], mnist.size(steps[i]), "step " + steps[i]);
        }
        BatchSchedule small = BatchSchedule.growing(100, 2000, 25);
        int[] sizes = new int[26];
        for (int t = 1; t <= 26; t++) {
            sizes[t - 1] = small.size(t);
        }
        assertArrayEquals(
                new int[] {
                    100, 113, 128, 145, 164, 186, 211, 239, 271, 307, 348, 394, 447, 506, 574, 650,
                    736, 834, 945, 1071, 1213, 1375, 1558, 1765, 2000, 2000
                },
                sizes);
        assertEquals(50, BatchSchedule.growing(50, 50, 10).size(7));
    }

    @Test
    void badSettingsAreNamed() {
        assertMessage("start", () -> BatchSchedule.growing(0, 10, 5));
        assertMessage("max", () -> BatchSchedule.growing(10, 5, 5));
        assertMessage("steps", () -> BatchSchedule.growing(1, 5, 1));
        assertMessage("step", () -> BatchSchedule.growing(1, 5, 3).size(0));
    }

    private static void assertMessage(String name, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertTrue(e.getMessage().startsWith(name + " must"), e.getMessage());
    }

    @Test
    void theWrappedStrategySeesTheFirstExamplesOfEachBatch() {
        List<float[]> seen = new ArrayList<>();
        List<Boolean> sameArray = new ArrayList<>();
        TrainingStrategy recording =
                (Trainer trainer, Batch batch, Optimizer optimizer) -> {
                    seen.add(batch.getData().head().toFloatArray());
                    sameArray.add(batch.getData().head() == batch.getLabels().head());
                    assertEquals(batch.getData().head().getShape().get(0), batch.getSize());
                    return 0;
                };
        TrainingStrategy scheduled = BatchSchedule.growing(1, 4, 3).wrap(recording);
        try (NDManager manager = NDManager.newBaseManager()) {
            for (int t = 0; t < 4; t++) {
                NDArray x = manager.arange(8f).reshape(4, 2).add(100 * t);
                Batch batch =
                        new Batch(
                                manager,
                                new NDList(x),
                                new NDList(x),
                                4,
                                Batchifier.STACK,
                                Batchifier.STACK,
                                0,
                                0);
                scheduled.step(null, batch, null);
            }
        }
        // sizes 1, 2, 4, 4: the first rows of each batch, the data and label one array
        assertArrayEquals(new float[] {0, 1}, seen.get(0));
        assertArrayEquals(new float[] {100, 101, 102, 103}, seen.get(1));
        assertArrayEquals(new float[] {200, 201, 202, 203, 204, 205, 206, 207}, seen.get(2));
        assertEquals(8, seen.get(3).length);
        assertEquals(List.of(true, true, true, true), sameArray);
    }

    @Test
    void aBatchNoLargerThanTheSizeIsHandedOnAsItIs() {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray x = manager.zeros(new Shape(3, 2));
            Batch batch =
                    new Batch(
                            manager,
                            new NDList(x),
                            new NDList(x),
                            3,
                            Batchifier.STACK,
                            Batchifier.STACK,
                            0,
                            0);
            assertSame(batch, BatchSchedule.head(batch, 5));
        }
    }
}
