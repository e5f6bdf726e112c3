package io.github.so4j.optimizers;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.LocalParameterServer;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.util.Pair;
import io.github.so4j.curvature.RecordedScalars;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.HalfSquaredErrorLoss;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.UnaryOperator;

/**
 * A small training problem for the contract tests over every optimizer: a DJL block, a loss, one
 * fixed batch, and steps through DJL's own update path ({@link ParameterStore}), in float32 or
 * float64. Initial weights come from a seeded Java generator, so two problems made alike are
 * identical.
 *
 * <ul>
 *   <li>{@link #quadratic}: \( f(w) = \frac{1}{2} w^\top A w - b^\top w \), d = 6, A = Q
 *       diag(1..10) Q^T with a random rotation Q.
 *   <li>{@link #rosenbrock}: \( f(w) = (1 - w_0)^2 + 100 (w_1 - w_0^2)^2 \) from (-1.2, 1).
 *   <li>{@link #mlp}: a 5-4-3 tanh network with DJL's L2 loss (mean of half the squared error; its
 *       safe twin {@link HalfSquaredErrorLoss}) on 8 examples.
 * </ul>
 *
 * <p>The vector problems use a bias-free one-unit {@code Linear} fed the identity, whose output is
 * exactly its weight vector (as {@link QuadraticModel} does).
 *
 * <p>The losses multiply by numbers through {@link RecordedScalars}, never by DJL's {@code
 * x.mul(100)}: DJL's PyTorch engine turns that into a product with a scalar array made from host
 * memory and closed at once, while the recorded graph keeps that array for the backward pass; a
 * garbage collection between forward and backward frees its memory, and the gradient is then scaled
 * by whatever the memory holds ({@code ContractProblemTest} shows it).
 */
final class ContractProblem implements AutoCloseable {

    final String name;
    final Block block;
    final Loss loss;
    final NDList data;
    final NDList labels;
    private final NDManager manager;
    private final ParameterStore store;
    private NDManager stepScope;

    private ContractProblem(
            String name,
            NDManager parent,
            Block block,
            Loss loss,
            double[][] data,
            double[][] labels,
            DataType type,
            Random init,
            Optimizer optimizer) {
        this.name = name;
        this.manager = parent.newSubManager();
        // K-FAC records its layers' inputs and output gradients through instrumentation
        this.block = optimizer instanceof Kfac kfac ? kfac.instrument(block) : block;
        this.loss = loss;
        this.data = new NDList(Dense.toArray(manager, data, type));
        this.labels = new NDList(Dense.toArray(manager, labels, type));
        this.block.initialize(manager, type, this.data.head().getShape());
        for (Pair<String, Parameter> p : this.block.getParameters()) {
            NDArray w = p.getValue().getArray();
            double[] values = new double[Math.toIntExact(w.size())];
            for (int i = 0; i < values.length; i++) {
                values[i] = 0.5 * init.nextGaussian();
            }
            w.subi(w).addi(Dense.toArray(manager, values, type).reshape(w.getShape()));
        }
        this.store = new ParameterStore(manager, false);
        store.setParameterServer(
                new LocalParameterServer(optimizer), new Device[] {manager.getDevice()});
    }

