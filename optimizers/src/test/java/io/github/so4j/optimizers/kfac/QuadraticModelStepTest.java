package io.github.so4j.optimizers.kfac;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.loss.Loss;
import io.github.so4j.curvature.subspace.BatchCurvature;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;
import org.junit.jupiter.api.Test;

/**
 * The adaptive step on a 3-4-2 tanh network with sigmoid cross-entropy (mean over every output), in
 * float64, against a dense oracle: the Gauss-Newton matrix \( J^\top H_z J \) from the Jacobian
 * written out by hand and \( H_z = \operatorname{diag}(p(1-p)) / (BK) \), the damped 2 x 2 system
 * solved by Commons Math's LU, and the reduction ratio from losses computed in plain Java.
 */
class QuadraticModelStepTest {

    private static final int B = 5;
    private static final int IN = 3;
    private static final int HIDDEN = 4;
    private static final int OUT = 2;
    private static final int D = HIDDEN * IN + HIDDEN + OUT * HIDDEN + OUT;

    /** float64 products and sums over 26 coordinates: errors of order 1e-15 relative. */
    private static final double TOLERANCE = 1e-9;

    private final Random random = new Random(11);

    /** The float64 network IN-HIDDEN(tanh)-OUT in the model, initialized; its parameters. */
    private static List<Parameter> tinyNetwork(Model model) {
        model.setDataType(DataType.FLOAT64);
        Block block =
                new SequentialBlock()
                        .add(Linear.builder().setUnits(HIDDEN).build())
                        .add(Activation::tanh)
                        .add(Linear.builder().setUnits(OUT).build());
        model.setBlock(block);
        block.initialize(model.getNDManager(), DataType.FLOAT64, new Shape(B, IN));
        return block.getParameters().values().stream().map(p -> p).toList();
    }

    @Test
    void firstAndSecondStepsMatchTheDenseModel() {
        try (Model model = Model.newInstance("quadratic-model-step")) {
            List<Parameter> parameters = tinyNetwork(model);
            Block block = model.getBlock();
            NDManager manager = model.getNDManager();
            double[] theta = gaussian(D, 0.7);
            int offset = 0;
            for (Parameter p : parameters) {
                NDArray w = p.getArray();
                int n = (int) w.size();
                double[] part = new double[n];
                System.arraycopy(theta, offset, part, 0, n);
                manager.create(part, w.getShape()).copyTo(w);
                offset += n;
            }
            double[] x = gaussian(B * IN, 1);
            double[] y = new double[B * OUT];
            for (int i = 0; i < y.length; i++) {
                y[i] = random.nextDouble();
            }
            NDList data = new NDList(manager.create(x, new Shape(B, IN)));
            NDList labels = new NDList(manager.create(y, new Shape(B, OUT)));
            Loss loss = Loss.sigmoidBinaryCrossEntropyLoss();
            double decay = 0.01;
            double lambda = 0.7;
            RealMatrix g = gaussNewton(theta, x);
            AdaptiveDamping rule = new AdaptiveDamping(lambda, 1e-5, 1000, 5, 0.95);
            QuadraticModelStep step =
                    new QuadraticModelStep(QuadraticModelStep.Curvature.GAUSS_NEWTON, rule);

            // step 1: no previous update, w1 = 0
            double[] delta1 = gaussian(D, 1);
            double[] grad1 = gaussian(D, 1);
            double[] moved1 =
                    run(
                            step,
                            block,
                            loss,
                            data,
                            labels,
                            parameters,
                            delta1,
                            grad1,
                            lambda,
                            decay,
                            true);
            RealVector d1 = new ArrayRealVector(delta1);
            double a00 = g.operate(d1).dotProduct(d1) + decay * d1.dotProduct(d1);
            double b0 = d1.dotProduct(new ArrayRealVector(grad1));
            double w0 = -b0 / (a00 + lambda * d1.dotProduct(d1));
            double[] expected1 = d1.mapMultiply(w0).toArray();
            assertClose(expected1, moved1);
            double q = w0 * w0 * a00 / 2 + w0 * b0;
            double rho =
                    (objective(add(theta, expected1), x, y, decay) - objective(theta, x, y, decay))
                            / q;
            assertEquals(rho, step.lastRho(), TOLERANCE * Math.max(1, Math.abs(rho)));
            assertEquals(
                    new AdaptiveDamping(lambda, 1e-5, 1000, 5, 0.95).adapt(rho), rule.value(), 0.0);
            assertEquals(-w0, step.lastLearningRate(), TOLERANCE * Math.abs(w0));

            // step 2: v = the first update; the 2 x 2 system
            double[] delta2 = gaussian(D, 1);
            double[] grad2 = gaussian(D, 1);
            double[] moved2 =
                    run(
                            step,
                            block,
                            loss,
                            data,
                            labels,
                            parameters,
                            delta2,
                            grad2,
                            lambda,
                            decay,
                            false);
            RealMatrix u = new Array2DRowRealMatrix(D, 2);
            u.setColumn(0, delta2);
            u.setColumn(1, expected1);
            RealMatrix dm = u.transpose().multiply(u);
            RealMatrix am = u.transpose().multiply(g).multiply(u).add(dm.scalarMultiply(decay));
            RealVector b = u.transpose().operate(new ArrayRealVector(grad2));
            RealVector w =
                    new LUDecomposition(am.add(dm.scalarMultiply(lambda)))
                            .getSolver()
                            .solve(b.mapMultiply(-1));
            assertClose(u.operate(w).toArray(), moved2);
            assertEquals(w.getEntry(1), step.lastMomentum(), TOLERANCE * w.getNorm());
        }
    }

