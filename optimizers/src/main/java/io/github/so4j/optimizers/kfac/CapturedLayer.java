package io.github.so4j.optimizers.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.ParameterList;
import ai.djl.nn.convolutional.Conv2d;
import io.github.so4j.curvature.kfac.Conv2dKroneckerFactored;
import io.github.so4j.curvature.kfac.KroneckerFactoredBlock;
import io.github.so4j.curvature.kfac.KroneckerSettings;
import io.github.so4j.curvature.kfac.LinearKroneckerFactored;
import io.github.so4j.curvature.kfac.LossAverage;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@code Linear} or {@code Conv2d} layer that an {@link Instrumentation} records: its parameters,
 * its geometry, and the recordings of the training forwards since they were last taken.
 */
public final class CapturedLayer {

    /** The kinds of layers K-FAC covers. */
    public enum Kind {
        /** {@link ai.djl.nn.core.Linear}. */
        LINEAR,
        /** {@link Conv2d} with one group. */
        CONV2D
    }

    private final String name;
    private final Kind kind;
    private final Block layer;
    private final Parameter weight;
    private final Parameter bias;
    private final Instrumentation instrumentation;
    private final List<LayerRecording> recordings = new ArrayList<>();
    private boolean everyStep;

    CapturedLayer(String name, Kind kind, Block layer, Instrumentation instrumentation) {
        this.name = name;
        this.kind = kind;
        this.layer = layer;
        this.instrumentation = instrumentation;
        ParameterList parameters = layer.getDirectParameters();
        this.weight = parameters.get("weight");
        this.bias = parameters.contains("bias") ? parameters.get("bias") : null;
    }

    /**
     * Returns the layer's name: the keys of the blocks above it joined by underscores, the prefix
     * of its parameters' names in {@code Block.getParameters()}.
     *
     * @return the name, e.g. {@code 01Linear}
     */
    public String name() {
        return name;
    }

    /**
     * Returns what kind of layer this is.
     *
     * @return LINEAR or CONV2D
     */
    public Kind kind() {
        return kind;
    }

    /**
     * Returns the weight parameter.
     *
     * @return the weight
     */
    public Parameter weight() {
        return weight;
    }

    /**
     * Returns the bias parameter.
     *
     * @return the bias, or {@code null} for a layer without one
     */
    public Parameter bias() {
        return bias;
    }

    /**
     * Creates the layer's Kronecker-factored curvature block; the parameters must be initialized.
     *
     * @param manager the manager whose device holds the factors
     * @param settings decay, inversion mode and failure policy
     * @param lossAverage what the loss averages over, for a dense layer's inputs with more than two
     *     axes (a convolution's output positions always add up within their example)
     * @return a new block
     */
    public KroneckerFactoredBlock newCurvatureBlock(
            NDManager manager, KroneckerSettings settings, LossAverage lossAverage) {
        Shape shape = weight.getArray().getShape();
        if (kind == Kind.LINEAR) {
            return new LinearKroneckerFactored(
                    manager, name, shape.get(1), shape.get(0), bias != null, settings, lossAverage);
        }
        Conv2d conv = (Conv2d) layer;
        return new Conv2dKroneckerFactored(
                manager,
                name,
                shape,
                bias != null,
                conv.getStride(),
                conv.getPadding(),
                conv.getDilation(),
                settings);
    }

    /**
     * Sets whether this layer records every training forward, not only those of the steps the
     * instrumentation is armed for (a layer preconditioned from its gradient's rows).
     *
     * @param everyStep whether to record every training forward outside a sampled pass's hold
     */
    void recordEveryStep(boolean everyStep) {
        this.everyStep = everyStep;
    }

    /**
     * Whether this layer records every training forward (it is preconditioned from its gradient's
     * rows), not only on the steps the instrumentation is armed for.
     *
     * @return whether it records every step
     */
    public boolean recordsEveryStep() {
        return everyStep;
    }

    /**
     * Returns and forgets the recordings made since the last call.
     *
     * @return the recordings, oldest first
     */
    public List<LayerRecording> takeRecordings() {
        List<LayerRecording> taken = List.copyOf(recordings);
        recordings.clear();
        return taken;
    }

    /**
     * Records a training forward if the instrumentation is recording (or this layer records every
     * step): adds a zero probe that requires a gradient to the output.
     *
     * @param inputs the layer's inputs. Not modified.
     * @param outputs the layer's outputs. Not modified.
     * @return {@code outputs}, or the probed output when recording
     */
    NDList record(NDList inputs, NDList outputs) {
        if (!instrumentation.isRecording() && !(everyStep && !instrumentation.isHeld())) {
            return outputs;
        }
        NDArray output = outputs.singletonOrThrow();
        NDArray probe = output.zerosLike();
        probe.setRequiresGradient(true);
        recordings.add(new LayerRecording(inputs.singletonOrThrow(), probe));
        return new NDList(output.add(probe));
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return name + " (" + kind + ")";
    }
}
