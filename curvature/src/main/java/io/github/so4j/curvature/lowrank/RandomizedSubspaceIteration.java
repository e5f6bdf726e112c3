package io.github.so4j.curvature.lowrank;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import java.util.Arrays;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealVector;

/**
 * The r top left singular vectors of an a x b matrix M by randomized subspace iteration (Halko,
 * Martinsson and Tropp 2011, Algorithms 4.4 and 5.1): the products with M on M's device, the thin
 * orthonormalisations and the small SVD on the host in float64.
 *
 * <p>With k = min(r + p, a, b) (p the oversampling) and \( \Omega \) a b x k matrix of independent
 * standard Gaussians drawn on the host (row by row, {@code Random.nextGaussian}):
 *
 * <p>\( Q_0 = \operatorname{orth}(M \Omega) \)<br>
 * for \( j = 1, \dots, q \): \( \tilde Q = \operatorname{orth}(M^\top Q_{j-1}) \), \( Q_j =
 * \operatorname{orth}(M \tilde Q) \)<br>
 * \( B = Q_q^\top M = \tilde U \Sigma V^\top \), \( U = Q_q \tilde U_{:, 1..r} \), with \( \tilde U
 * \) and \( \Sigma^2 \) from the eigendecomposition of the k x k matrix \( B B^\top \), formed in
 * float64
 *
 * <p>so that \( \operatorname{range}(Q_q) = \operatorname{range}((M M^\top)^q M \Omega) \), and U
 * holds the Ritz approximations of the top left singular vectors from that subspace, with \(
 * \Sigma_{1..r} \) approximating \( \sigma_1 \ge \dots \ge \sigma_r \). Each column of U is signed
 * so that its entry of largest magnitude (the first such) is positive, so that the result does not
 * depend on the signs the factorizations choose.
 *
 * <p><b>Accuracy.</b> Write \( M = U \Sigma V^\top \) and \( V^\top \Omega = [\Omega_1; \Omega_2]
 * \) with \( \Omega_1 \) the rows of the first r singular vectors. With no oversampling (k = r) and
 * exact arithmetic, \( (M M^\top)^q M \Omega = U \Sigma^{2q+1} V^\top \Omega \), so the largest
 * principal angle \( \theta \) between the computed subspace and the top one satisfies
 *
 * <p>\( \tan\theta \le (\sigma_{r+1} / \sigma_r)^{2q+1} \, \|\Omega_2 \Omega_1^{-1}\|_2 \),
 *
 * <p>where \( \|\Omega_2 \Omega_1^{-1}\|_2 \) is the tangent of the largest angle between \(
 * \operatorname{range}(\Omega) \) and the top right singular subspace: every power iteration
 * multiplies the error by the squared gap ratio. Oversampling makes the start better conditioned
 * (Halko et al., section 10). The orthonormalisations keep rounding errors at the level of the
 * products' precision (the products run in M's dtype); they do not change the subspaces.
 *
 * <p><b>Why the thin factorizations run on the host.</b> They are Householder QR in float64 (one
 * counted read of an a x k or b x k panel each, {@link HostReads}), which is unconditionally
 * stable, also for rank-deficient panels (a gradient of a batch smaller than k has rank below k);
 * the device alternatives are Gram–Schmidt with a host read per vector ({@code
 * Vectors.orthonormalRows}, 2k reads per panel, and it refuses dependent vectors) or a Cholesky QR,
 * which fails on rank-deficient panels. Their host work, \( O((a + b) k^2) \) flops, is small next
 * to the device products, \( O(a b k) \) each, for k well below a and b.
 *
 * <p><b>Cost</b>: 2q + 2 products with M, \( 2 a b k (2q + 2) \) flops on the device; 2q + 2
 * counted reads (panels of a k or b k numbers, and B); \( O((2q + 1)(a + b) k^2 + b k^2 + k^3) \)
 * flops on the host (for a 256 x 784 float32 matrix at r = 64, q = 2, p = 8: about 45 ms on a
 * 2-core CPU with the C1 compiler, against 75 ms with Commons Math's SVD of B). Memory: a few a x k
 * and b x k panels for the duration of the call.
 *
 * @see <a href="https://arxiv.org/abs/0909.4061">Halko, Martinsson and Tropp, Finding structure
 *     with randomness (2011)</a>
 */
public final class RandomizedSubspaceIteration {

