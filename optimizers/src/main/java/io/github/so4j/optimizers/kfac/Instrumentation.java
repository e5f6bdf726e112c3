package io.github.so4j.optimizers.kfac;

import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.Parameter;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.util.Pair;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Instruments a DJL block tree so that every {@code Linear} and {@code Conv2d} (one group) layer
 * records, during training forwards, its input and the gradient of the loss with respect to its
 * output: what K-FAC needs, in a framework without forward or backward hooks.
 *
 * <p>{@link #instrument} walks the tree ({@code SequentialBlock}, {@code ParallelBlock}, any block
 * built on {@link AbstractBlock}, nested) and replaces each such layer, in place in its parent and
 * under the same key, by a transparent stand-in that delegates every {@link Block} method to the
 * layer. In a training forward, while recording, the stand-in adds a zero "probe" array that
 * requires a gradient to the layer's output: the probed output equals the output, and after the
 * backward pass the probe's gradient is exactly \( \partial L / \partial y \). Everything else is
 * unchanged: parameter names, saved parameter files, and inference forwards, which compute what the
 * original layer computes at the cost of one extra method call.
 *
 * <p>DJL offers no public way to replace a child, so the stand-ins are put into {@code
 * AbstractBlock}'s protected {@code children} list by reflection: this works with DJL on the class
 * path (its normal use) and fails with a clear message if the module system forbids it. Other
 * blocks (custom {@link Block} implementations that do not extend {@link AbstractBlock}) are left
 * as they are and their parameters are reported as not covered.
 *
 * <p>Recording is switched by the optimizer ({@link #arm}): only forwards of steps that update the
 * factors pay for the probes.
 */
public final class Instrumentation {

    private static final Logger logger = LoggerFactory.getLogger(Instrumentation.class);

    private final List<CapturedLayer> layers = new ArrayList<>();
    private final List<String> uncovered = new ArrayList<>();
    private boolean armed = true;
    private boolean held;
    private Random labelRandom = new Random(0);

    /**
     * What an instrumentation covers.
     *
     * @param layers the names of the recorded layers, in tree order
     * @param uncoveredParameters the names of the parameters outside them, which move by the
     *     optimizer's first-order rule
     */
    public record Coverage(List<String> layers, List<String> uncoveredParameters) {}

    /** Creates an instrumentation that records nothing yet. */
    public Instrumentation() {}

    /**
     * Returns the generator of the Monte-Carlo labels ({@link MonteCarloFisher}); it is part of the
     * optimizer's state (saved in its checkpoints). Seeded with 0 unless replaced.
     *
     * @return the generator
     */
    public Random labelRandom() {
        return labelRandom;
    }

    /**
     * Replaces the generator of the Monte-Carlo labels.
     *
     * @param random the new generator
     */
    public void setLabelRandom(Random random) {
        this.labelRandom = random;
    }

    /**
     * Instruments a block tree, in place, and logs the layers covered and the parameters that are
     * not (INFO).
     *
     * @param root the model's block. Modified: its Linear and Conv2d descendants are replaced by
     *     recording stand-ins.
     * @return the block to give the model: {@code root} itself, or its stand-in when {@code root}
     *     is itself a Linear or Conv2d layer
     * @throws IllegalArgumentException if part of the tree is already instrumented by another
     *     instrumentation
     * @throws IllegalStateException if DJL's block internals cannot be reached by reflection
     */
    public Block instrument(Block root) {
        int before = layers.size();
        Block result = stand(root, "");
        if (result == root) {
            walk(root, "");
        }
        List<String> added = new ArrayList<>();
        Set<Parameter> covered = Collections.newSetFromMap(new IdentityHashMap<>());
        for (CapturedLayer layer : layers) {
            covered.add(layer.weight());
            if (layer.bias() != null) {
                covered.add(layer.bias());
            }
        }
        for (CapturedLayer layer : layers.subList(before, layers.size())) {
            added.add(layer.name());
        }
        List<String> notCovered = new ArrayList<>();
        for (Pair<String, Parameter> p : result.getParameters()) {
            if (!covered.contains(p.getValue()) && p.getValue().requiresGradient()) {
                notCovered.add(p.getKey());
            }
        }
        uncovered.addAll(notCovered);
        logger.info(
                "K-FAC records {} layer(s) {}; parameters left to the first-order rule: {}",
                added.size(),
                added,
                notCovered);
        return result;
    }

    /**
     * Returns the layers recorded, in the order they were found.
     *
     * @return the layers
     */
    public List<CapturedLayer> layers() {
        return Collections.unmodifiableList(layers);
    }

    /**
     * Returns what the instrumented trees cover.
     *
     * @return the covered layers and the trainable parameters outside them
     */
    public Coverage coverage() {
        return new Coverage(
                layers.stream().map(CapturedLayer::name).toList(), List.copyOf(uncovered));
    }

    /**
     * Whether training forwards record now: armed and not holding a sampled pass.
     *
     * @return whether the probes are added
     */
    public boolean isRecording() {
        return armed && !held;
    }

    /**
     * Whether the next training forward records (the optimizer arms the steps that update the
     * factors).
     *
     * @return whether armed
     */
    public boolean isArmed() {
        return armed;
    }

    /**
     * Arms or disarms recording for the next step and ends any hold.
     *
     * @param armed whether the next step's training forwards record
     */
    public void arm(boolean armed) {
        this.armed = armed;
        this.held = false;
    }

    /**
     * Keeps the recordings made so far for the coming step and records nothing more until the
     * optimizer re-arms: used by {@link MonteCarloFisher} after its backward pass with sampled
     * labels, so that the training pass that follows does not replace them.
     */
    public void hold() {
        held = true;
    }

    /**
     * Whether the recordings are held from a sampled pass.
     *
     * @return whether {@link #hold()} was called since the last {@link #arm}
     */
    public boolean isHeld() {
        return held;
    }

    private void walk(Block parent, String path) {
        if (!(parent instanceof AbstractBlock)) {
            return;
        }
        BlockList children = children((AbstractBlock) parent);
        for (int i = 0; i < children.size(); i++) {
            String key = children.keyAt(i);
            Block child = children.valueAt(i);
            String name = path.isEmpty() ? key : path + "_" + key;
            Block replacement = stand(child, name);
            if (replacement != child) {
                children.remove(i);
                children.add(i, key, replacement);
            } else {
                walk(child, name);
            }
        }
    }

    /** The stand-in for a covered layer, or the block itself. */
    private Block stand(Block block, String name) {
        if (block instanceof RecordingBlock) {
            if (layers.contains(((RecordingBlock) block).captured())) {
                return block;
            }
            throw new IllegalArgumentException(
                    "layer "
                            + name
                            + " is already instrumented by another K-FAC optimizer; instrument"
                            + " each model once");
        }
        CapturedLayer.Kind kind = null;
        if (block.getClass() == Linear.class) {
            kind = CapturedLayer.Kind.LINEAR;
        } else if (block.getClass() == Conv2d.class && ((Conv2d) block).getGroups() == 1) {
            kind = CapturedLayer.Kind.CONV2D;
        }
        if (kind == null) {
            return block;
        }
        CapturedLayer layer =
                new CapturedLayer(name.isEmpty() ? kind.name() : name, kind, block, this);
        layers.add(layer);
        return new RecordingBlock(block, layer);
    }

    private static BlockList children(AbstractBlock parent) {
        try {
            Field field = AbstractBlock.class.getDeclaredField("children");
            field.setAccessible(true);
            return (BlockList) field.get(parent);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException(
                    "cannot reach the children of "
                            + parent.getClass().getName()
                            + " to instrument them (is ai.djl.api on the module path without"
                            + " 'opens ai.djl.nn'?)",
                    e);
        }
    }
}