    /**
     * The Gauss-Newton entries the step uses, \( u_i^\top G u_j \) from {@link
     * BatchCurvature#gaussNewtonGram}, against the same dense \( J^\top H_z J \) with \( H_z =
     * \operatorname{diag}(p(1-p)) / (BK) \): sums of 26 float64 products, {@link #TOLERANCE}
     * relative to the largest entry.
     */
    @Test
    void gaussNewtonEntriesMatchTheDenseMatrix() {
        try (Model model = Model.newInstance("quadratic-model-gram")) {
            List<Parameter> parameters = tinyNetwork(model);
            Block block = model.getBlock();
            NDManager manager = model.getNDManager();
            double[] theta = gaussian(D, 0.7);
            double[] delta = gaussian(D, 1);
            double[] v = gaussian(D, 1);
            int offset = 0;
            NDList deltaList = new NDList();
            NDList vList = new NDList();
            for (Parameter p : parameters) {
                NDArray w = p.getArray();
                manager.create(slice(theta, offset, w.getShape()), w.getShape()).copyTo(w);
                deltaList.add(manager.create(slice(delta, offset, w.getShape()), w.getShape()));
                vList.add(manager.create(slice(v, offset, w.getShape()), w.getShape()));
                offset += (int) w.size();
            }
            double[] x = gaussian(B * IN, 1);
            double[] y = new double[B * OUT];
            for (int i = 0; i < y.length; i++) {
                y[i] = random.nextDouble();
            }
            NDList data = new NDList(manager.create(x, new Shape(B, IN)));
            NDList labels = new NDList(manager.create(y, new Shape(B, OUT)));
            BatchCurvature batch =
                    BatchCurvature.builder()
                            .setBlock(block)
                            .setLoss(Loss.sigmoidBinaryCrossEntropyLoss())
                            .setBatch(data, labels)
                            .optMode(BatchCurvature.Mode.EXACT)
                            .build();
            double[] actual =
                    batch.gaussNewtonGram(List.of(deltaList, vList), manager).toDoubleArray();
            RealMatrix g = gaussNewton(theta, x);
            RealVector d = new ArrayRealVector(delta);
            RealVector u = new ArrayRealVector(v);
            double[] expected = {
                g.operate(d).dotProduct(d),
                g.operate(d).dotProduct(u),
                g.operate(u).dotProduct(d),
                g.operate(u).dotProduct(u)
            };
            double scale = Math.max(Math.abs(expected[0]), Math.abs(expected[3]));
            for (int i = 0; i < 4; i++) {
                assertEquals(expected[i], actual[i], TOLERANCE * scale, "entry " + i);
            }
        }
    }

    /** A part of a flat vector as a shaped array's values. */
    private static double[] slice(double[] flat, int offset, Shape shape) {
        double[] part = new double[(int) shape.size()];
        System.arraycopy(flat, offset, part, 0, part.length);
        return part;
    }

    @Test
    void anUpdateWithoutABatchNamesTheFix() {
        QuadraticModelStep step =
                new QuadraticModelStep(QuadraticModelStep.Curvature.GAUSS_NEWTON, null);
        IllegalStateException e = assertThrows(IllegalStateException.class, step::take);
        assertEquals(true, e.getMessage().contains("trainStep"), e.getMessage());
    }

