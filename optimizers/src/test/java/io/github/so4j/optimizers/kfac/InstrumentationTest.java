package io.github.so4j.optimizers.kfac;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.ParallelBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.Tolerances;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link Instrumentation} on DJL block trees: what changes (nothing visible) and what it records.
 */
class InstrumentationTest {

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
     * A CNN with a ParallelBlock of two branches (one nested in a SequentialBlock) and two dense
     * layers. Covered: every Conv2d and Linear.
     */
    private static Block nested() {
        return new SequentialBlock()
                .add(conv(4, 3, 1))
                .add(Activation::relu)
                .add(
                        new ParallelBlock(
                                list ->
                                        new NDList(
                                                NDArrays.concat(
                                                        new NDList(
                                                                list.get(0).head(),
                                                                list.get(1).head()),
                                                        1)),
                                List.of(
                                        conv(2, 1, 0),
                                        new SequentialBlock()
                                                .add(conv(2, 3, 1))
                                                .add(Activation::relu))))
                .add(Blocks.batchFlattenBlock())
                .add(Linear.builder().setUnits(5).build())
                .add(Activation::relu)
                .add(Linear.builder().setUnits(3).build());
    }

    private static Conv2d conv(int filters, int kernel, int padding) {
        return Conv2d.builder()
                .setFilters(filters)
                .setKernelShape(new Shape(kernel, kernel))
                .optPadding(new Shape(padding, padding))
                .build();
    }

