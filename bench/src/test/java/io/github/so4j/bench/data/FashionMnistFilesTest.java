package io.github.so4j.bench.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.training.dataset.Dataset;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FashionMnistFilesTest {

    private static final Path REAL = FashionMnistFiles.DEBIAN_DIRECTORY;

    @TempDir Path folder;

    @Test
    void trainingSplitHas60000ImagesAnd6000PerClass() throws IOException {
        FashionMnistFiles.Split train = FashionMnistFiles.read(REAL, Dataset.Usage.TRAIN);
        assertEquals(60_000, train.size());
        assertEquals(60_000 * 28 * 28, train.pixels().length);
        int[] expected = new int[10];
        Arrays.fill(expected, 6000);
        assertArrayEquals(expected, histogram(train.labels()));
    }

    @Test
    void testSplitHas10000ImagesAnd1000PerClass() throws IOException {
        FashionMnistFiles.Split test = FashionMnistFiles.read(REAL, Dataset.Usage.TEST);
        assertEquals(10_000, test.size());
        int[] expected = new int[10];
        Arrays.fill(expected, 1000);
        assertArrayEquals(expected, histogram(test.labels()));
    }

    @Test
    void missingFilesNameThePathsAndTheInstallCommand() {
        DatasetException e =
                assertThrows(
                        DatasetException.class,
                        () -> FashionMnistFiles.read(folder, Dataset.Usage.TRAIN));
        assertTrue(
                e.getMessage().contains(folder.resolve("train-images-idx3-ubyte.gz").toString()));
        assertTrue(e.getMessage().contains(folder.resolve("train-images-idx3-ubyte").toString()));
        assertTrue(e.getMessage().contains("apt-get install -y dataset-fashion-mnist"));
    }

    @Test
    void directoryChoiceFollowsExplicitThenEnvironmentThenDebian() {
        Map<String, String> env = Map.of(FashionMnistFiles.ENVIRONMENT_VARIABLE, "/from/env");
        assertEquals(folder, FashionMnistFiles.chooseDirectory(folder, env));
        assertEquals(Path.of("/from/env"), FashionMnistFiles.chooseDirectory(null, env));
        assertEquals(REAL, FashionMnistFiles.chooseDirectory(null, Map.of()));
    }

    @Test
    void wrongMagicNumberIsReported() throws IOException {
        writeTestSplit(0x0000_0804, new int[] {10_000, 28, 28}, 10_000 * 784, 10_000, 0);
        assertMessage("magic number 0x00000804");
    }

    @Test
    void wrongDimensionsAreReported() throws IOException {
        writeTestSplit(0x0000_0803, new int[] {10_000, 28, 27}, 10_000 * 28 * 27, 10_000, 0);
        assertMessage("has dimensions [10000, 28, 27], expected [10000, 28, 28]");
    }

    @Test
    void truncatedPayloadIsReported() throws IOException {
        writeTestSplit(0x0000_0803, new int[] {10_000, 28, 28}, 5_000 * 784, 10_000, 0);
        assertMessage(
                "is truncated: the header announces 7840000 bytes of data, the file has 3920000");
    }

    @Test
    void trailingBytesAreReported() throws IOException {
        writeTestSplit(0x0000_0803, new int[] {10_000, 28, 28}, 10_000 * 784 + 1, 10_000, 0);
        assertMessage("has trailing bytes");
    }

    @Test
    void brokenGzipStreamIsReported() throws IOException {
        writeTestSplit(0x0000_0803, new int[] {10_000, 28, 28}, 10_000 * 784, 10_000, 0);
        Path images = folder.resolve("t10k-images-idx3-ubyte.gz");
        byte[] whole = Files.readAllBytes(images);
        Files.write(images, Arrays.copyOf(whole, whole.length / 2));
        DatasetException e =
                assertThrows(
                        DatasetException.class,
                        () -> FashionMnistFiles.read(folder, Dataset.Usage.TEST));
        assertTrue(e.getMessage().startsWith(images.toString()), e.getMessage());
    }

    @Test
    void labelOutOfRangeIsReported() throws IOException {
        writeTestSplit(0x0000_0803, new int[] {10_000, 28, 28}, 10_000 * 784, 10_000, 12);
        assertMessage("label 12 at index 0");
    }

    @Test
    void uncompressedFilesAreReadToo() throws IOException {
        for (String name : new String[] {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
            try (var in =
                    new java.util.zip.GZIPInputStream(
                            Files.newInputStream(REAL.resolve(name + ".gz")))) {
                Files.copy(in, folder.resolve(name));
            }
        }
        FashionMnistFiles.Split plain = FashionMnistFiles.read(folder, Dataset.Usage.TEST);
        FashionMnistFiles.Split packed = FashionMnistFiles.read(REAL, Dataset.Usage.TEST);
        assertArrayEquals(packed.pixels(), plain.pixels());
        assertArrayEquals(packed.labels(), plain.labels());
    }

    private void assertMessage(String fragment) {
        DatasetException e =
                assertThrows(
                        DatasetException.class,
                        () -> FashionMnistFiles.read(folder, Dataset.Usage.TEST));
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
    }

    /** Writes a test split whose image file has the given header and payload length. */
    private void writeTestSplit(
            int imageMagic, int[] imageDims, int imageBytes, int labels, int firstLabel)
            throws IOException {
        writeIdx(folder.resolve("t10k-images-idx3-ubyte.gz"), imageMagic, imageDims, imageBytes, 0);
        writeIdx(
                folder.resolve("t10k-labels-idx1-ubyte.gz"),
                0x0000_0801,
                new int[] {labels},
                labels,
                firstLabel);
    }

    private static void writeIdx(Path file, int magic, int[] dims, int payload, int firstByte)
            throws IOException {
        ByteArrayOutputStream header = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(header)) {
            out.writeInt(magic);
            for (int d : dims) {
                out.writeInt(d);
            }
        }
        byte[] body = new byte[payload];
        if (payload > 0) {
            body[0] = (byte) firstByte;
        }
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(file))) {
            out.write(header.toByteArray());
            out.write(body);
        }
    }

    private static int[] histogram(byte[] labels) {
        int[] counts = new int[10];
        for (byte label : labels) {
            counts[label]++;
        }
        return counts;
    }
}