    /** Runs one step with the given Delta and gradient; returns delta, the move of the weights. */
    private static double[] run(
            QuadraticModelStep step,
            Block block,
            Loss loss,
            NDList data,
            NDList labels,
            List<Parameter> parameters,
            double[] delta,
            double[] gradient,
            double lambda,
            double decay,
            boolean adapt) {
        NDManager manager = parameters.get(0).getArray().getManager();
        try (NDManager scope = manager.newSubManager();
                NDManager owner = manager.newSubManager()) {
            step.prepare(block, loss, data, labels);
            BatchCurvature batch = step.take();
            Map<String, NDArray> deltas = new HashMap<>();
            Map<String, NDArray> gradients = new HashMap<>();
            int offset = 0;
            for (Parameter p : parameters) {
                NDArray w = p.getArray();
                int n = (int) w.size();
                deltas.put(w.getUid(), slice(scope, delta, offset, w.getShape()));
                gradients.put(w.getUid(), slice(scope, gradient, offset, w.getShape()));
                offset += n;
            }
            Map<String, NDArray> directions =
                    step.step(batch, gradients, deltas, lambda, 1, decay, adapt, owner, scope);
            double[] moved = new double[D];
            offset = 0;
            for (Parameter p : parameters) {
                double[] part = directions.get(p.getArray().getUid()).toDoubleArray();
                for (int i = 0; i < part.length; i++) {
                    moved[offset + i] = -part[i]; // the base class moves by -direction
                }
                offset += part.length;
            }
            return moved;
        }
    }

    private static NDArray slice(NDManager scope, double[] flat, int offset, Shape shape) {
        double[] part = new double[(int) shape.size()];
        System.arraycopy(flat, offset, part, 0, part.length);
        return scope.create(part, shape);
    }

    /** The outputs z (B x OUT) and hidden activations h (B x HIDDEN) of the network at theta. */
    private static double[][][] forward(double[] theta, double[] x) {
        double[][] h = new double[B][HIDDEN];
        double[][] z = new double[B][OUT];
        int w1 = 0;
        int b1 = HIDDEN * IN;
        int w2 = b1 + HIDDEN;
        int b2 = w2 + OUT * HIDDEN;
        for (int n = 0; n < B; n++) {
            for (int j = 0; j < HIDDEN; j++) {
                double s = theta[b1 + j];
                for (int i = 0; i < IN; i++) {
                    s += theta[w1 + j * IN + i] * x[n * IN + i];
                }
                h[n][j] = Math.tanh(s);
            }
            for (int k = 0; k < OUT; k++) {
                double s = theta[b2 + k];
                for (int j = 0; j < HIDDEN; j++) {
                    s += theta[w2 + k * HIDDEN + j] * h[n][j];
                }
                z[n][k] = s;
            }
        }
        return new double[][][] {z, h};
    }

    /** \( J^\top H_z J \) with the Jacobian written out and \( H_z = diag(p(1-p))/(BK) \). */
    private static RealMatrix gaussNewton(double[] theta, double[] x) {
        double[][][] zh = forward(theta, x);
        int b1 = HIDDEN * IN;
        int w2 = b1 + HIDDEN;
        int b2 = w2 + OUT * HIDDEN;
        RealMatrix g = new Array2DRowRealMatrix(D, D);
        for (int n = 0; n < B; n++) {
            for (int k = 0; k < OUT; k++) {
                double[] jrow = new double[D];
                for (int j = 0; j < HIDDEN; j++) {
                    double h = zh[1][n][j];
                    double back = theta[w2 + k * HIDDEN + j] * (1 - h * h);
                    for (int i = 0; i < IN; i++) {
                        jrow[j * IN + i] = back * x[n * IN + i];
                    }
                    jrow[b1 + j] = back;
                    jrow[w2 + k * HIDDEN + j] = h;
                }
                jrow[b2 + k] = 1;
                double p = 1 / (1 + Math.exp(-zh[0][n][k]));
                double weight = p * (1 - p) / (B * OUT);
                RealVector r = new ArrayRealVector(jrow);
                g = g.add(r.outerProduct(r).scalarMultiply(weight));
            }
        }
        return g;
    }

    /** Mean sigmoid cross-entropy plus \( \frac{\omega}{2}\|\theta\|^2 \), in plain Java. */
    private static double objective(double[] theta, double[] x, double[] y, double decay) {
        double[][] z = forward(theta, x)[0];
        double sum = 0;
        for (int n = 0; n < B; n++) {
            for (int k = 0; k < OUT; k++) {
                double v = z[n][k];
                sum += Math.max(v, 0) - v * y[n * OUT + k] + Math.log1p(Math.exp(-Math.abs(v)));
            }
        }
        double norm = 0;
        for (double t : theta) {
            norm += t * t;
        }
        return sum / (B * OUT) + decay / 2 * norm;
    }

    private static double[] add(double[] a, double[] b) {
        double[] c = a.clone();
        for (int i = 0; i < c.length; i++) {
            c[i] += b[i];
        }
        return c;
    }

    private double[] gaussian(int n, double scale) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = random.nextGaussian() * scale;
        }
        return v;
    }

    private static void assertClose(double[] expected, double[] actual) {
        double norm = new ArrayRealVector(expected).getNorm();
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], TOLERANCE * norm, "coordinate " + i);
        }
    }
}
