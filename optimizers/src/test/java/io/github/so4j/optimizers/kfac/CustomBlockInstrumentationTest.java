package io.github.so4j.optimizers.kfac;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.Tolerances;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link Instrumentation} on blocks that keep their layers in fields and call them directly (as
 * DJL's own attention block and most user-written blocks do), on inputs (N, T, p): every layer is
 * recorded however its parent holds it, and nothing else changes.
 */
class CustomBlockInstrumentationTest {

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    /**
     * A user's block whose five Linear layers are children and are also held in a final field of
     * type Linear, a field of type Block, a List, an array and a Map, and called only through
     * those: \( y = W_5 W_4 W_3 \tanh(W_1 x + W_2 x) \) (with biases) on (N, T, 3) inputs.
     */
    static final class FieldHeld extends AbstractBlock {

        private final Linear first;
        private Block second;
        private final List<Linear> listed = new ArrayList<>();
        private final Linear[] array = new Linear[1];
        private final Map<String, Block> named = new HashMap<>();

        FieldHeld() {
            first = addChildBlock("first", Linear.builder().setUnits(4).build());
            second = addChildBlock("second", Linear.builder().setUnits(4).build());
            listed.add(addChildBlock("listed", Linear.builder().setUnits(4).build()));
            array[0] = addChildBlock("array", Linear.builder().setUnits(4).build());
            named.put("last", addChildBlock("named", Linear.builder().setUnits(2).build()));
        }

        Linear first() {
            return first;
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore store,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray a = first.forward(store, inputs, training, params).head();
            NDArray b = second.forward(store, inputs, training, params).head();
            NDList h = new NDList(a.add(b).tanh());
            h = listed.get(0).forward(store, h, training, params);
            h = array[0].forward(store, h, training, params);
            return named.get("last").forward(store, h, training, params);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            Shape x = inputShapes[0];
            return new Shape[] {new Shape(x.get(0), x.get(1), 2)};
        }

        @Override
        protected void initializeChildBlocks(
                NDManager manager, DataType dataType, Shape... inputShapes) {
            Shape x = inputShapes[0];
            Shape hidden = new Shape(x.get(0), x.get(1), 4);
            first.initialize(manager, dataType, x);
            second.initialize(manager, dataType, x);
            listed.get(0).initialize(manager, dataType, hidden);
            array[0].initialize(manager, dataType, hidden);
            named.get("last").initialize(manager, dataType, hidden);
        }
    }

    /** A block holding its layer in an unmodifiable list, where no stand-in can be put. */
    static final class Unmodifiable extends AbstractBlock {

        private final List<Linear> layers;

        Unmodifiable() {
            layers = List.of(addChildBlock("inner", Linear.builder().setUnits(2).build()));
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore store,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            return layers.get(0).forward(store, inputs, training, params);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return layers.get(0).getOutputShapes(inputShapes);
        }

        @Override
        protected void initializeChildBlocks(
                NDManager manager, DataType dataType, Shape... inputShapes) {
            layers.get(0).initialize(manager, dataType, inputShapes);
        }
    }

    /** A block holding a convolution in a field of type Conv2d. */
    static final class ConvHolder extends AbstractBlock {

        private final Conv2d conv;

        ConvHolder() {
            conv =
                    addChildBlock(
                            "conv",
                            Conv2d.builder()
                                    .setFilters(2)
                                    .setKernelShape(new Shape(3, 3))
                                    .optStride(new Shape(2, 2))
                                    .optPadding(new Shape(1, 1))
                                    .build());
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore store,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            return conv.forward(store, inputs, training, params);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return conv.getOutputShapes(inputShapes);
        }

        @Override
        protected void initializeChildBlocks(
                NDManager manager, DataType dataType, Shape... inputShapes) {
            conv.initialize(manager, dataType, inputShapes);
        }
    }

    private static byte[] saved(Block block) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        block.saveParameters(new DataOutputStream(bytes));
        return bytes.toByteArray();
    }

    /**
     * Every layer of {@link FieldHeld} is recorded once per training forward, through whichever
     * reference its parent uses; the field and the list of children hold the same stand-in; names,
     * saved bytes and inference outputs are unchanged bit for bit. After a backward pass, each
     * probe's gradient \( \delta \) (N, T, q) and the input (N, T, p) give DJL's own parameter
     * gradients, \( \sum_r \delta_r \) for the bias and \( \sum_r \delta_r a_r^\top \) for the
     * weight (float64: agreement to {@link Tolerances#FLOAT64_RELATIVE}).
     */
    @Test
    void layersHeldInFieldsAreRecordedOnSequences() throws IOException {
        FieldHeld inner = new FieldHeld();
        Block block = new SequentialBlock().add(inner).add(Activation::tanh);
        Shape shape = new Shape(2, 5, 3);
        block.initialize(manager, DataType.FLOAT64, shape);
        ParameterStore store = new ParameterStore(manager, false);
        NDArray x =
                Dense.toArray(manager, Dense.gaussian(new Random(5), 10, 3, 1), DataType.FLOAT64)
                        .reshape(shape);
        double[] before = block.forward(store, new NDList(x), false).head().toDoubleArray();
        List<String> names = block.getParameters().keys();
        byte[] bytes = saved(block);

        Instrumentation instrumentation = new Instrumentation();
        instrumentation.instrument(block);

        assertEquals(
                List.of(
                        "01FieldHeld_01first",
                        "01FieldHeld_02second",
                        "01FieldHeld_03listed",
                        "01FieldHeld_04array",
                        "01FieldHeld_05named"),
                instrumentation.coverage().layers());
        assertEquals(List.of(), instrumentation.coverage().uncoveredParameters());
        assertTrue(inner.first() instanceof RecordingBlock);
        assertSame(inner.first(), inner.getChildren().get("01first"));
        assertEquals(names, block.getParameters().keys());
        assertArrayEquals(bytes, saved(block));
        assertArrayEquals(
                before, block.forward(store, new NDList(x), false).head().toDoubleArray(), 0);
        for (CapturedLayer layer : instrumentation.layers()) {
            assertEquals(List.of(), layer.takeRecordings(), layer.name());
        }
        try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
            NDArray y = block.forward(store, new NDList(x), true).head();
            assertArrayEquals(before, y.toDoubleArray(), 0);
            collector.backward(y.square().sum());
        }
        for (CapturedLayer layer : instrumentation.layers()) {
            List<LayerRecording> recordings = layer.takeRecordings();
            assertEquals(1, recordings.size(), layer.name());
            LayerRecording r = recordings.get(0);
            assertEquals(3, r.input().getShape().dimension(), layer.name());
            NDArray delta = r.outputGradient();
            long q = delta.getShape().get(2);
            NDArray rows = delta.reshape(-1, q);
            NDArray inputs = r.input().reshape(-1, r.input().getShape().get(2));
            assertClose(
                    rows.sum(new int[] {0}).toDoubleArray(),
                    layer.bias().getArray().getGradient().toDoubleArray(),
                    layer.name());
            assertClose(
                    rows.transpose().matMul(inputs).toDoubleArray(),
                    layer.weight().getArray().getGradient().toDoubleArray(),
                    layer.name());
        }
    }

    /**
     * DJL's own multi-head attention block keeps its four projections in fields and calls them
     * directly: all four are covered and recorded, and its output is unchanged.
     */
    @Test
    @SuppressWarnings("try") // the collector switches autograd on for the training forward
    void djlsAttentionBlockIsCovered() {
        Block block =
                new SequentialBlock()
                        .add(
                                ScaledDotProductAttentionBlock.builder()
                                        .setEmbeddingSize(4)
                                        .setHeadCount(2)
                                        .optAttentionProbsDropoutProb(0)
                                        .build());
        Shape shape = new Shape(2, 3, 4);
        block.initialize(manager, DataType.FLOAT32, shape);
        ParameterStore store = new ParameterStore(manager, false);
        NDArray x = manager.randomNormal(shape);
        float[] before = block.forward(store, new NDList(x), false).head().toFloatArray();
        Instrumentation instrumentation = new Instrumentation();
        instrumentation.instrument(block);
        assertEquals(4, instrumentation.layers().size());
        assertEquals(List.of(), instrumentation.coverage().uncoveredParameters());
        assertArrayEquals(before, block.forward(store, new NDList(x), false).head().toFloatArray());
        try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
            assertArrayEquals(
                    before, block.forward(store, new NDList(x), true).head().toFloatArray());
        }
        for (CapturedLayer layer : instrumentation.layers()) {
            assertEquals(1, layer.takeRecordings().size(), layer.name());
        }
    }

    /** A convolution held in a field of type Conv2d is recorded; its geometry reads through. */
    @Test
    @SuppressWarnings("try") // the collector switches autograd on for the training forward
    void aConvolutionHeldInAFieldIsRecorded() {
        ConvHolder holder = new ConvHolder();
        Block block = new SequentialBlock().add(holder);
        block.initialize(manager, DataType.FLOAT32, new Shape(2, 1, 5, 5));
        Instrumentation instrumentation = new Instrumentation();
        instrumentation.instrument(block);
        Conv2d standIn = (Conv2d) holder.getChildren().get("01conv");
        assertTrue(standIn instanceof RecordingBlock);
        assertEquals(new Shape(2, 2), standIn.getStride());
        assertEquals(new Shape(1, 1), standIn.getPadding());
        ParameterStore store = new ParameterStore(manager, false);
        try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
            block.forward(store, new NDList(manager.randomNormal(new Shape(2, 1, 5, 5))), true);
        }
        assertEquals(1, instrumentation.layers().get(0).takeRecordings().size());
    }

    /**
     * A layer held where no stand-in can be put (an unmodifiable list) fails the instrumentation
     * with the layer and the field named, and leaves the tree and the instrumentation unchanged.
     */
    @Test
    void aLayerInAnUnmodifiableListFailsBeforeAnythingChanges() {
        Linear other = Linear.builder().setUnits(3).build();
        Block block = new SequentialBlock().add(other).add(new Unmodifiable());
        Instrumentation instrumentation = new Instrumentation();
        IllegalStateException e =
                assertThrows(IllegalStateException.class, () -> instrumentation.instrument(block));
        assertEquals(
                "layer 02Unmodifiable_01inner is held in "
                        + Unmodifiable.class.getName()
                        + ".layers[0], an unmodifiable List, where K-FAC cannot put its recording"
                        + " stand-in. Forwards through such a reference would bypass K-FAC: hold"
                        + " the layer in a non-final field, an array or a modifiable collection,"
                        + " or build the block from SequentialBlock. Nothing was changed.",
                e.getMessage());
        assertSame(other, block.getChildren().valueAt(0));
        assertEquals(
                Linear.class, block.getChildren().valueAt(1).getChildren().valueAt(0).getClass());
        assertEquals(List.of(), instrumentation.layers());
    }

    /**
     * Parameters outside Linear and Conv2d layers (a LayerNorm's, a user block's own) are reported
     * as uncovered, for the first-order rule.
     */
    @Test
    void normsAndEmbeddingsAreReportedUncovered() {
        Block block =
                new SequentialBlock()
                        .add(LayerNorm.builder().axis(2).build())
                        .add(Linear.builder().setUnits(2).build());
        block.initialize(manager, DataType.FLOAT32, new Shape(2, 3, 4));
        Instrumentation instrumentation = new Instrumentation();
        instrumentation.instrument(block);
        assertEquals(List.of("02Linear"), instrumentation.coverage().layers());
        assertEquals(
                List.of("01LayerNorm_gamma", "01LayerNorm_beta"),
                instrumentation.coverage().uncoveredParameters());
    }

    private static void assertClose(double[] actual, double[] expected, String name) {
        double error = Dense.relativeError(actual, expected);
        assertTrue(error < Tolerances.FLOAT64_RELATIVE, name + ": relative error " + error);
    }
}