    static ContractProblem quadratic(NDManager parent, DataType type, Optimizer optimizer) {
        int d = 6;
        Random random = new Random(17);
        double[][] q =
                new org.apache.commons.math3.linear.QRDecomposition(
                                new org.apache.commons.math3.linear.Array2DRowRealMatrix(
                                        Dense.gaussian(random, d, d, 1)))
                        .getQ()
                        .getData();
        double[][] a = new double[d][d];
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < d; j++) {
                for (int k = 0; k < d; k++) {
                    a[i][j] += q[i][k] * (1 + 9.0 * k / (d - 1)) * q[j][k];
                }
            }
        }
        double[] b = new double[d];
        for (int i = 0; i < d; i++) {
            b[i] = random.nextGaussian();
        }
        NDManager m = parent.newSubManager();
        NDArray matrix = Dense.toArray(m, a, type);
        NDArray vector = Dense.toArray(m, b, type);
        Loss loss =
                new Loss("quadratic") {
                    @Override
                    public NDArray evaluate(NDList labels, NDList predictions) {
                        NDArray z = predictions.head().reshape(-1);
                        return RecordedScalars.mul(z.matMul(matrix).mul(z).sum(), 0.5f)
                                .sub(z.mul(vector).sum());
                    }
                };
        ContractProblem problem =
                vector("quadratic", parent, d, loss, type, new Random(18), optimizer, w -> w);
        new NDList(matrix, vector).attach(problem.manager);
        m.close();
        return problem;
    }

    static ContractProblem rosenbrock(NDManager parent, DataType type, Optimizer optimizer) {
        Loss loss =
                new Loss("rosenbrock") {
                    @Override
                    public NDArray evaluate(NDList labels, NDList predictions) {
                        NDArray z = predictions.head().reshape(-1);
                        NDArray x = z.get(0);
                        NDArray y = z.get(1);
                        NDArray r = y.sub(x.square());
                        return x.neg().add(1f).square().add(RecordedScalars.mul(r.square(), 100f));
                    }
                };
        ContractProblem problem =
                vector(
                        "rosenbrock",
                        parent,
                        2,
                        loss,
                        type,
                        new Random(19),
                        optimizer,
                        w -> new double[] {-1.2, 1.0});
        return problem;
    }

    private static ContractProblem vector(
            String name,
            NDManager parent,
            int d,
            Loss loss,
            DataType type,
            Random init,
            Optimizer optimizer,
            UnaryOperator<double[]> start) {
        double[][] identity = new double[d][d];
        for (int i = 0; i < d; i++) {
            identity[i][i] = 1;
        }
        ContractProblem problem =
                new ContractProblem(
                        name,
                        parent,
                        new SequentialBlock()
                                .add(Linear.builder().setUnits(1).optBias(false).build()),
                        loss,
                        identity,
                        new double[][] {{0}},
                        type,
                        init,
                        optimizer);
        NDArray w = problem.parameters().get(0);
        double[] values = start.apply(Dense.toDoubles(w));
        w.subi(w).addi(Dense.toArray(problem.manager, values, type).reshape(w.getShape()));
        return problem;
    }

    static ContractProblem mlp(NDManager parent, DataType type, Optimizer optimizer) {
        Random random = new Random(23);
        return new ContractProblem(
                "mlp",
                parent,
                new SequentialBlock()
                        .add(Linear.builder().setUnits(4).build())
                        .add(Activation::tanh)
                        .add(Linear.builder().setUnits(3).build()),
                new HalfSquaredErrorLoss(),
                Dense.gaussian(random, 8, 5, 1),
                Dense.gaussian(random, 8, 3, 1),
                type,
                new Random(24),
                optimizer);
    }

    /** The loss at the current weights. */
    double loss() {
        try (NDManager scope = manager.newSubManager()) {
            scope.tempAttachAll(data, labels);
            NDList out = block.forward(store, data, false);
            return loss.evaluate(labels, out).toType(DataType.FLOAT64, false).getDouble();
        }
    }

    /**
     * Forward and backward, leaving the gradients in the parameters. The step's arrays (what K-FAC
     * records in the forward) live until {@link #update()}, as a DJL batch's do until the step.
     */
    void backward() {
        backward(() -> {});
    }

    /**
     * {@link #backward()}, running {@code between} after the forward pass and before the backward
     * pass (to check that a garbage collection there changes nothing).
     */
    void backward(Runnable between) {
        closeStep();
        stepScope = manager.newSubManager();
        stepScope.tempAttachAll(data, labels);
        try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
            NDList out = block.forward(store, data, true);
            NDArray value = loss.evaluate(labels, out);
            between.run();
            collector.backward(value);
        }
    }

    /** The optimizer's update of every parameter, through DJL's parameter store. */
    void update() {
        store.updateAllParameters();
        closeStep();
    }

    private void closeStep() {
        if (stepScope != null) {
            stepScope.close();
            stepScope = null;
        }
    }

    /** The parameters' arrays, in block order. */
    List<NDArray> parameters() {
        List<NDArray> arrays = new ArrayList<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            arrays.add(p.getValue().getArray());
        }
        return arrays;
    }

    /** All weights, flattened in block order, as doubles. */
    double[] weights() {
        List<double[]> parts = new ArrayList<>();
        int total = 0;
        for (NDArray w : parameters()) {
            double[] v = Dense.toDoubles(w);
            parts.add(v);
            total += v.length;
        }
        double[] all = new double[total];
        int offset = 0;
        for (double[] v : parts) {
            System.arraycopy(v, 0, all, offset, v.length);
            offset += v.length;
        }
        return all;
    }

    /** Multiplies every gradient by {@code factor} in place (NaN, infinity, 0, 1e30...). */
    void scaleGradients(double factor) {
        for (NDArray w : parameters()) {
            if (w.hasGradient()) {
                try (NDArray g = w.getGradient()) {
                    g.muli(factor);
                }
            }
        }
    }

    /** Multiplies one parameter's gradient (in block order) by {@code factor} in place. */
    void scaleGradient(int index, double factor) {
        NDArray w = parameters().get(index);
        try (NDArray g = w.getGradient()) {
            g.muli(factor);
        }
    }

    NDManager manager() {
        return manager;
    }

    /** The shapes and dtypes of the parameters, to check that steps keep them. */
    List<String> signature() {
        List<String> s = new ArrayList<>();
        for (NDArray w : parameters()) {
            s.add(w.getDataType() + " " + w.getShape());
        }
        return s;
    }

    @Override
    public String toString() {
        return name;
    }

    @Override
    public void close() {
        closeStep();
        manager.close();
    }
}
