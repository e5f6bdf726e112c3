package io.github.so4j.bench.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.dataset.Record;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class FashionMnistDatasetTest {

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    @Test
    void flattenedTrainingSetIsFloatInUnitRange() throws IOException, TranslateException {
        FashionMnistDataset train = dataset(Dataset.Usage.TRAIN, true, 0).build();
        train.prepare();
        assertEquals(60_000, train.size());
        Record first = train.get(manager, 0);
        NDArray image = first.getData().head();
        assertEquals(new Shape(784), image.getShape());
        assertEquals(DataType.FLOAT32, image.getDataType());
        float[] pixels = image.toFloatArray();
        float min = Float.MAX_VALUE;
        float max = -Float.MAX_VALUE;
        for (float p : pixels) {
            min = Math.min(min, p);
            max = Math.max(max, p);
        }
        assertTrue(min >= 0f && max <= 1f, "range [" + min + ", " + max + "]");
        assertEquals(1f, max, "the first image has a white pixel (255 / 255)");
        // The first training label of Fashion-MNIST is 9 (ankle boot).
        assertEquals(9f, first.getLabels().head().getFloat());
    }

    @Test
    void imagesKeepTheirChannelAxisWhenNotFlattened() throws IOException, TranslateException {
        FashionMnistDataset test = dataset(Dataset.Usage.TEST, false, 0).build();
        test.prepare();
        assertEquals(10_000, test.size());
        assertEquals(new Shape(1, 28, 28), test.get(manager, 0).getData().head().getShape());
    }

    @Test
    void subsetLoadsOnlyTheFirstExamples() throws IOException, TranslateException {
        FashionMnistDataset whole = dataset(Dataset.Usage.TRAIN, true, 0).build();
        FashionMnistDataset part = dataset(Dataset.Usage.TRAIN, true, 0).optSubset(2000).build();
        whole.prepare();
        part.prepare();
        assertEquals(2000, part.size());
        assertArrayEquals(
                whole.get(manager, 1999).getData().head().toFloatArray(),
                part.get(manager, 1999).getData().head().toFloatArray());
    }

    @Test
    void sameSeedGivesTheSameBatchesAndAnotherSeedOthers() throws IOException, TranslateException {
        float[] a = firstBatchLabels(7);
        float[] b = firstBatchLabels(7);
        float[] c = firstBatchLabels(8);
        assertArrayEquals(a, b);
        assertFalse(Arrays.equals(a, c));
    }

    @Test
    void invalidSettingsFailInBuild() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> dataset(Dataset.Usage.TRAIN, true, 0).optSubset(0).build());
        assertEquals("subset must be at least 1, but was 0", e.getMessage());
        assertThrows(
                IllegalArgumentException.class,
                () -> dataset(Dataset.Usage.VALIDATION, true, 0).build());
    }

    private float[] firstBatchLabels(long seed) throws IOException, TranslateException {
        FashionMnistDataset train =
                dataset(Dataset.Usage.TRAIN, true, seed).optSubset(1000).build();
        try (Batch batch = train.getData(manager).iterator().next()) {
            return batch.getLabels().head().toFloatArray();
        }
    }

    private FashionMnistDataset.Builder dataset(Dataset.Usage usage, boolean flat, long seed) {
        return FashionMnistDataset.builder()
                .setManager(manager)
                .optUsage(usage)
                .optFlatten(flat)
                .optSeed(seed)
                .setSampling(32, true);
    }
}
