package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.training.GradientCollector;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.Im2colOracle;
import io.github.so4j.curvature.testing.Tolerances;
import io.github.so4j.optimizers.kfac.CapturedLayer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;

/**
 * K-FAC's factors after one step on a batch of 8 against brute force: every example goes through
 * its own forward and backward (batch of 1, so that the loss is that example's loss and a probe's
 * gradient is its output gradient \( g_n = \partial \ell_n / \partial y \) with no batch scaling),
 * on an uninstrumented copy of the model, and the factors are formed in float64 with Commons Math:
 *
 * <p>\( A = \frac{1}{N} \sum_n \sum_t \bar a_{n,t} \bar a_{n,t}^\top \), \( G = \frac{1}{N T}
 * \sum_n \sum_t g_{n,t} g_{n,t}^\top \)
 *
 * <p>with T = 1 for dense layers and, for convolutions, the patches of a plain-Java im2col. The
 * first update takes the batch statistics as they are, so they must match. Both computations run in
 * float64 and differ only in the order of their roundings, about \( 10^{-15} \) relative for these
 * well-scaled sums: {@link Tolerances#FLOAT64_RELATIVE} leaves six digits of margin.
 */
class KfacFactorsTest {

    private static final int BATCH = 8;

    @Test
    void mlpFactorsEqualPerExampleBruteForce() {
        check(KfacNet::mlp, KfacNet.mlpInput(BATCH), new int[] {0, 2, 4});
    }

    @Test
    void cnnFactorsEqualPerExampleBruteForceWithPlainJavaIm2col() {
        check(KfacNet::cnn, KfacNet.cnnInput(BATCH), new int[] {0, 2, 5});
    }

