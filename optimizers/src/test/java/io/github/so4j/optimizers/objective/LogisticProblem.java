package io.github.so4j.optimizers.objective;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.subspace.LogisticRegression;
import java.util.Random;

/**
 * A synthetic L2-regularised logistic regression and its plain-Java twin: features N(0, 1) with a
 * bias column, labels drawn from a logistic model with a planted weight vector.
 */
final class LogisticProblem {

    final double[][] features;
    final double[] labels;
    final double lambda;

    LogisticProblem(int n, int d, double lambda, double signal, Random random) {
        this(n, d, lambda, signal, 1, random);
    }

    /**
     * A problem whose feature j has scale \( c^{-j / (d - 2)} \) (the bias column excepted), so
     * that \( A^\top A \) has a condition number of about \( c^2 \): ill-conditioned, like
     * correlated pixels.
     */
    LogisticProblem(int n, int d, double lambda, double signal, double spread, Random random) {
        this.lambda = lambda;
        features = new double[n][d];
        labels = new double[n];
        double[] planted = new double[d];
        for (int j = 0; j < d; j++) {
            planted[j] =
                    signal
                            * random.nextGaussian()
                            / Math.sqrt(d)
                            * Math.pow(spread, (double) j / Math.max(d - 2, 1));
        }
        for (int i = 0; i < n; i++) {
            double z = 0;
            for (int j = 0; j < d; j++) {
                double scale = Math.pow(spread, -(double) j / Math.max(d - 2, 1));
                features[i][j] = j == d - 1 ? 1 : scale * random.nextGaussian();
                z += features[i][j] * planted[j];
            }
            labels[i] = random.nextDouble() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
        }
    }

    LogisticRegression objective(NDManager manager) {
        int n = features.length;
        int d = features[0].length;
        double[] flat = new double[n * d];
        for (int i = 0; i < n; i++) {
            System.arraycopy(features[i], 0, flat, i * d, d);
        }
        return new LogisticRegression(
                manager.create(flat, new Shape(n, d)),
                manager.create(labels).toType(DataType.FLOAT64, false),
                lambda);
    }

    /** The gradient in plain Java, the independent oracle of optimality. */
    double[] gradient(double[] x) {
        int n = features.length;
        double[] g = new double[x.length];
        for (int i = 0; i < n; i++) {
            double z = 0;
            for (int j = 0; j < x.length; j++) {
                z += features[i][j] * x[j];
            }
            double r = 1 / (1 + Math.exp(-z)) - labels[i];
            for (int j = 0; j < x.length; j++) {
                g[j] += r * features[i][j] / n;
            }
        }
        for (int j = 0; j < x.length; j++) {
            g[j] += lambda * x[j];
        }
        return g;
    }

    /**
     * The Hessian in plain Java, \( \frac{1}{n} \sum_i \sigma_i (1 - \sigma_i) a_i a_i^\top +
     * \lambda I \).
     */
    double[][] hessian(double[] x) {
        int n = features.length;
        int d = x.length;
        double[][] h = new double[d][d];
        for (int i = 0; i < n; i++) {
            double z = 0;
            for (int j = 0; j < d; j++) {
                z += features[i][j] * x[j];
            }
            double s = 1 / (1 + Math.exp(-z));
            double w = s * (1 - s) / n;
            for (int a = 0; a < d; a++) {
                for (int b = 0; b < d; b++) {
                    h[a][b] += w * features[i][a] * features[i][b];
                }
            }
        }
        for (int j = 0; j < d; j++) {
            h[j][j] += lambda;
        }
        return h;
    }

    double value(double[] x) {
        int n = features.length;
        double total = 0;
        for (int i = 0; i < n; i++) {
            double z = 0;
            for (int j = 0; j < x.length; j++) {
                z += features[i][j] * x[j];
            }
            total += Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - labels[i] * z;
        }
        double norm = 0;
        for (double v : x) {
            norm += v * v;
        }
        return total / n + lambda / 2 * norm;
    }
}
