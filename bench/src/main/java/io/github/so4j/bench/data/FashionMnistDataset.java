package io.github.so4j.bench.data;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.BatchSampler;
import ai.djl.training.dataset.Dataset;
import ai.djl.util.Progress;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Fashion-MNIST as a DJL {@link ArrayDataset}, read offline from its IDX files.
 *
 * <p>Images are float32 in [0, 1], either flattened to 784 values or shaped {@code (1, 28, 28)}
 * (channels first, as DJL's convolutions expect); labels are float32 class indices, as DJL's {@code
 * SoftmaxCrossEntropyLoss} takes them, or the images themselves for autoencoders ({@link
 * Builder#optImageTargets}). Shuffling ({@code setSampling(batch, true)}) follows {@link
 * Builder#optSeed(long)} alone, so the same seed gives the same batches on every run.
 *
 * <p>Why not DJL's own {@code ai.djl.basicdataset.cv.classification.FashionMnist}: it reaches local
 * files only through a repository that copies and decompresses them into DJL's cache, under a cache
 * key that is the same for every source folder, and it does not check the IDX headers, so a
 * truncated file becomes a wrong shape instead of an error. This class reads the files where they
 * are and checks every header and length ({@link FashionMnistFiles}).
 *
 * <pre>{@code
 * FashionMnistDataset train = FashionMnistDataset.builder()
 *         .setManager(manager)
 *         .optUsage(Dataset.Usage.TRAIN)
 *         .setSampling(128, true)
 *         .build();
 * EasyTrain.fit(trainer, epochs, train, null);
 * }</pre>
 */
public final class FashionMnistDataset extends ArrayDataset {

    private final NDManager manager;
    private final Path directory;
    private final Dataset.Usage usage;
    private final boolean flatten;
    private final int subset;
    private final boolean imageTargets;
    private boolean prepared;

    private FashionMnistDataset(Builder builder) {
        super(builder);
        this.manager = builder.manager;
        this.directory = builder.directory;
        this.usage = builder.usage;
        this.flatten = builder.flatten;
        this.subset = builder.subset;
        this.imageTargets = builder.imageTargets;
    }

    /**
     * Returns a builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the folder the files are read from.
     *
     * @return the folder
     */
    public Path getDirectory() {
        return directory;
    }

    /** {@inheritDoc} */
    @Override
    public void prepare(Progress progress) throws IOException {
        if (prepared) {
            return;
        }
        FashionMnistFiles.Split split = FashionMnistFiles.read(directory, usage);
        int size = Math.min(split.size(), subset);
        int pixelsPerImage = FashionMnistFiles.IMAGE_SIDE * FashionMnistFiles.IMAGE_SIDE;
        Shape imageShape =
                flatten
                        ? new Shape(size, pixelsPerImage)
                        : new Shape(
                                size,
                                1,
                                FashionMnistFiles.IMAGE_SIDE,
                                FashionMnistFiles.IMAGE_SIDE);
        ByteBuffer pixels = ByteBuffer.wrap(split.pixels(), 0, size * pixelsPerImage).slice();
        ByteBuffer classes = ByteBuffer.wrap(split.labels(), 0, size).slice();
        try (NDArray rawPixels = manager.create(pixels, imageShape, DataType.UINT8);
                NDArray floatPixels = rawPixels.toType(DataType.FLOAT32, false);
                NDArray rawLabels = manager.create(classes, new Shape(size), DataType.UINT8)) {
            data = new NDArray[] {floatPixels.div(255f)};
            labels =
                    new NDArray[] {
                        imageTargets ? data[0] : rawLabels.toType(DataType.FLOAT32, false)
                    };
        }
        prepared = true;
    }

    /** {@inheritDoc} */
    @Override
    protected long availableSize() {
        if (!prepared) {
            throw new IllegalStateException(
                    "call prepare() before size(): the files are read there");
        }
        return data[0].size(0);
    }

    /** Builds a {@link FashionMnistDataset}; {@link #setManager} and a sampling are required. */
    public static final class Builder extends BaseBuilder<Builder> {

        private NDManager manager;
        private Path directory;
        private Dataset.Usage usage = Dataset.Usage.TRAIN;
        private boolean flatten = true;
        private int subset = Integer.MAX_VALUE;
        private boolean imageTargets;
        private long seed;
        private int shuffledBatchSize;
        private boolean shuffledDropLast;

        Builder() {}

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets the manager that will own the data set's arrays (required); they live on its device
         * until it is closed.
         *
         * @param manager the manager
         * @return this {@code Builder}
         */
        public Builder setManager(NDManager manager) {
            this.manager = manager;
            return this;
        }

        /**
         * Sets the folder that holds the IDX files.
         *
         * @param directory the folder; default: {@code $SO4J_DATA}, else {@link
         *     FashionMnistFiles#DEBIAN_DIRECTORY}
         * @return this {@code Builder}
         */
        public Builder optDirectory(Path directory) {
            this.directory = directory;
            return this;
        }

        /**
         * Sets the split.
         *
         * @param usage {@code TRAIN} (60,000 examples, the default) or {@code TEST} (10,000)
         * @return this {@code Builder}
         */
        public Builder optUsage(Dataset.Usage usage) {
            this.usage = usage;
            return this;
        }

        /**
         * Sets whether images are flattened.
         *
         * @param flatten {@code true} (default) for 784 values per image, {@code false} for {@code
         *     (1, 28, 28)}
         * @return this {@code Builder}
         */
        public Builder optFlatten(boolean flatten) {
            this.flatten = flatten;
            return this;
        }

        /**
         * Keeps only the first {@code size} examples of the split (the files are already in a
         * random order), and loads only those.
         *
         * @param size the number of examples, at least 1; default: all
         * @return this {@code Builder}
         */
        public Builder optSubset(int size) {
            this.subset = size;
            return this;
        }

        /**
         * Makes the labels the images themselves (for autoencoders) instead of the classes.
         *
         * @param imageTargets whether the targets are the images; default {@code false}
         * @return this {@code Builder}
         */
        public Builder optImageTargets(boolean imageTargets) {
            this.imageTargets = imageTargets;
            return this;
        }

        /**
         * Sets the seed of the shuffling used by {@code setSampling(batchSize, true)}.
         *
         * @param seed the seed; default 0
         * @return this {@code Builder}
         */
        public Builder optSeed(long seed) {
            this.seed = seed;
            return this;
        }

        /**
         * Sets batches of {@code batchSize}, shuffled by {@link #optSeed(long)} when {@code
         * random}.
         *
         * @param batchSize the batch size
         * @param random whether to shuffle every epoch
         * @return this {@code Builder}
         */
        @Override
        public Builder setSampling(int batchSize, boolean random) {
            return setSampling(batchSize, random, false);
        }

        /**
         * Sets batches of {@code batchSize}, shuffled by {@link #optSeed(long)} when {@code
         * random}, dropping the last incomplete batch when {@code dropLast}.
         *
         * @param batchSize the batch size
         * @param random whether to shuffle every epoch
         * @param dropLast whether to drop the last incomplete batch
         * @return this {@code Builder}
         */
        @Override
        public Builder setSampling(int batchSize, boolean random, boolean dropLast) {
            if (!random) {
                shuffledBatchSize = 0;
                return super.setSampling(batchSize, false, dropLast);
            }
            shuffledBatchSize = batchSize;
            shuffledDropLast = dropLast;
            return this;
        }

        /**
         * Builds the data set; its files are read by {@link #prepare()}.
         *
         * @return the data set
         * @throws IllegalArgumentException if a setting is invalid
         * @throws NullPointerException if the manager or the sampling is missing
         */
        public FashionMnistDataset build() {
            Objects.requireNonNull(manager, "manager (setManager) is required");
            if (subset < 1) {
                throw new IllegalArgumentException("subset must be at least 1, but was " + subset);
            }
            if (usage != Dataset.Usage.TRAIN && usage != Dataset.Usage.TEST) {
                throw new IllegalArgumentException("usage must be TRAIN or TEST, but was " + usage);
            }
            if (shuffledBatchSize > 0) {
                sampler =
                        new BatchSampler(
                                new SeededShuffleSampler(seed),
                                shuffledBatchSize,
                                shuffledDropLast);
            }
            Objects.requireNonNull(sampler, "sampling (setSampling) is required");
            directory = FashionMnistFiles.chooseDirectory(directory, System.getenv());
            return new FashionMnistDataset(this);
        }
    }
}
