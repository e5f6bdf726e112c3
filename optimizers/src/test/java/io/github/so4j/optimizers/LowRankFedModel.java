package io.github.so4j.optimizers;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.LocalParameterServer;
import ai.djl.training.ParameterStore;
import io.github.so4j.curvature.RecordedScalars;
import io.github.so4j.curvature.testing.Dense;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A model whose gradients are prescribed, for the low-rank optimizers' oracles: a convolution
 * kernel (6, 2, 1, 4) (a 6 x 8 matrix), a dense weight (8, 24), a dense weight (12, 8) and their
 * biases. The loss \( \sum_i \langle G_i, W_i \rangle \) (plus 0 times the network's output, so
 * that DJL's parameter store sees every parameter) has exactly the gradients \( G_i \); updates go
 * through DJL's {@link ParameterStore}, as a trainer's do.
 */
final class LowRankFedModel implements AutoCloseable {

    /** Parameter indices in block order. */
    static final int KERNEL = 0;

    static final int WIDE = 2;
    static final int TALL = 4;

    final NDManager manager;
    final Block block;
    final List<Parameter> parameters;
    private final ParameterStore store;
    private final NDArray input;
    private final DataType type;

    LowRankFedModel(NDManager parent, SecondOrderOptimizer optimizer, DataType type) {
        this.manager = parent.newSubManager();
        this.type = type;
        this.block =
                new SequentialBlock()
                        .add(Conv2d.builder().setKernelShape(new Shape(1, 4)).setFilters(6).build())
                        .add(Blocks.batchFlattenBlock())
                        .add(Linear.builder().setUnits(8).build())
                        .add(Linear.builder().setUnits(12).build());
        this.input = manager.ones(new Shape(1, 2, 2, 5), type);
        block.initialize(manager, type, input.getShape());
        this.parameters = new ArrayList<>(block.getParameters().values());
        this.store = new ParameterStore(manager, false);
        store.setParameterServer(
                new LocalParameterServer(optimizer), new Device[] {manager.getDevice()});
        optimizer.nameParameters(block);
    }

    List<String> names() {
        return block.getParameters().keys();
    }

    int size() {
        return parameters.size();
    }

    long[] shape(int i) {
        return parameters.get(i).getArray().getShape().getShape();
    }

    /** The parameter as a rows x (product of the other dimensions) matrix, row-major. */
    int rows(int i) {
        return (int) shape(i)[0];
    }

    int columns(int i) {
        return (int) (parameters.get(i).getArray().size() / shape(i)[0]);
    }

    boolean isMatrix(int i) {
        return shape(i).length >= 2;
    }

    double[] weights(int i) {
        return Dense.toDoubles(parameters.get(i).getArray());
    }

    /** One step with gradient {@code gradients[i]} (flat, row-major) for parameter i. */
    void step(double[][] gradients) {
        try (NDManager scope = manager.newSubManager()) {
            scope.tempAttachAll(input);
            try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
                NDList out = block.forward(store, new NDList(input), true);
                NDArray loss = RecordedScalars.mul(out.head().sum(), 0);
                for (int i = 0; i < parameters.size(); i++) {
                    NDArray w = parameters.get(i).getArray();
                    NDArray g = Dense.toArray(scope, gradients[i], type).reshape(w.getShape());
                    loss = loss.add(g.mul(w).sum());
                }
                collector.backward(loss);
            }
            store.updateAllParameters();
        }
    }

    /** Independent standard Gaussians for every parameter. */
    double[][] randomGradients(Random random) {
        double[][] g = new double[parameters.size()][];
        for (int i = 0; i < g.length; i++) {
            g[i] = new double[Math.toIntExact(parameters.get(i).getArray().size())];
            for (int j = 0; j < g[i].length; j++) {
                g[i][j] = random.nextGaussian();
            }
        }
        return g;
    }

    @Override
    public void close() {
        manager.close();
    }
}