    /**
     * The default number of power iterations q (Halko et al.: 1 or 2 for slowly decaying spectra).
     */
    public static final int DEFAULT_POWER_ITERATIONS = 2;

    /** The default oversampling p (Halko et al.: 5 to 10 is usually enough). */
    public static final int DEFAULT_OVERSAMPLING = 8;

    private final int powerIterations;
    private final int oversampling;

    /** Creates the iteration with the default q = 2 and p = 8. */
    public RandomizedSubspaceIteration() {
        this(DEFAULT_POWER_ITERATIONS, DEFAULT_OVERSAMPLING);
    }

    /**
     * Creates an iteration.
     *
     * @param powerIterations q, at least 0
     * @param oversampling p, at least 0
     * @throws IllegalArgumentException naming the argument and its value if one is negative
     */
    public RandomizedSubspaceIteration(int powerIterations, int oversampling) {
        if (powerIterations < 0) {
            throw new IllegalArgumentException(
                    "powerIterations must be at least 0, but was " + powerIterations);
        }
        if (oversampling < 0) {
            throw new IllegalArgumentException(
                    "oversampling must be at least 0, but was " + oversampling);
        }
        this.powerIterations = powerIterations;
        this.oversampling = oversampling;
    }

    /**
     * The top left singular vectors and their singular values.
     *
     * @param vectors U, shape (a, r), orthonormal columns, in M's dtype on M's device
     * @param singularValues the r Ritz values, descending
     */
    public record Result(NDArray vectors, double[] singularValues) {}

    /**
     * Returns the r top left singular vectors of a matrix.
     *
     * @param matrix M, shape (a, b), float32 or float64, finite. Not modified.
     * @param rank r, from 1 to min(a, b)
     * @param random the source of the Gaussian start
     * @param owner the manager of the vectors (on M's device)
     * @return U and the Ritz values
     * @throws IllegalArgumentException naming the argument if the shape, dtype or rank is invalid
     */
    public Result leftSingularVectors(NDArray matrix, int rank, Random random, NDManager owner) {
        Shape shape = matrix.getShape();
        if (shape.dimension() != 2) {
            throw new IllegalArgumentException("matrix must have shape (a, b), but had " + shape);
        }
        DataType type = matrix.getDataType();
        if (type != DataType.FLOAT32 && type != DataType.FLOAT64) {
            throw new IllegalArgumentException(
                    "matrix must be float32 or float64, but was " + type);
        }
        int a = Math.toIntExact(shape.get(0));
        int b = Math.toIntExact(shape.get(1));
        if (rank < 1 || rank > Math.min(a, b)) {
            throw new IllegalArgumentException(
                    "rank must be from 1 to " + Math.min(a, b) + ", but was " + rank);
        }
        int k = Math.min(rank + oversampling, Math.min(a, b));
        try (Workspace ws = new Workspace(owner, matrix)) {
            NDManager scope = ws.manager();
            double[] omega = new double[b * k];
            for (int i = 0; i < omega.length; i++) {
                omega[i] = random.nextGaussian();
            }
            NDArray transposed = matrix.transpose();
            double[] q =
                    orthonormalColumns(read(matrix.matMul(upload(scope, omega, b, k, type))), a, k);
            for (int j = 0; j < powerIterations; j++) {
                NDArray z = transposed.matMul(upload(scope, q, a, k, type));
                double[] zq = orthonormalColumns(read(z), b, k);
                q = orthonormalColumns(read(matrix.matMul(upload(scope, zq, b, k, type))), a, k);
            }
            // B = Q^T M (k x b); its left singular vectors are the eigenvectors of B B^T, formed
            // in float64 on the host: k^2 b / 2 multiply-adds and a k x k eigendecomposition,
            // where an SVD of B would cost several times more
            double[] projected = read(upload(scope, q, a, k, type).transpose().matMul(matrix));
            double[][] gram = new double[k][k];
            for (int i = 0; i < k; i++) {
                for (int j = 0; j <= i; j++) {
                    double sum = 0;
                    int ri = i * b;
                    int rj = j * b;
                    for (int c = 0; c < b; c++) {
                        sum += projected[ri + c] * projected[rj + c];
                    }
                    gram[i][j] = sum;
                    gram[j][i] = sum;
                }
            }
            EigenDecomposition eigen =
                    new EigenDecomposition(new Array2DRowRealMatrix(gram, false));
            double[] eigenvalues = eigen.getRealEigenvalues();
            Integer[] order = new Integer[k];
            for (int i = 0; i < k; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (x, y) -> Double.compare(eigenvalues[y], eigenvalues[x]));
            double[] u = new double[a * rank];
            double[] values = new double[rank];
            for (int c = 0; c < rank; c++) {
                RealVector w = eigen.getEigenvector(order[c]);
                values[c] = Math.sqrt(Math.max(0, eigenvalues[order[c]]));
                for (int i = 0; i < a; i++) {
                    double sum = 0;
                    for (int l = 0; l < k; l++) {
                        sum += q[i * k + l] * w.getEntry(l);
                    }
                    u[i * rank + c] = sum;
                }
            }
            signByLargestEntry(u, a, rank);
            NDArray vectors = upload(scope, u, a, rank, type);
            return new Result(ws.keep(vectors, owner), values);
        }
    }

