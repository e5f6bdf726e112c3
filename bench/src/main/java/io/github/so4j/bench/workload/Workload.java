package io.github.so4j.bench.workload;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.pooling.Pool;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.loss.Loss;
import io.github.so4j.bench.data.CharVocabulary;
import io.github.so4j.bench.data.CharWindowDataset;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.data.FortuneCorpus;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * A named training problem: its data, a model architecture, its loss and its target.
 *
 * <p>Every workload is fixed and documented here, so that results of different runs and optimizers
 * compare. Parameter counts include biases. The image workloads train on Fashion-MNIST; {@link
 * #CHARLM} on the English text of Debian's fortune cookies ({@link FortuneCorpus}).
 */
public enum Workload {

    /** The classifier 784-256-128-10 with ReLU and softmax cross-entropy: 235,146 parameters. */
    MLP("mlp", "classifier 784-256-128-10, ReLU, softmax cross-entropy", true, true, 0.45) {
        /** {@inheritDoc} */
        @Override
        public Block newBlock() {
            return new SequentialBlock()
                    .add(Linear.builder().setUnits(256).build())
                    .add(Activation::relu)
                    .add(Linear.builder().setUnits(128).build())
                    .add(Activation::relu)
                    .add(Linear.builder().setUnits(10).build());
        }
    },

    /**
     * A small CNN: conv 5x5 (16, padding 2), ReLU, max-pool 2; conv 5x5 (32, padding 2), ReLU,
     * max-pool 2; linear 1568-10; softmax cross-entropy: 28,938 parameters.
     */
    CNN(
            "cnn",
            "CNN conv5x5(16)-pool-conv5x5(32)-pool-linear(10), ReLU, softmax cross-entropy",
            false,
            true,
            0.45) {
        /** {@inheritDoc} */
        @Override
        public Block newBlock() {
            return new SequentialBlock()
                    .add(conv(16))
                    .add(Activation::relu)
                    .add(Pool.maxPool2dBlock(new Shape(2, 2)))
                    .add(conv(32))
                    .add(Activation::relu)
                    .add(Pool.maxPool2dBlock(new Shape(2, 2)))
                    .add(Blocks.batchFlattenBlock())
                    .add(Linear.builder().setUnits(10).build());
        }
    },

    /**
     * The deep autoencoder of the K-FAC paper (Martens and Grosse 2015, after Hinton and
     * Salakhutdinov 2006): 784-1000-500-250-30-250-500-1000-784, logistic units except the linear
     * 30-unit code layer, sigmoid cross-entropy between the output and the input pixels (mean over
     * pixels): 2,837,314 parameters.
     */
    AUTOENCODER(
            "autoencoder",
            "autoencoder 784-1000-500-250-30-250-500-1000-784, sigmoid, sigmoid cross-entropy",
            true,
            false,
            0.40) {
        /** {@inheritDoc} */
        @Override
        public Block newBlock() {
            return autoencoder(Activation::sigmoid);
        }

        /** {@inheritDoc} */
        @Override
        public Loss newLoss() {
            return Loss.sigmoidBinaryCrossEntropyLoss();
        }
    },

    /**
     * The deep autoencoder as kfac-jax's {@code examples/autoencoder_mnist} sets it up: the
     * architecture of {@link #AUTOENCODER} with tanh units (the 30-unit code layer linear), and
     * sigmoid cross-entropy summed over the 784 pixels and averaged over the batch ({@link
     * SummedSigmoidCrossEntropyLoss}): 2,837,314 parameters. Its losses are about 784 times {@link
     * #AUTOENCODER}'s; the L2 term \( 10^{-5} \cdot \frac{1}{2}\|\theta\|^2 \) of the example is
     * the optimizers' weight decay, not part of this loss.
     */
    AUTOENCODER_TANH(
            "autoencoder-tanh",
            "autoencoder 784-1000-500-250-30-250-500-1000-784, tanh, sigmoid cross-entropy summed"
                    + " over pixels",
            true,
            false,
            100) {
        /** {@inheritDoc} */
        @Override
        public Block newBlock() {
            return autoencoder(Activation::tanh);
        }

        /** {@inheritDoc} */
        @Override
        public Loss newLoss() {
            return new SummedSigmoidCrossEntropyLoss();
        }
    },

    /** Multinomial logistic regression 784-10 with softmax cross-entropy: 7,850 parameters. */
    LOGREG(
            "logreg",
            "multinomial logistic regression 784-10, softmax cross-entropy",
            true,
            true,
            0.55) {
        /** {@inheritDoc} */
        @Override
        public Block newBlock() {
            return new SequentialBlock().add(Linear.builder().setUnits(10).build());
        }
    },

    /**
     * A causal character-level transformer language model ({@link CharTransformer}): 98 ids ({@link
     * CharVocabulary}), context 64, width 128, 2 pre-LayerNorm blocks of 4-head causal
     * self-attention and a GELU MLP of width 512, softmax cross-entropy over every position (mean,
     * in nats per character): 430,178 parameters. Trained on random windows of the fortune corpus's
     * training text, evaluated on fixed windows of its validation text; the accuracy is the
     * fraction of characters predicted exactly (arg-max). Defaults: 600 steps of 32 windows, target
     * loss 2.5 (Adam's at step 210), subspace Newton left out. Choices and measurements: {@code
     * docs/harness.md}.
     */
    CHARLM(
            "charlm",
            "causal character transformer, 2 pre-LN blocks, width 128, 4 heads, context 64, on"
                    + " fortunes",
            false,
            true,
            2.5) {
        /** {@inheritDoc} */
        @Override
        public Block newBlock() {
            return CharTransformer.newBlock(CHARLM_MODEL);
        }

        /** {@inheritDoc} */
        @Override
        public Loss newLoss() {
            return new TokenCrossEntropyLoss();
        }

        /** {@inheritDoc} */
        @Override
        public Shape inputShape() {
            return new Shape(1, CHARLM_MODEL.context());
        }

        /** {@inheritDoc} */
        @Override
        public WorkloadData load(NDManager manager, Path directory, Integer subset, int batchSize)
                throws IOException {
            FortuneCorpus corpus = FortuneCorpus.read(FortuneCorpus.chooseDirectory(directory));
            byte[] train = corpus.train();
            boolean cut = subset != null && subset < train.length;
            if (cut) {
                train = Arrays.copyOf(train, subset);
            }
            byte[] validation = corpus.validation();
            long validationWindows = (validation.length - 1L) / CHARLM_MODEL.context();
            String source =
                    String.format(
                            Locale.ROOT,
                            "%s (%d files; training %,d characters of %d fortunes%s, validation"
                                    + " %,d of %d windows of %,d characters)",
                            corpus.directory(),
                            corpus.files().size(),
                            train.length,
                            corpus.trainFortunes(),
                            cut ? ", cut" : "",
                            Math.min(CHARLM_EVALUATION_WINDOWS, validationWindows),
                            validationWindows,
                            validation.length);
            return new WorkloadData(
                    windows(train, batchSize, 0),
                    windows(train, batchSize, CHARLM_EVALUATION_WINDOWS),
                    windows(validation, batchSize, CHARLM_EVALUATION_WINDOWS),
                    source);
        }

        private CharWindowDataset windows(byte[] text, int batchSize, int tiles) {
            CharWindowDataset.Builder builder =
                    CharWindowDataset.builder()
                            .setText(text)
                            .setContext(CHARLM_MODEL.context())
                            .setSampling(batchSize, false);
            if (tiles > 0) {
                builder.optTiled(tiles);
            }
            return builder.build();
        }

        /** {@inheritDoc} */
        @Override
        public int defaultBatchSize() {
            return 32;
        }

        /** {@inheritDoc} */
        @Override
        public OptionalInt defaultSteps() {
            return OptionalInt.of(600);
        }

        /** {@inheritDoc} */
        @Override
        public int minimumSubset() {
            return CHARLM_MODEL.context() + 1;
        }

        /** {@inheritDoc} */
        @Override
        public Map<String, String> defaultExclusions() {
            return Map.of(
                    "subspace-newton",
                    "its steps take about 40 times Adam's here (ten Hessian-vector products"
                            + " through the transformer and a line search per step), more than"
                            + " all the other optimizers together");
        }
    };

    /** The sizes of {@link #CHARLM}'s model. */
    public static final CharTransformer.Config CHARLM_MODEL =
            new CharTransformer.Config(CharVocabulary.SIZE, 64, 128, 2, 4);

    /**
     * The number of windows of {@link #CHARLM}'s evaluations: non-overlapping windows evenly spread
     * over the validation text (for the test loss) and over the training text (for the final
     * training loss).
     */
    public static final int CHARLM_EVALUATION_WINDOWS = 512;

    private final String id;
    private final String description;
    private final boolean flatInput;
    private final boolean classification;
    private final double targetLoss;

    Workload(
            String id,
            String description,
            boolean flatInput,
            boolean classification,
            double targetLoss) {
        this.id = id;
        this.description = description;
        this.flatInput = flatInput;
        this.classification = classification;
        this.targetLoss = targetLoss;
    }

    private static Block conv(int filters) {
        return Conv2d.builder()
                .setKernelShape(new Shape(5, 5))
                .optPadding(new Shape(2, 2))
                .setFilters(filters)
                .build();
    }

    /**
     * Returns a new, uninitialized model block.
     *
     * @return the block
     */
    public abstract Block newBlock();

    /**
     * Returns the training loss: softmax cross-entropy on class labels unless overridden.
     *
     * @return the loss
     */
    public Loss newLoss() {
        return Loss.softmaxCrossEntropyLoss();
    }

    /**
     * Returns the name used on the command line.
     *
     * @return the name, e.g. {@code mlp}
     */
    public String id() {
        return id;
    }

    /**
     * Returns a one-line description of the architecture.
     *
     * @return the description
     */
    public String description() {
        return description;
    }

    /**
     * Returns whether the model takes flattened images (784 values) rather than {@code (1, 28, 28)}
     * (false for {@link #CHARLM}, which takes ids).
     *
     * @return whether the input is flat
     */
    public boolean flatInput() {
        return flatInput;
    }

    /**
     * Returns whether the model classifies (labels are classes, accuracy applies: for {@link
     * #CHARLM} each position's label is the next character); otherwise it reconstructs its input
     * (the labels are the images).
     *
     * @return whether this is a classifier
     */
    public boolean classification() {
        return classification;
    }

    /**
     * Returns the training loss whose first crossing the harness reports (steps and seconds to
     * reach it): about what Adam reaches in a third of an epoch (the autoencoder: in 200 steps,
     * where SGD with momentum stays on the 0.49 plateau of the mean image; charlm: in a third of
     * its 600 steps).
     *
     * @return the target loss
     */
    public double targetLoss() {
        return targetLoss;
    }

    /**
     * Returns the shape of one input example with a batch axis of 1, for initialization.
     *
     * @return (1, 784) or (1, 1, 28, 28) for the image workloads
     */
    public Shape inputShape() {
        return flatInput ? new Shape(1, 784) : new Shape(1, 1, 28, 28);
    }

    /**
     * Loads the workload's data: for the image workloads Fashion-MNIST ({@link
     * FashionMnistDataset}), its test set the test set and the whole training set the final
     * training loss's.
     *
     * @param manager the manager that owns the data's arrays
     * @param directory the data's folder, or null for the default
     * @param subset how much of the training data to keep (the first examples; for {@link #CHARLM}
     *     the first characters of the training text), or null for all
     * @param batchSize the batch size of the data sets' own sampling (the harness uses its own)
     * @return the data
     * @throws IOException if the data cannot be found or read (the message says what to install)
     * @throws ai.djl.translate.TranslateException if preparing the data fails
     */
    public WorkloadData load(NDManager manager, Path directory, Integer subset, int batchSize)
            throws IOException, ai.djl.translate.TranslateException {
        FashionMnistDataset train =
                fashionMnist(manager, directory, Dataset.Usage.TRAIN, subset, batchSize);
        FashionMnistDataset test =
                fashionMnist(manager, directory, Dataset.Usage.TEST, null, batchSize);
        return new WorkloadData(train, train, test, train.getDirectory().toString());
    }

    private FashionMnistDataset fashionMnist(
            NDManager manager, Path directory, Dataset.Usage usage, Integer subset, int batchSize)
            throws IOException, ai.djl.translate.TranslateException {
        FashionMnistDataset.Builder builder =
                FashionMnistDataset.builder()
                        .setManager(manager)
                        .optDirectory(directory)
                        .optUsage(usage)
                        .optFlatten(flatInput)
                        .optImageTargets(!classification)
                        .setSampling(batchSize, false);
        if (subset != null) {
            builder.optSubset(subset);
        }
        FashionMnistDataset dataset = builder.build();
        dataset.prepare();
        return dataset;
    }

    /**
     * Returns the batch size the harness uses unless told otherwise.
     *
     * @return 128 for the image workloads
     */
    public int defaultBatchSize() {
        return 128;
    }

    /**
     * Returns the number of steps the harness runs unless told otherwise.
     *
     * @return empty for one epoch (the image workloads); a count for workloads that have no useful
     *     epoch ({@link #CHARLM} draws random windows from millions), which also refuse {@code
     *     --epochs}
     */
    public OptionalInt defaultSteps() {
        return OptionalInt.empty();
    }

    /**
     * Returns the smallest {@code subset} that {@link #load} accepts.
     *
     * @return 1 for the image workloads (examples); for {@link #CHARLM} one window's characters
     */
    public int minimumSubset() {
        return 1;
    }

    /**
     * Returns the optimizers the harness leaves out of this workload unless they are asked for,
     * with the reason.
     *
     * @return optimizer name to reason; empty for the image workloads
     */
    public Map<String, String> defaultExclusions() {
        return Map.of();
    }

    /**
     * Finds a workload by its command-line name.
     *
     * @param id the name
     * @return the workload
     * @throws IllegalArgumentException naming the allowed names if there is none
     */
    public static Workload byId(String id) {
        for (Workload workload : values()) {
            if (workload.id.equals(id.toLowerCase(Locale.ROOT))) {
                return workload;
            }
        }
        throw new IllegalArgumentException(
                "unknown workload '" + id + "'; allowed: " + allowedIds());
    }

    /**
     * Returns the allowed names, comma-separated.
     *
     * @return the names
     */
    public static String allowedIds() {
        return Arrays.stream(values()).map(Workload::id).collect(Collectors.joining(", "));
    }

    /**
     * The deep autoencoder 784-1000-500-250-30-250-500-1000-784 with the given units between the
     * dense layers, the 30-unit code layer and the output layer linear.
     */
    private static Block autoencoder(Function<NDList, NDList> activation) {
        SequentialBlock block = new SequentialBlock();
        int[] units = {1000, 500, 250, 30, 250, 500, 1000};
        for (int u : units) {
            block.add(Linear.builder().setUnits(u).build());
            if (u != 30) {
                block.add(activation);
            }
        }
        return block.add(Linear.builder().setUnits(784).build());
    }
}
