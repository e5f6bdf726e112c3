package io.github.so4j.optimizers;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.LocalParameterServer;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.util.Pair;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;

/**
 * A small model trained through DJL's own update path ({@link ParameterStore} and {@link
 * LocalParameterServer}, as {@code Trainer.step()} does, without the trainer's float64-unsafe
 * gradient check), for K-FAC's optimizer tests: it reports the gradients each step saw.
 */
final class KfacNet implements AutoCloseable {

    /** A 4-6-5-3 tanh MLP; Linear layers at indices 0, 2, 4. */
    static Block mlp() {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(6).build())
                .add(Activation::tanh)
                .add(Linear.builder().setUnits(5).build())
                .add(Activation::tanh)
                .add(Linear.builder().setUnits(3).build());
    }

    /** Input shape of {@link #mlp()} for a batch. */
    static Shape mlpInput(int batch) {
        return new Shape(batch, 4);
    }

    /**
     * A CNN on (2, 6, 6) inputs: Conv2d 3 filters 3x3 padding 1, tanh, Conv2d 2 filters 2x2 stride
     * 2 (no bias), tanh, flatten, Linear 3. Covered layers at indices 0, 2, 5.
     */
    static Block cnn() {
        return new SequentialBlock()
                .add(
                        Conv2d.builder()
                                .setFilters(3)
                                .setKernelShape(new Shape(3, 3))
                                .optPadding(new Shape(1, 1))
                                .build())
                .add(Activation::tanh)
                .add(
                        Conv2d.builder()
                                .setFilters(2)
                                .setKernelShape(new Shape(2, 2))
                                .optStride(new Shape(2, 2))
                                .optBias(false)
                                .build())
                .add(Activation::tanh)
                .add(Blocks.batchFlattenBlock())
                .add(Linear.builder().setUnits(3).build());
    }

    /** Input shape of {@link #cnn()} for a batch. */
    static Shape cnnInput(int batch) {
        return new Shape(batch, 2, 6, 6);
    }

    final Model model;
    final Trainer trainer;
    final ParameterStore store;
    final Block block;
    private final DataType type;
    private final Shape inputShape;

    /**
     * Builds and initializes a model.
     *
     * @param block the uninstrumented block
     * @param instrument what to do with it before it is set on the model (e.g. kfac::instrument)
     * @param optimizer the optimizer
     * @param type float32 or float64
     * @param inputShape the input shape of one batch
     */
    KfacNet(
            Block block,
            UnaryOperator<Block> instrument,
            Optimizer optimizer,
            DataType type,
            Shape inputShape) {
        this.type = type;
        this.inputShape = inputShape;
        model = Model.newInstance("kfac-test");
        model.setDataType(type);
        this.block = instrument.apply(block);
        model.setBlock(this.block);
        trainer =
                model.newTrainer(
                        new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                                .optOptimizer(optimizer));
        trainer.initialize(inputShape);
        store = new ParameterStore(trainer.getManager(), false);
        store.setParameterServer(new LocalParameterServer(optimizer), trainer.getDevices());
    }

    /** Random inputs N(0, 1) and labels in [0, 3) for one batch. */
    static double[][] batch(Random random, Shape inputShape) {
        int n = (int) inputShape.get(0);
        int size = (int) (inputShape.size() / n);
        double[][] xy = new double[2][];
        xy[0] = new double[n * size];
        for (int i = 0; i < xy[0].length; i++) {
            xy[0][i] = random.nextGaussian();
        }
        xy[1] = new double[n];
        for (int i = 0; i < n; i++) {
            xy[1][i] = random.nextInt(3);
        }
        return xy;
    }

    /** One step: forward, loss, backward, then DJL's update path; returns the gradients seen. */
    Map<String, double[]> step(double[][] batch) {
        try (NDManager scope = trainer.getManager().newSubManager()) {
            Map<String, double[]> gradients = forwardBackward(scope, batch);
            store.updateAllParameters();
            return gradients;
        }
    }

    /** Forward and backward without a step; returns the gradients by parameter name. */
    Map<String, double[]> forwardBackward(NDManager scope, double[][] batch) {
        NDArray x = scope.create(batch[0], inputShape).toType(type, false);
        NDArray labels = scope.create(batch[1]).toType(type, false);
        try (GradientCollector collector = trainer.newGradientCollector()) {
            NDList predictions = block.forward(store, new NDList(x), true);
            collector.backward(trainer.getLoss().evaluate(new NDList(labels), predictions));
        }
        Map<String, double[]> gradients = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            try (NDArray g = p.getValue().getArray().getGradient()) {
                gradients.put(p.getKey(), doubles(g));
            }
        }
        return gradients;
    }

    /** The parameters' values by name. */
    Map<String, double[]> weights() {
        Map<String, double[]> w = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            w.put(p.getKey(), doubles(p.getValue().getArray()));
        }
        return w;
    }

    /** An array's values as doubles, without leaving a converted copy in its manager. */
    static double[] doubles(NDArray array) {
        if (array.getDataType() == DataType.FLOAT64) {
            return array.toDoubleArray();
        }
        try (NDArray converted = array.toType(DataType.FLOAT64, false)) {
            return converted.toDoubleArray();
        }
    }

    /** Copies every parameter value from another net of the same architecture. */
    void copyFrom(KfacNet other) {
        var source = other.block.getParameters().values();
        var target = block.getParameters().values();
        for (int i = 0; i < source.size(); i++) {
            source.get(i).getArray().copyTo(target.get(i).getArray());
        }
    }

    @Override
    public void close() {
        trainer.close();
        model.close();
    }
}
