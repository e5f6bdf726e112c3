package io.github.so4j.optimizers;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.LocalParameterServer;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.util.Pair;
import io.github.so4j.curvature.testing.HalfSquaredErrorLoss;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Random;

/**
 * A 5-4-3 network with tanh, trained with DJL's L2 loss, and its hand-written double-precision
 * twin: forward, loss and gradients in plain Java, the oracle for optimizer references.
 *
 * <p>\( h = \tanh(W_1 x + b_1) \), \( y = W_2 h + b_2 \), \( L = \frac{1}{3N} \sum_{n,k}
 * \frac{1}{2} (y_{nk} - t_{nk})^2 \) (DJL's {@code L2Loss}: half squared error, mean over all
 * elements; {@link HalfSquaredErrorLoss}, whose 1/2 a recorded graph keeps safely). Parameters in
 * the order W1 (4x5), b1 (4), W2 (3x4), b2 (3): 39 in all.
 *
 * <p>A step goes through DJL's own update path, {@link ParameterStore#updateAllParameters()} and
 * {@link LocalParameterServer}, as {@code Trainer.step()} does, but without the trainer's one-time
 * gradient check, which reads a float64 gradient sum with {@code getFloat()} and so fails for
 * float64 models in DJL 0.36.
 */
final class TinyTanhNet implements AutoCloseable {

    static final int IN = 5;
    static final int HIDDEN = 4;
    static final int OUT = 3;
    static final int BATCH = 8;
    static final int SIZE = HIDDEN * IN + HIDDEN + OUT * HIDDEN + OUT;

    final Model model;
    final Trainer trainer;
    private final ParameterStore store;
    private final Parameter[] parameters = new Parameter[4];

    TinyTanhNet(Optimizer optimizer, DataType type) {
        this(optimizer, type, null);
    }

    /**
     * A net whose parameters are those DJL saved with {@link #saveParameters()} (the resume path:
     * load the parameters, then create the trainer), or freshly initialized when {@code saved} is
     * {@code null}.
     */
    TinyTanhNet(Optimizer optimizer, DataType type, byte[] saved) {
        model = Model.newInstance("tiny");
        model.setDataType(type);
        model.setBlock(
                new SequentialBlock()
                        .add(Linear.builder().setUnits(HIDDEN).build())
                        .add(Activation::tanh)
                        .add(Linear.builder().setUnits(OUT).build()));
        if (saved != null) {
            try {
                model.getBlock()
                        .loadParameters(
                                model.getNDManager(),
                                new DataInputStream(new ByteArrayInputStream(saved)));
            } catch (IOException | MalformedModelException e) {
                throw new IllegalStateException(e);
            }
        }
        trainer =
                model.newTrainer(
                        new DefaultTrainingConfig(new HalfSquaredErrorLoss())
                                .optOptimizer(optimizer));
        // keeps loaded parameters, and makes them require a gradient
        trainer.initialize(new Shape(BATCH, IN));
        store = new ParameterStore(trainer.getManager(), false);
        store.setParameterServer(new LocalParameterServer(optimizer), trainer.getDevices());
        int i = 0;
        for (Pair<String, Parameter> p : model.getBlock().getParameters()) {
            parameters[i++] = p.getValue();
        }
    }

