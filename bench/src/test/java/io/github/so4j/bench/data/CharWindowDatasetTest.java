package io.github.so4j.bench.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.BatchSampler;
import ai.djl.training.dataset.Record;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class CharWindowDatasetTest {

    private static final int CONTEXT = 5;

    /** A text whose id at position i is i mod 97 + 1: every window is distinct and checkable. */
    private static byte[] text(int length) {
        byte[] ids = new byte[length];
        for (int i = 0; i < length; i++) {
            ids[i] = (byte) (i % 97 + 1);
        }
        return ids;
    }

    private static CharWindowDataset.Builder windows(byte[] text) {
        return CharWindowDataset.builder().setText(text).setContext(CONTEXT).setSampling(4, false);
    }

    @Test
    void labelsAreTheInputsShiftedByOne() {
        byte[] text = text(40);
        CharWindowDataset dataset = windows(text).build();
        assertEquals(40 - CONTEXT, dataset.size(), "a window at every start");
        try (NDManager manager = NDManager.newBaseManager()) {
            for (long i : new long[] {0, 17, dataset.size() - 1}) {
                Record record = dataset.get(manager, i);
                long[] input = record.getData().singletonOrThrow().toLongArray();
                long[] label = record.getLabels().singletonOrThrow().toLongArray();
                assertEquals(DataType.INT64, record.getData().head().getDataType());
                assertEquals(new Shape(CONTEXT), record.getLabels().head().getShape());
                for (int t = 0; t < CONTEXT; t++) {
                    assertEquals(text[(int) i + t], input[t], "input " + t + " of window " + i);
                    assertEquals(text[(int) i + t + 1], label[t], "label " + t + " of window " + i);
                }
            }
        }
    }

    @Test
    void tiledWindowsDoNotOverlapAndSpreadEvenly() {
        byte[] text = text(53); // (53 - 1) / 5 = 10 tiles at 0, 5, ..., 45
        CharWindowDataset all = windows(text).optTiled(100).build();
        assertEquals(10, all.size());
        for (int i = 0; i < 10; i++) {
            assertEquals(5L * i, all.start(i));
        }
        CharWindowDataset some = windows(text).optTiled(4).build();
        assertEquals(4, some.size());
        // floor(k * 10 / 4) = 0, 2, 5, 7 tiles
        long[] starts = new long[4];
        for (int k = 0; k < 4; k++) {
            starts[k] = some.start(k);
        }
        assertArrayEquals(new long[] {0, 10, 25, 35}, starts);
    }

    @Test
    void batchesFromASeededShuffleAreReproducibleAndDependOnTheSeed()
            throws IOException, TranslateException {
        CharWindowDataset dataset = windows(text(500)).build();
        List<long[]> first = batches(dataset, 7);
        List<long[]> again = batches(dataset, 7);
        List<long[]> other = batches(dataset, 8);
        assertEquals(first.size(), again.size());
        for (int i = 0; i < first.size(); i++) {
            assertArrayEquals(first.get(i), again.get(i), "batch " + i);
        }
        assertFalse(Arrays.equals(first.get(0), other.get(0)), "another seed, other windows");
    }

    /** The inputs of the first three batches of 4 windows, flattened. */
    private static List<long[]> batches(CharWindowDataset dataset, long seed)
            throws IOException, TranslateException {
        List<long[]> inputs = new ArrayList<>();
        try (NDManager manager = NDManager.newBaseManager()) {
            BatchSampler sampler = new BatchSampler(new SeededShuffleSampler(seed), 4, false);
            for (Batch batch : dataset.getData(manager, sampler)) {
                try (batch) {
                    assertEquals(new Shape(4, CONTEXT), batch.getData().head().getShape());
                    inputs.add(batch.getData().head().toLongArray());
                }
                if (inputs.size() == 3) {
                    break;
                }
            }
        }
        return inputs;
    }

    @Test
    void badSettingsAreRefusedByName() {
        assertEquals(
                "context must be at least 1, but was 0",
                assertThrows(
                                IllegalArgumentException.class,
                                () -> windows(text(10)).setContext(0).build())
                        .getMessage());
        assertEquals(
                "text must hold at least context + 1 = 6 ids for one window, but held 5",
                assertThrows(IllegalArgumentException.class, () -> windows(text(5)).build())
                        .getMessage());
        assertEquals(
                "maxWindows must be at least 1, but was 0",
                assertThrows(
                                IllegalArgumentException.class,
                                () -> windows(text(10)).optTiled(0).build())
                        .getMessage());
    }
}