    private static byte[] saved(Block block) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        block.saveParameters(new DataOutputStream(bytes));
        return bytes.toByteArray();
    }

    /**
     * Instrumented in place, the tree computes bit for bit what it computed before, in inference
     * and in a recording training forward (the output plus a zero probe); parameter names and the
     * saved parameter bytes do not change; inference records nothing.
     */
    @Test
    @SuppressWarnings("try") // the collector switches autograd on for the training forward
    void theInstrumentedTreeComputesExactlyWhatTheOriginalDid() throws IOException {
        Block block = nested();
        block.initialize(manager, DataType.FLOAT32, new Shape(2, 3, 5, 5));
        ParameterStore store = new ParameterStore(manager, false);
        NDArray x = manager.randomNormal(new Shape(2, 3, 5, 5));
        float[] before = block.forward(store, new NDList(x), false).head().toFloatArray();
        List<String> names = block.getParameters().keys();
        byte[] bytes = saved(block);

        Instrumentation instrumentation = new Instrumentation();
        assertSame(block, instrumentation.instrument(block));

        assertEquals(
                List.of(
                        "01Conv2d",
                        "03ParallelBlock_01Conv2d",
                        "03ParallelBlock_02SequentialBlock_01Conv2d",
                        "05Linear",
                        "07Linear"),
                instrumentation.coverage().layers());
        assertEquals(List.of(), instrumentation.coverage().uncoveredParameters());
        assertEquals(names, block.getParameters().keys());
        assertArrayEquals(bytes, saved(block));
        assertArrayEquals(before, block.forward(store, new NDList(x), false).head().toFloatArray());
        for (CapturedLayer layer : instrumentation.layers()) {
            assertEquals(List.of(), layer.takeRecordings(), layer.name());
        }
        try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
            float[] training = block.forward(store, new NDList(x), true).head().toFloatArray();
            assertArrayEquals(before, training);
        }
        for (CapturedLayer layer : instrumentation.layers()) {
            assertEquals(1, layer.takeRecordings().size(), layer.name());
        }
    }

    /**
     * After a backward pass, each probe's gradient is \( \partial L / \partial y \): for the last
     * layer, under the batch-mean softmax cross-entropy, \( (\mathrm{softmax}(y_n) - e_{c_n}) / N
     * \) in closed form; for every dense layer, the sums of the probe's rows are DJL's own bias
     * gradient and \( \delta^\top a \) its weight gradient. Float64 throughout.
     */
    @Test
    void probesCarryTheGradientOfTheLossWithRespectToTheOutputs() {
        int n = 6;
        Block block =
                new SequentialBlock()
                        .add(Linear.builder().setUnits(5).build())
                        .add(Activation::tanh)
                        .add(Linear.builder().setUnits(3).build());
        block.initialize(manager, DataType.FLOAT64, new Shape(n, 4));
        Instrumentation instrumentation = new Instrumentation();
        instrumentation.instrument(block);
        ParameterStore store = new ParameterStore(manager, false);
        Random random = new Random(3);
        NDArray x = Dense.toArray(manager, Dense.gaussian(random, n, 4, 1), DataType.FLOAT64);
        double[] classes = {0, 2, 1, 1, 0, 2};
        NDArray labels = manager.create(classes);
        double[] logits;
        try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
            NDArray y = block.forward(store, new NDList(x), true).head();
            logits = y.toDoubleArray();
            collector.backward(
                    Loss.softmaxCrossEntropyLoss().evaluate(new NDList(labels), new NDList(y)));
        }
        List<CapturedLayer> layers = instrumentation.layers();
        LayerRecording last = layers.get(1).takeRecordings().get(0);
        double[] expected = new double[n * 3];
        for (int i = 0; i < n; i++) {
            double max = Math.max(logits[3 * i], Math.max(logits[3 * i + 1], logits[3 * i + 2]));
            double sum = 0;
            for (int k = 0; k < 3; k++) {
                sum += Math.exp(logits[3 * i + k] - max);
            }
            for (int k = 0; k < 3; k++) {
                double p = Math.exp(logits[3 * i + k] - max) / sum;
                expected[3 * i + k] = (p - (classes[i] == k ? 1 : 0)) / n;
            }
        }
        double[] probe = last.outputGradient().toDoubleArray();
        assertTrue(Dense.relativeError(probe, expected) < Tolerances.FLOAT64_RELATIVE);
        checkAgainstParameterGradients(layers.get(1), last);
        checkAgainstParameterGradients(layers.get(0), layers.get(0).takeRecordings().get(0));
    }

    private static void checkAgainstParameterGradients(CapturedLayer layer, LayerRecording r) {
        NDArray delta = r.outputGradient();
        double[] bias = delta.sum(new int[] {0}).toDoubleArray();
        double[] weight = delta.transpose().matMul(r.input()).toDoubleArray();
        double[] djlBias = layer.bias().getArray().getGradient().toDoubleArray();
        double[] djlWeight = layer.weight().getArray().getGradient().toDoubleArray();
        assertTrue(Dense.relativeError(bias, djlBias) < Tolerances.FLOAT64_RELATIVE, layer.name());
        assertTrue(
                Dense.relativeError(weight, djlWeight) < Tolerances.FLOAT64_RELATIVE, layer.name());
    }

    /** Disarmed, or holding a sampled pass, training forwards add no probe. */
    @Test
    @SuppressWarnings("try") // the collector switches autograd on for the training forwards
    void disarmedOrHeldForwardsRecordNothing() {
        Block block = Linear.builder().setUnits(2).build();
        Instrumentation instrumentation = new Instrumentation();
        Block root = instrumentation.instrument(block);
        assertNotSame(block, root);
        root.initialize(manager, DataType.FLOAT32, new Shape(3, 4));
        ParameterStore store = new ParameterStore(manager, false);
        NDArray x = manager.randomNormal(new Shape(3, 4));
        CapturedLayer layer = instrumentation.layers().get(0);
        assertEquals("LINEAR", layer.name());
        try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
            instrumentation.arm(false);
            root.forward(store, new NDList(x), true);
            assertEquals(0, layer.takeRecordings().size());
            instrumentation.arm(true);
            root.forward(store, new NDList(x), true);
            instrumentation.hold();
            root.forward(store, new NDList(x), true);
            assertEquals(1, layer.takeRecordings().size());
            assertTrue(instrumentation.isHeld());
            instrumentation.arm(true);
            assertTrue(instrumentation.isRecording());
        }
    }

    @Test
    void aTreeCannotBeInstrumentedTwiceByDifferentOptimizers() {
        Block block = new SequentialBlock().add(Linear.builder().setUnits(2).build());
        Instrumentation first = new Instrumentation();
        first.instrument(block);
        first.instrument(block);
        assertEquals(1, first.layers().size());
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new Instrumentation().instrument(block));
        assertEquals(
                "layer 01Linear is already instrumented by another K-FAC optimizer; instrument"
                        + " each model once",
                e.getMessage());
    }

    /** Grouped convolutions are not covered: left as they are and reported. */
    @Test
    void groupedConvolutionsAreLeftAndReported() {
        Block block =
                new SequentialBlock()
                        .add(
                                Conv2d.builder()
                                        .setFilters(4)
                                        .setKernelShape(new Shape(3, 3))
                                        .optGroups(2)
                                        .build());
        block.initialize(manager, DataType.FLOAT32, new Shape(1, 2, 5, 5));
        Instrumentation instrumentation = new Instrumentation();
        instrumentation.instrument(block);
        assertEquals(List.of(), instrumentation.coverage().layers());
        assertEquals(
                List.of("01Conv2d_weight", "01Conv2d_bias"),
                instrumentation.coverage().uncoveredParameters());
    }
}
