package io.github.so4j.optimizers.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.Parameter;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.util.Pair;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.optimizers.Step;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Instruments a DJL block tree so that every {@code Linear} and {@code Conv2d} (one group) layer
 * records, during training forwards, its input and the gradient of the loss with respect to its
 * output: what K-FAC needs, in a framework without forward or backward hooks.
 *
 * <p>{@link #instrument} walks the tree ({@code SequentialBlock}, {@code ParallelBlock}, any block
 * built on {@link AbstractBlock}, nested) and replaces each such layer, in place and under the same
 * key, by a transparent stand-in ({@link RecordingBlock}) that delegates every {@link Block} method
 * to the layer. In a training forward, while recording, the stand-in adds a zero "probe" array that
 * requires a gradient to the layer's output: the probed output equals the output, and after the
 * backward pass the probe's gradient is exactly \( \partial L / \partial y \). Everything else is
 * unchanged: parameter names, saved parameter files, and inference forwards, which compute what the
 * original layer computes at the cost of two extra method calls.
 *
 * <p>DJL blocks call their children in two ways: {@code SequentialBlock} and {@code ParallelBlock}
 * go through their list of children, while most other blocks (DJL's own attention and transformer
 * blocks, and a user's {@code AbstractBlock} subclass) keep each child in a field as well and call
 * {@code field.forward(...)} on it. A stand-in only in the list of children would never see those
 * forwards, so the layer is replaced in both: in the parent's children, and in every field of any
 * block of the tree that holds it, directly or as an element of an array, a {@code java.util.List}
 * or the values of a {@code java.util.Map}. The stand-in is an instance of the layer's own class
 * (it extends {@code Linear} or {@code Conv2d}), so it fits a field of any type that held the
 * layer. A reference that cannot be replaced (in an unmodifiable collection, or a final field that
 * reflection may not write) fails the instrumentation before anything is changed. References
 * elsewhere (a helper object that is not a block, a lambda that captured the layer) are not found;
 * a layer called only through them records nothing, which the optimizer reports ({@link
 * CurvatureEstimator}).
 *
 * <p>DJL offers no public way to replace a child, so the stand-ins are put into {@code
 * AbstractBlock}'s protected {@code children} list, and into fields, by reflection: this works with
 * DJL and the model's classes on the class path (their normal use) and fails with a clear message
 * if the module system forbids it. Other blocks (custom {@link Block} implementations that do not
 * extend {@link AbstractBlock}) are left as they are and their parameters are reported as not
 * covered.
 *
 * <p>Recording is switched by the optimizer ({@link #prepare}): only forwards of steps that may
 * update the factors pay for the probes.
 *
 * <p>The Monte-Carlo labels of {@link MonteCarloFisher} are drawn from a generator seeded by the
 * optimizer's seed and the index of the coming step among taken steps ({@link #sampleLabels}), so a
 * rejected step, which does not count, leaves the draws of the steps after it as they were.
 */
public final class Instrumentation {

    private static final Logger logger = LoggerFactory.getLogger(Instrumentation.class);

    private final List<CapturedLayer> layers = new ArrayList<>();
    private final List<String> uncovered = new ArrayList<>();
    private final List<Block> roots = new ArrayList<>();
    private boolean armed = true;
    private boolean held;
    private long labelSeed;
    private long[] factorIndices = {1};
    private Supplier<NDArray> nextIndex = () -> null;

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
     * Returns the seed of the Monte-Carlo labels ({@link MonteCarloFisher}); 0 unless set.
     *
     * @return the seed
     */
    public long labelSeed() {
        return labelSeed;
    }

    /**
     * Sets the seed of the Monte-Carlo labels.
     *
     * @param seed the seed
     */
    public void setLabelSeed(long seed) {
        this.labelSeed = seed;
    }

    /**
     * Returns the generator of the Monte-Carlo labels of the step with a given index among taken
     * steps: Java's generator, seeded with SplitMix64's mix of the seed and the index (so that
     * neighbouring indices give unrelated draws).
     *
     * @param seed the optimizer's seed
     * @param index the step's 1-based index among taken steps
     * @return a new generator
     */
    public static Random labelRandom(long seed, long index) {
        long z = seed + index * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return new Random(z ^ (z >>> 31));
    }

    /**
     * Draws the Monte-Carlo labels for the coming step from the generator of its index among taken
     * steps ({@link #labelRandom}). When the host does not know that index (steps it has not seen
     * decided came before), the sampler draws once for every index the step may have that updates
     * the factors, and the device keeps the draw of the actual index; draws for other indices are
     * never used.
     *
     * @param sampler the sampler
     * @param predictions the model's outputs. Not modified.
     * @return the labels, owned by the predictions' manager
     */
    public NDList sampleLabels(LabelSampler sampler, NDList predictions) {
        long[] indices = factorIndices;
        int last = indices.length - 1;
        NDList labels = sampler.sample(predictions, labelRandom(labelSeed, indices[last]));
        NDArray current = nextIndex.get();
        if (last == 0 || current == null) {
            return labels;
        }
        NDArray index = Workspace.copy(current, predictions.head().getManager());
        for (int i = last - 1; i >= 0; i--) {
            NDList other = sampler.sample(predictions, labelRandom(labelSeed, indices[i]));
            NDArray here = index.eq(indices[i]);
            NDList selected = new NDList(labels.size());
            for (int j = 0; j < labels.size(); j++) {
                selected.add(Step.select(here, other.get(j), labels.get(j)));
            }
            labels = selected;
        }
        return labels;
    }

    /**
     * Instruments a block tree, in place, and logs the layers covered and the parameters that are
     * not (INFO).
     *
     * @param root the model's block. Modified: its Linear and Conv2d descendants are replaced by
     *     recording stand-ins, in its blocks' children and fields.
     * @return the block to give the model: {@code root} itself, or its stand-in when {@code root}
     *     is itself a Linear or Conv2d layer
     * @throws IllegalArgumentException if part of the tree is already instrumented by another
     *     instrumentation
     * @throws IllegalStateException if DJL's block internals cannot be reached by reflection, or a
     *     block holds a layer where its stand-in cannot be put (the tree is then left unchanged)
     */
    public Block instrument(Block root) {
        Plan plan = new Plan();
        Block result = plan.stand(root, "");
        if (result == root) {
            plan.walk(root, "");
            plan.redirectFields();
        }
        plan.apply();
        List<String> added = new ArrayList<>();
        Set<Parameter> covered = Collections.newSetFromMap(new IdentityHashMap<>());
        for (CapturedLayer layer : layers) {
            covered.add(layer.weight());
            if (layer.bias() != null) {
                covered.add(layer.bias());
            }
        }
        for (CapturedLayer layer : plan.added) {
            added.add(layer.name());
        }
        List<String> notCovered = new ArrayList<>();
        for (Pair<String, Parameter> p : result.getParameters()) {
            if (!covered.contains(p.getValue()) && p.getValue().requiresGradient()) {
                notCovered.add(p.getKey());
            }
        }
        uncovered.addAll(notCovered);
        roots.add(result);
        logger.info(
                "K-FAC records {} layer(s) {}; parameters left to the first-order rule: {}",
                added.size(),
                added,
                notCovered);
        return result;
    }

    /**
     * Returns the blocks returned by {@link #instrument}, whose parameter names name the layers and
     * parameters in messages.
     *
     * @return the instrumented roots
     */
    public List<Block> roots() {
        return Collections.unmodifiableList(roots);
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
     * Whether the next training forward records (the optimizer arms the steps that may update the
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
     * Prepares the next step, for the optimizer: records its forwards if it may update the factors
     * and ends any hold.
     *
     * @param factorIndices the indices among taken steps that the next step may have and that
     *     update the factors, ascending; empty if none
     * @param nextIndex gives, when the labels are drawn, the next step's index among taken steps,
     *     an int64 scalar on the device owned by the optimizer (used only when {@code
     *     factorIndices} has more than one), or {@code null} before the first step
     */
    public void prepare(long[] factorIndices, Supplier<NDArray> nextIndex) {
        arm(factorIndices.length > 0);
        if (factorIndices.length > 0) {
            this.factorIndices = factorIndices.clone();
        }
        this.nextIndex = nextIndex;
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

    /**
     * One call of {@link #instrument}: the stand-ins to put in place and where, collected and
     * checked before anything in the tree changes.
     */
    private final class Plan {

        /** Original layer to its stand-in, by identity. */
        private final Map<Block, RecordingBlock> standIns = new IdentityHashMap<>();

        private final List<CapturedLayer> added = new ArrayList<>();
        private final Set<Block> visited = Collections.newSetFromMap(new IdentityHashMap<>());
        private final List<Runnable> writes = new ArrayList<>();
        private final List<String> problems = new ArrayList<>();

        /** Plans the replacement of the covered layers among the descendants of a block. */
        void walk(Block parent, String path) {
            if (!(parent instanceof AbstractBlock) || !visited.add(parent)) {
                return;
            }
            BlockList children = children((AbstractBlock) parent);
            for (int i = 0; i < children.size(); i++) {
                String key = children.keyAt(i);
                Block child = children.valueAt(i);
                String name = path.isEmpty() ? key : path + "_" + key;
                Block replacement = stand(child, name);
                if (replacement != child) {
                    int index = i;
                    writes.add(
                            () -> {
                                children.remove(index);
                                children.add(index, key, replacement);
                            });
                } else if (!(child instanceof RecordingBlock)) {
                    walk(child, name);
                }
            }
        }

        /**
         * The stand-in for a covered layer (one per layer, however often it is met), or the block.
         */
        Block stand(Block block, String name) {
            if (block instanceof RecordingBlock recording) {
                if (layers.contains(recording.captured()) || added.contains(recording.captured())) {
                    return block;
                }
                throw new IllegalArgumentException(
                        "layer "
                                + name
                                + " is already instrumented by another K-FAC optimizer; instrument"
                                + " each model once");
            }
            RecordingBlock known = standIns.get(block);
            if (known != null) {
                return (Block) known;
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
                    new CapturedLayer(
                            name.isEmpty() ? kind.name() : name, kind, block, Instrumentation.this);
            added.add(layer);
            RecordingBlock standIn =
                    kind == CapturedLayer.Kind.LINEAR
                            ? new RecordingLinear((Linear) block, layer)
                            : new RecordingConv2d((Conv2d) block, layer);
            standIns.put(block, standIn);
            return (Block) standIn;
        }

        /**
         * Plans the replacement of every reference to a replaced layer held by a field of a block
         * of the tree: directly, or in an array, a {@code List} or the values of a {@code Map}.
         */
        void redirectFields() {
            if (standIns.isEmpty()) {
                return;
            }
            for (Block holder : visited) {
                for (Class<?> c = holder.getClass(); c != Object.class; c = c.getSuperclass()) {
                    for (Field field : c.getDeclaredFields()) {
                        if (!Modifier.isStatic(field.getModifiers())
                                && !field.getType().isPrimitive()
                                && field.trySetAccessible()) {
                            redirect(holder, field);
                        }
                    }
                }
            }
        }

        @SuppressWarnings("unchecked") // elements are replaced by instances of their own class
        private void redirect(Block holder, Field field) {
            Object value;
            try {
                value = field.get(holder);
            } catch (IllegalAccessException e) {
                return; // trySetAccessible succeeded, so this cannot happen
            }
            String where = holder.getClass().getName() + "." + field.getName();
            RecordingBlock direct = standIns.get(value);
            if (direct != null) {
                try {
                    field.set(holder, value); // an identity write: may this field be written?
                    writes.add(() -> set(field, holder, direct));
                } catch (IllegalAccessException e) {
                    problem(direct, where, "a final field that cannot be written");
                }
            } else if (value instanceof Object[] array) {
                for (int i = 0; i < array.length; i++) {
                    RecordingBlock standIn = standIns.get(array[i]);
                    if (standIn != null) {
                        int index = i;
                        writes.add(() -> array[index] = standIn);
                    }
                }
            } else if (value instanceof List<?> list) {
                for (int i = 0; i < list.size(); i++) {
                    RecordingBlock standIn = standIns.get(list.get(i));
                    if (standIn != null) {
                        List<Object> elements = (List<Object>) list;
                        int index = i;
                        if (writable(() -> elements.set(index, elements.get(index)))) {
                            writes.add(() -> elements.set(index, standIn));
                        } else {
                            problem(standIn, where + "[" + i + "]", "an unmodifiable List");
                        }
                    }
                }
            } else if (value instanceof Map<?, ?> map) {
                for (Map.Entry<?, ?> entry : map.entrySet()) {
                    RecordingBlock standIn = standIns.get(entry.getValue());
                    if (standIn != null) {
                        Map.Entry<Object, Object> e = (Map.Entry<Object, Object>) entry;
                        if (writable(() -> e.setValue(e.getValue()))) {
                            writes.add(() -> e.setValue(standIn));
                        } else {
                            problem(
                                    standIn,
                                    where + "[" + entry.getKey() + "]",
                                    "an unmodifiable Map");
                        }
                    }
                }
            }
        }

        private static boolean writable(Runnable identityWrite) {
            try {
                identityWrite.run();
                return true;
            } catch (UnsupportedOperationException e) {
                return false;
            }
        }

        private static void set(Field field, Object holder, Object value) {
            try {
                field.set(holder, value);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException("cannot write " + field, e);
            }
        }

        private void problem(RecordingBlock standIn, String where, String why) {
            problems.add(
                    "layer "
                            + standIn.captured().name()
                            + " is held in "
                            + where
                            + ", "
                            + why
                            + ", where K-FAC cannot put its recording stand-in");
        }

        /** Checks the plan, then changes the tree and records the new layers. */
        void apply() {
            if (!problems.isEmpty()) {
                throw new IllegalStateException(
                        String.join("; ", problems)
                                + ". Forwards through such a reference would bypass K-FAC: hold"
                                + " the layer in a non-final field, an array or a modifiable"
                                + " collection, or build the block from SequentialBlock. Nothing"
                                + " was changed.");
            }
            writes.forEach(Runnable::run);
            layers.addAll(added);
        }
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
