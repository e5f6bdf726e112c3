package io.github.so4j.bench.workload;

import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.pooling.Pool;
import ai.djl.training.loss.Loss;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * A named training problem on Fashion-MNIST: a model architecture, its loss and its target.
 *
 * <p>Every workload is fixed and documented here, so that results of different runs and optimizers
 * compare. Parameter counts include biases.
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
            SequentialBlock block = new SequentialBlock();
            int[] units = {1000, 500, 250, 30, 250, 500, 1000};
            for (int u : units) {
                block.add(Linear.builder().setUnits(u).build());
                if (u != 30) {
                    block.add(Activation::sigmoid);
                }
            }
            return block.add(Linear.builder().setUnits(784).build());
        }

        /** {@inheritDoc} */
        @Override
        public Loss newLoss() {
            return Loss.sigmoidBinaryCrossEntropyLoss();
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
    };

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
     * Returns whether the model takes flattened images (784 values) rather than {@code (1, 28,
     * 28)}.
     *
     * @return whether the input is flat
     */
    public boolean flatInput() {
        return flatInput;
    }

    /**
     * Returns whether the model classifies (labels are classes, accuracy applies); otherwise it
     * reconstructs its input (the labels are the images).
     *
     * @return whether this is a classifier
     */
    public boolean classification() {
        return classification;
    }

    /**
     * Returns the training loss whose first crossing the harness reports (steps and seconds to
     * reach it): about what Adam reaches in a third of an epoch (the autoencoder: in 200 steps,
     * where SGD with momentum stays on the 0.49 plateau of the mean image).
     *
     * @return the target loss
     */
    public double targetLoss() {
        return targetLoss;
    }

    /**
     * Returns the shape of one input example with a batch axis of 1, for initialization.
     *
     * @return (1, 784) or (1, 1, 28, 28)
     */
    public Shape inputShape() {
        return flatInput ? new Shape(1, 784) : new Shape(1, 1, 28, 28);
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
}
