package io.github.so4j.curvature.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;

/** Double-precision helpers for oracles: random data, conversions, norms, dense inverses. */
public final class Dense {

    private Dense() {}

    /**
     * Returns a matrix of independent Gaussians.
     *
     * @param random the generator
     * @param rows the number of rows
     * @param columns the number of columns
     * @param scale the standard deviation
     * @return the matrix
     */
    public static double[][] gaussian(Random random, int rows, int columns, double scale) {
        double[][] a = new double[rows][columns];
        for (double[] row : a) {
            for (int j = 0; j < columns; j++) {
                row[j] = scale * random.nextGaussian();
            }
        }
        return a;
    }

    /**
     * Copies a matrix into an NDArray.
     *
     * <p>Created with its shape rather than reshaped from a vector: DJL's PyTorch engine wraps the
     * host buffer of a created array without copying it, and a reshaped view does not keep that
     * buffer alive. A view that outlives the created array (attached to another manager, say) reads
     * freed memory once the buffer is collected.
     *
     * @param manager the manager
     * @param a the matrix
     * @param type float32 or float64
     * @return an array of shape (rows, columns)
     */
    public static NDArray toArray(NDManager manager, double[][] a, DataType type) {
        int rows = a.length;
        int columns = a[0].length;
        double[] flat = new double[rows * columns];
        for (int i = 0; i < rows; i++) {
            System.arraycopy(a[i], 0, flat, i * columns, columns);
        }
        NDArray array = manager.create(flat, new Shape(rows, columns));
        return type == DataType.FLOAT64 ? array : array.toType(type, false);
    }

    /**
     * Copies a vector into an NDArray.
     *
     * @param manager the manager
     * @param v the vector
     * @param type float32 or float64
     * @return an array of shape (n)
     */
    public static NDArray toArray(NDManager manager, double[] v, DataType type) {
        NDArray array = manager.create(v);
        return type == DataType.FLOAT64 ? array : array.toType(type, false);
    }

    /**
     * Reads an NDArray into a double vector (any shape, row-major).
     *
     * @param array the array. Not modified.
     * @return its elements as doubles
     */
    public static double[] toDoubles(NDArray array) {
        return array.toType(DataType.FLOAT64, false).toDoubleArray();
    }

    /**
     * Rounds every entry to float32 and back, so that an oracle sees exactly the data a float32
     * computation sees.
     *
     * @param a the matrix
     * @return the rounded copy
     */
    public static double[][] roundToFloat(double[][] a) {
        double[][] b = new double[a.length][];
        for (int i = 0; i < a.length; i++) {
            b[i] = roundToFloat(a[i]);
        }
        return b;
    }

    /**
     * Rounds every entry to float32 and back.
     *
     * @param v the vector
     * @return the rounded copy
     */
    public static double[] roundToFloat(double[] v) {
        double[] w = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            w[i] = (float) v[i];
        }
        return w;
    }

    /**
     * Returns \( \|a - b\|_2 / \|b\|_2 \).
     *
     * @param a the computed vector
     * @param b the reference
     * @return the relative error
     */
    public static double relativeError(double[] a, double[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("lengths " + a.length + " and " + b.length);
        }
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < a.length; i++) {
            diff += (a[i] - b[i]) * (a[i] - b[i]);
            norm += b[i] * b[i];
        }
        return Math.sqrt(diff / norm);
    }

    /**
     * Returns the damped empirical Fisher \( \lambda I + \frac{1}{m} \sum_i g_i g_i^\top \) of the
     * rows of {@code g} restricted to the coordinates [from, to).
     *
     * @param g the m x d gradients
     * @param from the first coordinate
     * @param to one past the last coordinate
     * @param damping \( \lambda \)
     * @return the (to - from) square matrix
     */
    public static RealMatrix dampedFisher(double[][] g, int from, int to, double damping) {
        int n = to - from;
        int m = g.length;
        RealMatrix f = new Array2DRowRealMatrix(n, n);
        for (double[] row : g) {
            RealVector v = new ArrayRealVector(java.util.Arrays.copyOfRange(row, from, to));
            f = f.add(v.outerProduct(v).scalarMultiply(1.0 / m));
        }
        for (int i = 0; i < n; i++) {
            f.addToEntry(i, i, damping);
        }
        return f;
    }

    /**
     * Returns the inverse of a square matrix by LU decomposition.
     *
     * @param a the matrix
     * @return its inverse
     */
    public static RealMatrix inverse(RealMatrix a) {
        return new LUDecomposition(a).getSolver().getInverse();
    }
}