    private static void check(Supplier<Block> architecture, Shape inputShape, int[] covered) {
        Kfac kfac = Kfac.builder().optLearningRate(0).optFactorUpdateFrequency(1).build();
        Optimizer sgd = Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0)).build();
        Random random = new Random(41);
        double[][] batch = KfacNet.batch(random, inputShape);
        try (KfacNet net =
                        new KfacNet(
                                architecture.get(),
                                kfac::instrument,
                                kfac,
                                DataType.FLOAT64,
                                inputShape);
                KfacNet plain =
                        new KfacNet(
                                architecture.get(), b -> b, sgd, DataType.FLOAT64, inputShape)) {
            plain.copyFrom(net);
            net.step(batch);
            List<CapturedLayer> layers = kfac.instrumentation().layers();
            assertEquals(covered.length, layers.size());
            BruteForce expected = bruteForce(plain, batch, inputShape, covered);
            for (int l = 0; l < covered.length; l++) {
                var factors = kfac.curvatureBlock(layers.get(l)).factors();
                double errorA = relativeError(factors.inputFactor(), expected.a.get(l));
                double errorG = relativeError(factors.outputFactor(), expected.g.get(l));
                assertTrue(
                        errorA < Tolerances.FLOAT64_RELATIVE,
                        layers.get(l) + ": A relative error " + errorA);
                assertTrue(
                        errorG < Tolerances.FLOAT64_RELATIVE,
                        layers.get(l) + ": G relative error " + errorG);
            }
        }
    }

    private record BruteForce(List<RealMatrix> a, List<RealMatrix> g) {}

    private static BruteForce bruteForce(
            KfacNet plain, double[][] batch, Shape inputShape, int[] covered) {
        List<Block> children = plain.block.getChildren().values();
        int perExample = (int) (inputShape.size() / BATCH);
        List<RealMatrix> a = new ArrayList<>();
        List<RealMatrix> g = new ArrayList<>();
        for (int l = 0; l < covered.length; l++) {
            a.add(null);
            g.add(null);
        }
        for (int n = 0; n < BATCH; n++) {
            double[] x = new double[perExample];
            System.arraycopy(batch[0], n * perExample, x, 0, perExample);
            Shape one = new Shape(1).addAll(inputShape.slice(1));
            try (NDManager scope = plain.trainer.getManager().newSubManager()) {
                NDArray[] inputs = new NDArray[covered.length];
                NDArray[] probes = new NDArray[covered.length];
                try (GradientCollector collector = plain.trainer.newGradientCollector()) {
                    NDList current = new NDList(scope.create(x, one));
                    int l = 0;
                    for (int i = 0; i < children.size(); i++) {
                        boolean isCovered = l < covered.length && covered[l] == i;
                        if (isCovered) {
                            inputs[l] = current.head();
                        }
                        current = children.get(i).forward(plain.store, current, false);
                        if (isCovered) {
                            probes[l] = current.head().zerosLike();
                            probes[l].setRequiresGradient(true);
                            current = new NDList(current.head().add(probes[l]));
                            l++;
                        }
                    }
                    NDArray label = scope.create(new double[] {batch[1][n]});
                    collector.backward(
                            plain.trainer.getLoss().evaluate(new NDList(label), current));
                }
                for (int l = 0; l < covered.length; l++) {
                    Block layer = children.get(covered[l]);
                    double[][] rows = inputRows(layer, inputs[l]);
                    double[][] grads = outputRows(probes[l].getGradient());
                    int positions = rows.length;
                    RealMatrix an = gram(withOnesIfBias(layer, rows)).scalarMultiply(1.0 / BATCH);
                    RealMatrix gn = gram(grads).scalarMultiply(1.0 / (BATCH * positions));
                    a.set(l, a.get(l) == null ? an : a.get(l).add(an));
                    g.set(l, g.get(l) == null ? gn : g.get(l).add(gn));
                }
            }
        }
        return new BruteForce(a, g);
    }

    /** The layer's input rows for one example: the input itself, or its im2col patches. */
    private static double[][] inputRows(Block layer, NDArray input) {
        double[] flat = Dense.toDoubles(input);
        if (!(layer instanceof Conv2d)) {
            return new double[][] {flat};
        }
        Conv2d conv = (Conv2d) layer;
        Shape s = input.getShape();
        double[][][][] x =
                Im2colOracle.tensor(flat, 1, (int) s.get(1), (int) s.get(2), (int) s.get(3));
        return Im2colOracle.im2col(
                x,
                pair(conv.getKernelShape()),
                pair(conv.getStride()),
                pair(conv.getPadding()),
                pair(conv.getDilation()));
    }

    /** The output gradient of one example as rows: one per output position. */
    private static double[][] outputRows(NDArray gradient) {
        Shape s = gradient.getShape();
        double[] flat = Dense.toDoubles(gradient);
        if (s.dimension() == 2) {
            return new double[][] {flat};
        }
        int channels = (int) s.get(1);
        int positions = (int) (s.get(2) * s.get(3));
        double[][] rows = new double[positions][channels];
        for (int c = 0; c < channels; c++) {
            for (int t = 0; t < positions; t++) {
                rows[t][c] = flat[c * positions + t];
            }
        }
        return rows;
    }

    private static double[][] withOnesIfBias(Block layer, double[][] rows) {
        if (!layer.getDirectParameters().contains("bias")) {
            return rows;
        }
        double[][] out = new double[rows.length][];
        for (int r = 0; r < rows.length; r++) {
            out[r] = java.util.Arrays.copyOf(rows[r], rows[r].length + 1);
            out[r][rows[r].length] = 1;
        }
        return out;
    }

    private static RealMatrix gram(double[][] rows) {
        RealMatrix x = new Array2DRowRealMatrix(rows, false);
        return x.transpose().multiply(x);
    }

    private static int[] pair(Shape shape) {
        return new int[] {(int) shape.get(0), (int) shape.get(1)};
    }

    private static double relativeError(NDArray actual, RealMatrix expected) {
        double[] a = Dense.toDoubles(actual);
        double[] e = new double[a.length];
        int columns = expected.getColumnDimension();
        for (int i = 0; i < expected.getRowDimension(); i++) {
            for (int j = 0; j < columns; j++) {
                e[i * columns + j] = expected.getEntry(i, j);
            }
        }
        return Dense.relativeError(a, e);
    }
}
