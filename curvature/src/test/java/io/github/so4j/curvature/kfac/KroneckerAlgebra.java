package io.github.so4j.curvature.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.Im2colOracle;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.RealMatrix;

/** Dense double-precision oracles for Kronecker-factored blocks. */
final class KroneckerAlgebra {

    private KroneckerAlgebra() {}

    /** A random symmetric positive semi-definite n x n matrix X^T X / rows of rank min(rows, n). */
    static RealMatrix secondMoment(Random random, int rows, int n, double scale) {
        RealMatrix x = new Array2DRowRealMatrix(Dense.gaussian(random, rows, n, scale), false);
        return x.transpose().multiply(x).scalarMultiply(1.0 / rows);
    }

    /** The Kronecker product a (x) b. */
    static RealMatrix kron(RealMatrix a, RealMatrix b) {
        int ar = a.getRowDimension();
        int ac = a.getColumnDimension();
        int br = b.getRowDimension();
        int bc = b.getColumnDimension();
        RealMatrix k = new Array2DRowRealMatrix(ar * br, ac * bc);
        for (int i = 0; i < ar; i++) {
            for (int j = 0; j < ac; j++) {
                for (int r = 0; r < br; r++) {
                    for (int c = 0; c < bc; c++) {
                        k.setEntry(i * br + r, j * bc + c, a.getEntry(i, j) * b.getEntry(r, c));
                    }
                }
            }
        }
        return k;
    }

    /** vec(m), column-major. */
    static double[] vec(RealMatrix m) {
        int rows = m.getRowDimension();
        int columns = m.getColumnDimension();
        double[] v = new double[rows * columns];
        for (int j = 0; j < columns; j++) {
            for (int i = 0; i < rows; i++) {
                v[j * rows + i] = m.getEntry(i, j);
            }
        }
        return v;
    }

    /** The inverse of vec, column-major. */
    static RealMatrix unvec(double[] v, int rows, int columns) {
        RealMatrix m = new Array2DRowRealMatrix(rows, columns);
        for (int j = 0; j < columns; j++) {
            for (int i = 0; i < rows; i++) {
                m.setEntry(i, j, v[j * rows + i]);
            }
        }
        return m;
    }

    /** m + shift I, by LU, inverted. */
    static RealMatrix shiftedInverse(RealMatrix m, double shift) {
        RealMatrix shifted =
                m.add(
                        MatrixUtils.createRealIdentityMatrix(m.getRowDimension())
                                .scalarMultiply(shift));
        return new LUDecomposition(shifted).getSolver().getInverse();
    }

    /**
     * The damped Kronecker product \( (G + \sqrt{d}/\pi\, I)^{-1} M (A + \pi\sqrt{d}\, I)^{-1} \)
     * with the pi correction \( \pi = \sqrt{(\mathrm{tr} A / p) / (\mathrm{tr} G / q)} \): what
     * INVERSE computes, and LOW_RANK for factors of rank at most k.
     */
    static RealMatrix dampedKroneckerProduct(
            RealMatrix a, RealMatrix g, RealMatrix m, double damping) {
        double pi =
                Math.sqrt(
                        (a.getTrace() / a.getRowDimension())
                                / (g.getTrace() / g.getRowDimension()));
        return shiftedInverse(g, Math.sqrt(damping) / pi)
                .multiply(m)
                .multiply(shiftedInverse(a, pi * Math.sqrt(damping)));
    }

    /** A matrix as an NDArray of the given type. */
    static NDArray toArray(NDManager manager, RealMatrix m, DataType type) {
        return Dense.toArray(manager, m.getData(), type);
    }

    /** An NDArray as a matrix (rows x columns, row-major). */
    static RealMatrix toMatrix(NDArray array) {
        long rows = array.getShape().get(0);
        long columns = array.getShape().size() / rows;
        double[] flat = Dense.toDoubles(array);
        RealMatrix m = new Array2DRowRealMatrix((int) rows, (int) columns);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < columns; j++) {
                m.setEntry(i, j, flat[(int) (i * columns + j)]);
            }
        }
        return m;
    }

    /** Relative Frobenius error of a against the reference b. */
    static double relativeError(RealMatrix a, RealMatrix b) {
        return a.subtract(b).getFrobeniusNorm() / b.getFrobeniusNorm();
    }

    /** Rounds every entry to float32. */
    static RealMatrix roundToFloat(RealMatrix m) {
        return new Array2DRowRealMatrix(Dense.roundToFloat(m.getData()), false);
    }

    /** The plain-Java im2col of {@link Im2colOracle}. */
    static double[][] im2col(
            double[][][][] x, int[] kernel, int[] stride, int[] padding, int[] dilation) {
        return Im2colOracle.im2col(x, kernel, stride, padding, dilation);
    }

    /** A random (N, C, H, W) tensor, rounded to float32 so that both precisions see it exactly. */
    static double[][][][] tensor(Random random, int n, int c, int h, int w) {
        double[][][][] x = new double[n][c][h][w];
        for (double[][][] example : x) {
            for (double[][] channel : example) {
                for (double[] row : channel) {
                    for (int j = 0; j < w; j++) {
                        row[j] = (float) random.nextGaussian();
                    }
                }
            }
        }
        return x;
    }

    /** Flattens a 4-D tensor, row-major. */
    static double[] flatten(double[][][][] x) {
        int n = x.length;
        int c = x[0].length;
        int h = x[0][0].length;
        int w = x[0][0][0].length;
        double[] flat = new double[n * c * h * w];
        int k = 0;
        for (double[][][] example : x) {
            for (double[][] channel : example) {
                for (double[] row : channel) {
                    System.arraycopy(row, 0, flat, k, w);
                    k += w;
                }
            }
        }
        return flat;
    }

    /** Rows with a 1 appended to each (the homogeneous coordinate). */
    static double[][] withOnes(double[][] rows) {
        double[][] out = new double[rows.length][];
        for (int r = 0; r < rows.length; r++) {
            out[r] = java.util.Arrays.copyOf(rows[r], rows[r].length + 1);
            out[r][rows[r].length] = 1;
        }
        return out;
    }

    /** The sum of the outer products of the rows, times a scale. */
    static RealMatrix scaledGram(double[][] rows, double scale) {
        RealMatrix x = new Array2DRowRealMatrix(rows, false);
        return x.transpose().multiply(x).scalarMultiply(scale);
    }
}