    /** The parameters, as DJL's {@code Block.saveParameters} writes them. */
    byte[] saveParameters() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            model.getBlock().saveParameters(out);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return bytes.toByteArray();
    }

    /** The weights, flattened in the order W1, b1, W2, b2. */
    double[] weights() {
        double[] w = new double[SIZE];
        int offset = 0;
        for (Parameter p : parameters) {
            double[] values = p.getArray().toType(DataType.FLOAT64, false).toDoubleArray();
            System.arraycopy(values, 0, w, offset, values.length);
            offset += values.length;
        }
        return w;
    }

    /** One DJL training step on a batch: forward, L2 loss, backward, optimizer step. */
    void step(double[][] x, double[][] t) {
        NDManager manager = trainer.getManager();
        DataType type = parameters[0].getArray().getDataType();
        try (NDManager batch = manager.newSubManager()) {
            NDArray inputs = batch.create(flatten(x), new Shape(BATCH, IN)).toType(type, false);
            NDArray targets = batch.create(flatten(t), new Shape(BATCH, OUT)).toType(type, false);
            try (GradientCollector collector = trainer.newGradientCollector()) {
                NDList predictions = model.getBlock().forward(store, new NDList(inputs), true);
                NDArray loss = trainer.getLoss().evaluate(new NDList(targets), predictions);
                collector.backward(loss);
            }
            store.updateAllParameters();
        }
    }

    /** Forward and backward without a step; returns the flattened gradients W1, b1, W2, b2. */
    double[] gradientAfterBackward(double[][] x, double[][] t) {
        DataType type = parameters[0].getArray().getDataType();
        try (NDManager batch = trainer.getManager().newSubManager()) {
            NDArray inputs = batch.create(flatten(x), new Shape(BATCH, IN)).toType(type, false);
            NDArray targets = batch.create(flatten(t), new Shape(BATCH, OUT)).toType(type, false);
            try (GradientCollector collector = trainer.newGradientCollector()) {
                NDList predictions = model.getBlock().forward(store, new NDList(inputs), true);
                collector.backward(trainer.getLoss().evaluate(new NDList(targets), predictions));
            }
            double[] g = new double[SIZE];
            int offset = 0;
            for (Parameter p : parameters) {
                try (NDArray gradient = p.getArray().getGradient()) {
                    double[] values = gradient.toType(DataType.FLOAT64, false).toDoubleArray();
                    System.arraycopy(values, 0, g, offset, values.length);
                    offset += values.length;
                }
            }
            return g;
        }
    }

    /** A batch of inputs and targets, both N(0, 1). */
    static double[][][] batch(Random random) {
        double[][] x = new double[BATCH][IN];
        double[][] t = new double[BATCH][OUT];
        for (int n = 0; n < BATCH; n++) {
            for (int j = 0; j < IN; j++) {
                x[n][j] = random.nextGaussian();
            }
            for (int k = 0; k < OUT; k++) {
                t[n][k] = random.nextGaussian();
            }
        }
        return new double[][][] {x, t};
    }

    /** The gradient of the loss at {@code w}, in double precision, by the chain rule. */
    static double[] gradient(double[] w, double[][] x, double[][] t) {
        double[] g = new double[SIZE];
        int w1 = 0;
        int b1 = HIDDEN * IN;
        int w2 = b1 + HIDDEN;
        int b2 = w2 + OUT * HIDDEN;
        for (int n = 0; n < BATCH; n++) {
            double[] h = new double[HIDDEN];
            for (int i = 0; i < HIDDEN; i++) {
                double z = w[b1 + i];
                for (int j = 0; j < IN; j++) {
                    z += w[w1 + i * IN + j] * x[n][j];
                }
                h[i] = Math.tanh(z);
            }
            double[] dy = new double[OUT];
            for (int k = 0; k < OUT; k++) {
                double y = w[b2 + k];
                for (int i = 0; i < HIDDEN; i++) {
                    y += w[w2 + k * HIDDEN + i] * h[i];
                }
                dy[k] = (y - t[n][k]) / (OUT * BATCH);
                g[b2 + k] += dy[k];
                for (int i = 0; i < HIDDEN; i++) {
                    g[w2 + k * HIDDEN + i] += dy[k] * h[i];
                }
            }
            for (int i = 0; i < HIDDEN; i++) {
                double dh = 0;
                for (int k = 0; k < OUT; k++) {
                    dh += w[w2 + k * HIDDEN + i] * dy[k];
                }
                double dz = dh * (1 - h[i] * h[i]);
                g[b1 + i] += dz;
                for (int j = 0; j < IN; j++) {
                    g[w1 + i * IN + j] += dz * x[n][j];
                }
            }
        }
        return g;
    }

    private static double[] flatten(double[][] a) {
        double[] flat = new double[a.length * a[0].length];
        for (int i = 0; i < a.length; i++) {
            System.arraycopy(a[i], 0, flat, i * a[0].length, a[0].length);
        }
        return flat;
    }

    @Override
    public void close() {
        trainer.close();
        model.close();
    }
}
