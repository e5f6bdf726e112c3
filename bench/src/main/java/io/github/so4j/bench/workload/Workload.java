package io.github.so4j.bench.workload;

import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.loss.Loss;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * A named training problem on Fashion-MNIST: a model architecture and its loss.
 *
 * <p>Every workload is fixed and documented here, so that results of different runs and optimizers
 * compare.
 */
public enum Workload {

    /**
     * The Fashion-MNIST classifier 784-256-128-10 with ReLU, softmax cross-entropy; 235,146
     * parameters.
     */
    MLP("mlp", "Fashion-MNIST classifier 784-256-128-10, ReLU, softmax cross-entropy", true, true) {
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

        /** {@inheritDoc} */
        @Override
        public Loss newLoss() {
            return Loss.softmaxCrossEntropyLoss();
        }
    };

    private final String id;
    private final String description;
    private final boolean flatInput;
    private final boolean classification;

    Workload(String id, String description, boolean flatInput, boolean classification) {
        this.id = id;
        this.description = description;
        this.flatInput = flatInput;
        this.classification = classification;
    }

    /**
     * Returns a new, uninitialized model block.
     *
     * @return the block
     */
    public abstract Block newBlock();

    /**
     * Returns the training loss.
     *
     * @return the loss
     */
    public abstract Loss newLoss();

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
     * Returns whether the model's output is class scores, so that accuracy applies.
     *
     * @return whether this is a classifier
     */
    public boolean classification() {
        return classification;
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