    /**
     * Returns the number of power iterations q.
     *
     * @return q
     */
    public int powerIterations() {
        return powerIterations;
    }

    /**
     * Returns the oversampling p.
     *
     * @return p
     */
    public int oversampling() {
        return oversampling;
    }

    private static double[] read(NDArray array) {
        return HostReads.toDoubles(array);
    }

    private static NDArray upload(
            NDManager manager, double[] values, int rows, int columns, DataType type) {
        NDArray wide = manager.create(values, new Shape(rows, columns));
        return type == DataType.FLOAT64 ? wide : wide.toType(type, false);
    }

    /**
     * Returns the Q factor of the thin Householder QR of a rows x columns matrix (rows &ge;
     * columns), row-major in and out, in float64: orthonormal columns spanning the input's columns
     * when they are independent, and orthonormal whatever the input (a column already zero below
     * its diagonal takes the identity reflector, as LAPACK's {@code dlarfg} does).
     */
    static double[] orthonormalColumns(double[] values, int rows, int columns) {
        double[][] a = new double[columns][rows];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < columns; j++) {
                a[j][i] = values[i * columns + j];
            }
        }
        double[][] v = new double[columns][];
        double[] tau = new double[columns];
        for (int j = 0; j < columns; j++) {
            double[] x = a[j];
            double tail = 0;
            for (int i = j + 1; i < rows; i++) {
                tail += x[i] * x[i];
            }
            double[] u = new double[rows];
            u[j] = 1;
            v[j] = u;
            if (tail == 0) {
                continue;
            }
            double alpha = x[j];
            double beta = -Math.copySign(Math.sqrt(alpha * alpha + tail), alpha);
            tau[j] = (beta - alpha) / beta;
            double scale = 1 / (alpha - beta);
            for (int i = j + 1; i < rows; i++) {
                u[i] = x[i] * scale;
            }
            for (int c = j + 1; c < columns; c++) {
                reflect(a[c], u, tau[j], j, rows);
            }
        }
        // Q = H_0 ... H_{c-1} applied to the first columns of the identity, last reflector first
        double[][] q = new double[columns][rows];
        for (int c = 0; c < columns; c++) {
            q[c][c] = 1;
            for (int j = Math.min(c, columns - 1); j >= 0; j--) {
                reflect(q[c], v[j], tau[j], j, rows);
            }
        }
        double[] out = new double[rows * columns];
        for (int i = 0; i < rows; i++) {
            for (int c = 0; c < columns; c++) {
                out[i * columns + c] = q[c][i];
            }
        }
        return out;
    }

    /** \( y \leftarrow (I - \tau u u^\top) y \), u zero above row {@code from}. */
    private static void reflect(double[] y, double[] u, double tau, int from, int rows) {
        if (tau == 0) {
            return;
        }
        double dot = 0;
        for (int i = from; i < rows; i++) {
            dot += u[i] * y[i];
        }
        dot *= tau;
        for (int i = from; i < rows; i++) {
            y[i] -= dot * u[i];
        }
    }

    /** Flips each column so that its first entry of largest magnitude is positive. */
    static void signByLargestEntry(double[] u, int rows, int columns) {
        for (int c = 0; c < columns; c++) {
            int best = 0;
            for (int i = 1; i < rows; i++) {
                if (Math.abs(u[i * columns + c]) > Math.abs(u[best * columns + c])) {
                    best = i;
                }
            }
            if (u[best * columns + c] < 0) {
                for (int i = 0; i < rows; i++) {
                    u[i * columns + c] = -u[i * columns + c];
                }
            }
        }
    }
}
