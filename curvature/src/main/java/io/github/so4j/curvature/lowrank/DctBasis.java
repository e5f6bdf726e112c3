package io.github.so4j.curvature.lowrank;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The orthonormal DCT-II basis of \( \mathbb{R}^n \) as the columns of an n x n matrix, in closed
 * form:
 *
 * <p>\( Q_{jk} = c_k \cos\left( \frac{\pi (2j + 1) k}{2n} \right) \), \( c_0 = \sqrt{1/n} \), \(
 * c_k = \sqrt{2/n} \) for \( k \ge 1 \), \( j, k = 0, \dots, n - 1 \).
 *
 * <p>Column k is the k-th cosine of the orthonormal DCT-II, so \( Q^\top Q = I \), and \( x^\top Q
 * \) is the orthonormal DCT-II of a row vector x ({@code scipy.fft.dct(x, norm="ortho")}): for a
 * matrix G with n columns, \( S = G Q \) holds the transforms of its rows.
 *
 * <p><b>Cost</b>: \( n^2 \) cosines on the host in float64, one copy to the device; \( n^2 \)
 * numbers of memory.
 */
public final class DctBasis {

    private DctBasis() {}

    /**
     * Returns the basis as a float64 matrix on the host.
     *
     * @param n the size, at least 1
     * @return Q, row-major: {@code q[j][k]}
     * @throws IllegalArgumentException if n is less than 1
     */
    public static double[][] matrix(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("n must be at least 1, but was " + n);
        }
        double[][] q = new double[n][n];
        double first = Math.sqrt(1.0 / n);
        double rest = Math.sqrt(2.0 / n);
        for (int j = 0; j < n; j++) {
            for (int k = 0; k < n; k++) {
                q[j][k] = (k == 0 ? first : rest) * Math.cos(Math.PI * (2 * j + 1) * k / (2.0 * n));
            }
        }
        return q;
    }

    /**
     * Returns the basis on a manager's device.
     *
     * @param manager the manager of the result
     * @param n the size, at least 1
     * @param type float32 or float64
     * @return Q, shape (n, n), computed in float64 and rounded once to {@code type}
     * @throws IllegalArgumentException if n is less than 1 or the type is not floating point
     */
    public static NDArray create(NDManager manager, int n, DataType type) {
        if (type != DataType.FLOAT32 && type != DataType.FLOAT64) {
            throw new IllegalArgumentException("type must be float32 or float64, but was " + type);
        }
        double[][] q = matrix(n);
        double[] flat = new double[n * n];
        for (int j = 0; j < n; j++) {
            System.arraycopy(q[j], 0, flat, j * n, n);
        }
        NDArray wide = manager.create(flat, new Shape(n, n));
        if (type == DataType.FLOAT64) {
            return wide;
        }
        NDArray narrow = wide.toType(type, false);
        wide.close();
        return narrow;
    }
}
