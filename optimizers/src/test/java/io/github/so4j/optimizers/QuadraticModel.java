package io.github.so4j.optimizers;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.LocalParameterServer;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import io.github.so4j.curvature.RecordedScalars;
import io.github.so4j.curvature.testing.Dense;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;

/**
 * The quadratic \( f(w) = \frac{1}{2} w^\top A w - b^\top w \) as a DJL model: a bias-free {@code
 * Linear} block with one unit fed the d x d identity outputs exactly its weight vector, and a loss
 * evaluates the quadratic form on it. Any symmetric A works, indefinite ones included. Steps go
 * through DJL's update path ({@link ParameterStore}), in float64.
 */
final class QuadraticModel implements AutoCloseable {

    final RealMatrix a;
    final RealVector b;
    final int d;
    final Block block;
    final Loss loss;
    final NDList data;
    final NDList labels;
    private final NDManager manager;
    private final ParameterStore store;

    QuadraticModel(
            NDManager parent, double[][] a, double[] b, double[] start, Optimizer optimizer) {
        this.manager = parent.newSubManager();
        this.a = new Array2DRowRealMatrix(a);
        this.b = new ArrayRealVector(b);
        this.d = b.length;
        NDArray matrix = Dense.toArray(manager, a, DataType.FLOAT64);
        NDArray vector = manager.create(b);
        // RecordedScalars, not x.mul(0.5): see ContractProblem on numbers in recorded graphs
        this.loss =
                new Loss("quadratic") {
                    @Override
                    public NDArray evaluate(NDList labels, NDList predictions) {
                        NDArray z = predictions.head().reshape(-1);
                        return RecordedScalars.mul(z.matMul(matrix).mul(z).sum(), 0.5)
                                .sub(z.mul(vector).sum());
                    }
                };
        this.block = Linear.builder().setUnits(1).optBias(false).build();
        block.initialize(manager, DataType.FLOAT64, new Shape(d, d));
        NDArray weight = block.getParameters().get(0).getValue().getArray();
        weight.subi(weight).addi(manager.create(start).reshape(1, d));
        this.data = new NDList(manager.eye(d, d, 0, DataType.FLOAT64));
        this.labels = new NDList(manager.zeros(new Shape(1), DataType.FLOAT64));
        this.store = new ParameterStore(manager, false);
        store.setParameterServer(
                new LocalParameterServer(optimizer), new Device[] {manager.getDevice()});
    }

    /** Forward and backward on the quadratic, leaving the gradient in the weight. */
    void backward() {
        try (NDManager scope = manager.newSubManager();
                GradientCollector collector = manager.getEngine().newGradientCollector()) {
            scope.tempAttachAll(data, labels);
            NDList out = block.forward(store, data, true);
            collector.backward(loss.evaluate(labels, out));
        }
    }

    /** Applies the optimizer's update through DJL's parameter store. */
    void update() {
        store.updateAllParameters();
    }

    double[] weights() {
        return Dense.toDoubles(block.getParameters().get(0).getValue().getArray());
    }

    double value(double[] w) {
        RealVector x = new ArrayRealVector(w);
        return 0.5 * x.dotProduct(a.operate(x)) - b.dotProduct(x);
    }

    NDManager manager() {
        return manager;
    }

    @Override
    public void close() {
        manager.close();
    }
}
