package io.github.so4j.curvature.subspace;

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
import ai.djl.util.Pair;
import java.util.Random;

/**
 * An in-hidden-out network with tanh and softmax cross-entropy (mean over the batch), in DJL and as
 * a hand-written double-precision twin: loss, gradient by the chain rule, the Jacobian of the
 * outputs, and Hessians formed densely, the oracles of the curvature tests.
 *
 * <p>\( h = \tanh(W_1 x + b_1) \), \( z = W_2 h + b_2 \), \( L = -\frac{1}{N} \sum_n \log
 * \operatorname{softmax}(z_n)_{y_n} \). Parameters in the order W1 (hidden x in), b1, W2 (out x
 * hidden), b2, as DJL's {@code Linear} lays them out.
 */
final class TanhNetwork {

    final int in;
    final int hidden;
    final int out;
    final int size;

    TanhNetwork(int in, int hidden, int out) {
        this.in = in;
        this.hidden = hidden;
        this.out = out;
        this.size = hidden * in + hidden + out * hidden + out;
    }

    /** The DJL twin, initialized in the given dtype for batches of {@code batch}. */
    Block block(NDManager manager, DataType type, int batch) {
        Block block =
                new SequentialBlock()
                        .add(Linear.builder().setUnits(hidden).build())
                        .add(Activation::tanh)
                        .add(Linear.builder().setUnits(out).build());
        block.initialize(manager, type, new Shape(batch, in));
        return block;
    }

    /** The block's weights, flattened in parameter order. */
    static double[] weights(Block block) {
        int total = 0;
        for (Pair<String, Parameter> p : block.getParameters()) {
            total += (int) p.getValue().getArray().size();
        }
        double[] w = new double[total];
        int offset = 0;
        for (Pair<String, Parameter> p : block.getParameters()) {
            double[] values =
                    p.getValue().getArray().toType(DataType.FLOAT64, false).toDoubleArray();
            System.arraycopy(values, 0, w, offset, values.length);
            offset += values.length;
        }
        return w;
    }

    /** Inputs N(0, 1) and labels uniform over the classes. */
    double[][] inputs(Random random, int batch) {
        double[][] x = new double[batch][in];
        for (double[] row : x) {
            for (int j = 0; j < in; j++) {
                row[j] = random.nextGaussian();
            }
        }
        return x;
    }

    int[] labels(Random random, int batch) {
        int[] y = new int[batch];
        for (int n = 0; n < batch; n++) {
            y[n] = random.nextInt(out);
        }
        return y;
    }

    static NDList data(NDManager manager, double[][] x, DataType type) {
        double[] flat = new double[x.length * x[0].length];
        for (int n = 0; n < x.length; n++) {
            System.arraycopy(x[n], 0, flat, n * x[0].length, x[0].length);
        }
        NDArray array = manager.create(flat, new Shape(x.length, x[0].length));
        return new NDList(array.toType(type, false));
    }

    static NDList labels(NDManager manager, int[] y, DataType type) {
        double[] values = new double[y.length];
        for (int n = 0; n < y.length; n++) {
            values[n] = y[n];
        }
        return new NDList(manager.create(values).toType(type, false));
    }

    /** The outputs z_n (N x out). */
    double[][] outputs(double[] w, double[][] x) {
        double[][] z = new double[x.length][out];
        for (int n = 0; n < x.length; n++) {
            double[] h = hiddenOf(w, x[n]);
            for (int k = 0; k < out; k++) {
                double s = w[b2() + k];
                for (int i = 0; i < hidden; i++) {
                    s += w[w2() + k * hidden + i] * h[i];
                }
                z[n][k] = s;
            }
        }
        return z;
    }

    double loss(double[] w, double[][] x, int[] y) {
        double[][] z = outputs(w, x);
        double total = 0;
        for (int n = 0; n < x.length; n++) {
            total -= Math.log(softmax(z[n])[y[n]]);
        }
        return total / x.length;
    }

