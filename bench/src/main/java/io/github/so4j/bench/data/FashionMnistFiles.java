package io.github.so4j.bench.data;

import ai.djl.training.dataset.Dataset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Finds the Fashion-MNIST IDX files on disk and reads one split of them.
 *
 * <p>The folder is, in this order: the one given explicitly ({@code --data DIR}), the one named by
 * the environment variable {@value #ENVIRONMENT_VARIABLE}, or {@link #DEBIAN_DIRECTORY}, where
 * Debian's package {@code dataset-fashion-mnist} installs them. Each file may be gzip-compressed
 * ({@code train-images-idx3-ubyte.gz}) or plain ({@code train-images-idx3-ubyte}).
 */
public final class FashionMnistFiles {

    /** Where Debian's package {@code dataset-fashion-mnist} puts the files. */
    public static final Path DEBIAN_DIRECTORY = Path.of("/usr/share/datasets/fashion-mnist");

    /** The environment variable that names another folder. */
    public static final String ENVIRONMENT_VARIABLE = "SO4J_DATA";

    /** The command that installs the data set on Debian or Ubuntu. */
    public static final String INSTALL_COMMAND =
            "apt-get update && apt-get install -y dataset-fashion-mnist";

    /** Image height and width in pixels. */
    public static final int IMAGE_SIDE = 28;

    /** Number of classes. */
    public static final int CLASSES = 10;

    /** Number of training examples. */
    public static final int TRAIN_SIZE = 60_000;

    /** Number of test examples. */
    public static final int TEST_SIZE = 10_000;

    private FashionMnistFiles() {}

    /**
     * The pixels and labels of one split, as stored: unsigned bytes.
     *
     * @param pixels {@code size * 28 * 28} bytes, image after image, row-major
     * @param labels {@code size} bytes, each a class in {@code [0, 10)}
     * @param size the number of examples
     */
    public record Split(byte[] pixels, byte[] labels, int size) {}

    /**
     * Chooses the folder to read from.
     *
     * @param explicit a folder given by the user, or {@code null}
     * @param environment the process environment (for {@value #ENVIRONMENT_VARIABLE})
     * @return the first folder that applies; it is not yet checked to hold the files
     */
    public static Path chooseDirectory(Path explicit, Map<String, String> environment) {
        if (explicit != null) {
            return explicit;
        }
        String fromEnvironment = environment.get(ENVIRONMENT_VARIABLE);
        if (fromEnvironment != null && !fromEnvironment.isBlank()) {
            return Path.of(fromEnvironment);
        }
        return DEBIAN_DIRECTORY;
    }

    /**
     * Reads one split from a folder, checking every header and length.
     *
     * @param directory the folder holding the IDX files
     * @param usage {@link Dataset.Usage#TRAIN} or {@link Dataset.Usage#TEST}
     * @return the split
     * @throws DatasetException if a file is missing (the message names the paths looked at and the
     *     install command), truncated or corrupt, or a label is out of range
     * @throws IllegalArgumentException if {@code usage} is {@code VALIDATION}
     */
    public static Split read(Path directory, Dataset.Usage usage) throws DatasetException {
        int size;
        String prefix;
        switch (usage) {
            case TRAIN:
                size = TRAIN_SIZE;
                prefix = "train";
                break;
            case TEST:
                size = TEST_SIZE;
                prefix = "t10k";
                break;
            default:
                throw new IllegalArgumentException(
                        "usage must be TRAIN or TEST (Fashion-MNIST has no validation split), but"
                                + " was "
                                + usage);
        }
        Path images = find(directory, prefix + "-images-idx3-ubyte");
        Path labels = find(directory, prefix + "-labels-idx1-ubyte");
        byte[] pixels = IdxFile.read(images, size, IMAGE_SIDE, IMAGE_SIDE);
        byte[] classes = IdxFile.read(labels, size);
        for (int i = 0; i < size; i++) {
            if (classes[i] < 0 || classes[i] >= CLASSES) {
                throw new DatasetException(
                        labels + " is corrupt: label " + (classes[i] & 0xff) + " at index " + i);
            }
        }
        return new Split(pixels, classes, size);
    }

    private static Path find(Path directory, String baseName) throws DatasetException {
        List<Path> tried = new ArrayList<>();
        for (String name : new String[] {baseName + ".gz", baseName}) {
            Path candidate = directory.resolve(name);
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
            tried.add(candidate);
        }
        throw new DatasetException(
                "Fashion-MNIST not found: looked for "
                        + tried
                        + ". Install it with '"
                        + INSTALL_COMMAND
                        + "' (as root; it puts the files in "
                        + DEBIAN_DIRECTORY
                        + "), or point --data DIR or "
                        + ENVIRONMENT_VARIABLE
                        + " at a folder that holds the four IDX files.");
    }
}