    /** The gradient by the chain rule. */
    double[] gradient(double[] w, double[][] x, int[] y) {
        double[] g = new double[size];
        int batch = x.length;
        for (int n = 0; n < batch; n++) {
            double[] h = hiddenOf(w, x[n]);
            double[] p = softmax(outputsOf(w, h));
            double[] dz = new double[out];
            for (int k = 0; k < out; k++) {
                dz[k] = (p[k] - (k == y[n] ? 1 : 0)) / batch;
                g[b2() + k] += dz[k];
                for (int i = 0; i < hidden; i++) {
                    g[w2() + k * hidden + i] += dz[k] * h[i];
                }
            }
            for (int i = 0; i < hidden; i++) {
                double dh = 0;
                for (int k = 0; k < out; k++) {
                    dh += w[w2() + k * hidden + i] * dz[k];
                }
                double da = dh * (1 - h[i] * h[i]);
                g[b1() + i] += da;
                for (int j = 0; j < in; j++) {
                    g[i * in + j] += da * x[n][j];
                }
            }
        }
        return g;
    }

    /**
     * The Hessian formed column by column by central differences of {@link #gradient}, symmetrized:
     * error \( O(h^2) \) from truncation plus \( O(u / h) \) from rounding, about 1e-10 relative
     * for h = 1e-5.
     */
    double[][] hessianByDifferences(double[] w, double[][] x, int[] y) {
        double h = 1e-5;
        double[][] hessian = new double[size][size];
        for (int j = 0; j < size; j++) {
            double[] up = w.clone();
            double[] down = w.clone();
            up[j] += h;
            down[j] -= h;
            double[] gu = gradient(up, x, y);
            double[] gd = gradient(down, x, y);
            for (int i = 0; i < size; i++) {
                hessian[i][j] = (gu[i] - gd[i]) / (2 * h);
            }
        }
        for (int i = 0; i < size; i++) {
            for (int j = 0; j < i; j++) {
                double mean = (hessian[i][j] + hessian[j][i]) / 2;
                hessian[i][j] = mean;
                hessian[j][i] = mean;
            }
        }
        return hessian;
    }

    /**
     * The Gauss-Newton matrix \( \frac{1}{N} \sum_n J_n^\top (\operatorname{diag}(p_n) - p_n
     * p_n^\top) J_n \), with the Jacobians \( J_n = \partial z_n / \partial w \) by the chain rule.
     */
    double[][] gaussNewton(double[] w, double[][] x) {
        double[][] g = new double[size][size];
        for (double[] row : x) {
            double[] h = hiddenOf(w, row);
            double[] p = softmax(outputsOf(w, h));
            double[][] jacobian = new double[out][size];
            for (int k = 0; k < out; k++) {
                jacobian[k][b2() + k] = 1;
                for (int i = 0; i < hidden; i++) {
                    jacobian[k][w2() + k * hidden + i] = h[i];
                    double da = w[w2() + k * hidden + i] * (1 - h[i] * h[i]);
                    jacobian[k][b1() + i] = da;
                    for (int j = 0; j < in; j++) {
                        jacobian[k][i * in + j] = da * row[j];
                    }
                }
            }
            for (int a = 0; a < out; a++) {
                for (int b = 0; b < out; b++) {
                    double curvature = ((a == b ? p[a] : 0) - p[a] * p[b]) / x.length;
                    if (curvature == 0) {
                        continue;
                    }
                    for (int i = 0; i < size; i++) {
                        double left = jacobian[a][i] * curvature;
                        if (left == 0) {
                            continue;
                        }
                        for (int j = 0; j < size; j++) {
                            g[i][j] += left * jacobian[b][j];
                        }
                    }
                }
            }
        }
        return g;
    }

    private double[] hiddenOf(double[] w, double[] x) {
        double[] h = new double[hidden];
        for (int i = 0; i < hidden; i++) {
            double s = w[b1() + i];
            for (int j = 0; j < in; j++) {
                s += w[i * in + j] * x[j];
            }
            h[i] = Math.tanh(s);
        }
        return h;
    }

    private double[] outputsOf(double[] w, double[] h) {
        double[] z = new double[out];
        for (int k = 0; k < out; k++) {
            double s = w[b2() + k];
            for (int i = 0; i < hidden; i++) {
                s += w[w2() + k * hidden + i] * h[i];
            }
            z[k] = s;
        }
        return z;
    }

    private static double[] softmax(double[] z) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : z) {
            max = Math.max(max, v);
        }
        double total = 0;
        double[] p = new double[z.length];
        for (int k = 0; k < z.length; k++) {
            p[k] = Math.exp(z[k] - max);
            total += p[k];
        }
        for (int k = 0; k < z.length; k++) {
            p[k] /= total;
        }
        return p;
    }

    private int b1() {
        return hidden * in;
    }

    private int w2() {
        return b1() + hidden;
    }

    private int b2() {
        return w2() + out * hidden;
    }
}
