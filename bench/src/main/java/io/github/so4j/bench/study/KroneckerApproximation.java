package io.github.so4j.bench.study;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.RealMatrix;

/**
 * How well Kronecker products approximate a full-matrix gradient statistic: the measurements of "A
 * New Perspective on Shampoo's Preconditioner" (Morwani et al., ICLR 2025), in float64 on the host.
 *
 * <p>For an m x n weight with gradients \( G_t \), the full-matrix AdaGrad statistic is \( H =
 * \sum_t \operatorname{vec}(G_t) \operatorname{vec}(G_t)^\top \) (mn x mn, row-major vec, so that
 * \( (A \otimes B) \operatorname{vec}(G) = \operatorname{vec}(A G B^\top) \)). Shampoo's factors
 * are its partial traces, \( L = \sum_t G_t G_t^\top \) and \( R = \sum_t G_t^\top G_t \). The
 * approximations compared, each by its cosine similarity \( \langle H, K \rangle_F / (\|H\|_F
 * \|K\|_F) \) (invariant to the scale of K):
 *
 * <ul>
 *   <li>Shampoo, \( K = (L \otimes R)^{1/2} = L^{1/2} \otimes R^{1/2} \): the approximation the
 *       original paper's bound is stated for (Shampoo preconditions with its inverse square root).
 *   <li>The optimal Kronecker product, \( \arg\min_{A, B} \|H - A \otimes B\|_F \): the top
 *       singular pair of the rearrangement \( \mathcal{R}(H)_{(i,k),(j,l)} = H_{(i,j),(k,l)} \)
 *       (Van Loan and Pitsianis, 1993), found by power iteration: \( A \leftarrow \mathcal{R}(H)
 *       \operatorname{vec}(B) \), \( B \leftarrow \mathcal{R}(H)^\top \operatorname{vec}(A) \),
 *       normalized. Its cosine is \( \sigma_1(\mathcal{R}(H)) / \|H\|_F \), the largest any
 *       Kronecker product reaches.
 *   <li>One step of that power iteration from the identity, \( K = L \otimes R \) ("Shampoo
 *       squared"): \( \mathcal{R}(H) \operatorname{vec}(I) = \operatorname{vec}(L) \) and \(
 *       \mathcal{R}(H)^\top \operatorname{vec}(I) = \operatorname{vec}(R) \), the paper's
 *       observation.
 * </ul>
 *
 * <p><b>Cost</b>: O((mn)<sup>2</sup>) per power-iteration step and for each cosine; memory
 * (mn)<sup>2</sup> doubles for H.
 *
 * @see <a href="https://arxiv.org/abs/2406.17748">paper</a>
 */
public final class KroneckerApproximation {

    /** The most power-iteration steps for the optimal Kronecker product. */
    public static final int MAX_POWER_ITERATIONS = 1000;

    /** The relative change of \( \sigma_1 \) below which the power iteration stops. */
    public static final double POWER_TOLERANCE = 1e-13;

    private final int rows;
    private final int columns;
    private final double[][] full;
    private long gradients;

    /**
     * The cosine similarities to H of the three approximations.
     *
     * @param shampoo of \( (L \otimes R)^{1/2} \)
     * @param optimal of the optimal Kronecker product
     * @param oneStep of \( L \otimes R \), one power-iteration step from the identity
     * @param powerIterations the steps the power iteration took
     */
    public record Cosines(double shampoo, double optimal, double oneStep, int powerIterations) {}

    /**
     * Starts an empty statistic for an m x n weight.
     *
     * @param rows m, at least 1
     * @param columns n, at least 1
     * @throws IllegalArgumentException if a size is below 1 or mn exceeds 4096 (H would need more
     *     than 128 MiB)
     */
    public KroneckerApproximation(int rows, int columns) {
        if (rows < 1 || columns < 1) {
            throw new IllegalArgumentException(
                    "rows and columns must be at least 1, but were " + rows + " and " + columns);
        }
        if ((long) rows * columns > 4096) {
            throw new IllegalArgumentException(
                    "rows * columns must be at most 4096, but was " + (long) rows * columns);
        }
        this.rows = rows;
        this.columns = columns;
        this.full = new double[rows * columns][rows * columns];
    }

    /**
     * Adds one gradient: \( H \mathrel{+}= \operatorname{vec}(G) \operatorname{vec}(G)^\top \).
     *
     * @param gradient G, m x n row-major (mn values). Not modified.
     */
    public void add(double[] gradient) {
        int size = rows * columns;
        if (gradient.length != size) {
            throw new IllegalArgumentException(
                    "gradient must have " + size + " values, but had " + gradient.length);
        }
        for (int a = 0; a < size; a++) {
            double ga = gradient[a];
            if (ga == 0) {
                continue;
            }
            double[] row = full[a];
            for (int b = 0; b < size; b++) {
                row[b] += ga * gradient[b];
            }
        }
        gradients++;
    }

    /**
     * Returns the number of gradients added.
     *
     * @return the count
     */
    public long gradients() {
        return gradients;
    }

    /**
     * Returns \( L = \sum_t G_t G_t^\top \), the partial trace of H over the columns.
     *
     * @return L, m x m
     */
    public double[][] left() {
        double[][] l = new double[rows][rows];
        for (int i = 0; i < rows; i++) {
            for (int k = 0; k < rows; k++) {
                double s = 0;
                for (int j = 0; j < columns; j++) {
                    s += full[i * columns + j][k * columns + j];
                }
                l[i][k] = s;
            }
        }
        return l;
    }

    /**
     * Returns \( R = \sum_t G_t^\top G_t \), the partial trace of H over the rows.
     *
     * @return R, n x n
     */
    public double[][] right() {
        double[][] r = new double[columns][columns];
        for (int j = 0; j < columns; j++) {
            for (int l = 0; l < columns; l++) {
                double s = 0;
                for (int i = 0; i < rows; i++) {
                    s += full[i * columns + j][i * columns + l];
                }
                r[j][l] = s;
            }
        }
        return r;
    }

    /**
     * Returns \( \langle H, A \otimes B \rangle_F = \sum H_{(i,j),(k,l)} A_{ik} B_{jl} \).
     *
     * @param a A, m x m
     * @param b B, n x n
     * @return the inner product
     */
    public double innerWithKronecker(double[][] a, double[][] b) {
        double sum = 0;
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < columns; j++) {
                double[] row = full[i * columns + j];
                for (int k = 0; k < rows; k++) {
                    double aik = a[i][k];
                    if (aik == 0) {
                        continue;
                    }
                    double partial = 0;
                    for (int l = 0; l < columns; l++) {
                        partial += row[k * columns + l] * b[j][l];
                    }
                    sum += aik * partial;
                }
            }
        }
        return sum;
    }

    /**
     * Returns \( \|H\|_F \).
     *
     * @return the Frobenius norm of H
     */
    public double norm() {
        double sum = 0;
        for (double[] row : full) {
            for (double v : row) {
                sum += v * v;
            }
        }
        return Math.sqrt(sum);
    }

    /**
     * Returns the cosine similarity of H and \( A \otimes B \).
     *
     * @param a A, m x m
     * @param b B, n x n
     * @return \( \langle H, A \otimes B \rangle_F / (\|H\|_F \|A\|_F \|B\|_F) \)
     */
    public double cosine(double[][] a, double[][] b) {
        return innerWithKronecker(a, b) / (norm() * frobenius(a) * frobenius(b));
    }

    /**
     * Computes the three cosine similarities of the current statistic.
     *
     * @return the cosines
     * @throws IllegalStateException if no gradient has been added
     */
    public Cosines cosines() {
        if (gradients == 0) {
            throw new IllegalStateException("no gradient has been added");
        }
        double[][] l = left();
        double[][] r = right();
        double shampoo = cosine(squareRoot(l), squareRoot(r));
        double oneStep = cosine(l, r);
        double[][] a = l;
        double[][] b = identity(columns);
        double sigma = 0;
        int iterations = 0;
        while (iterations < MAX_POWER_ITERATIONS) {
            iterations++;
            b = normalized(applyTransposed(a));
            a = applyRearranged(b);
            double next = frobenius(a);
            a = normalized(a);
            boolean converged = Math.abs(next - sigma) <= POWER_TOLERANCE * next;
            sigma = next;
            if (converged) {
                break;
            }
        }
        return new Cosines(shampoo, sigma / norm(), oneStep, iterations);
    }

    /**
     * \( A_{ik} = \sum_{jl} H_{(i,j),(k,l)} B_{jl} \): \( \mathcal{R}(H) \operatorname{vec}(B) \).
     */
    private double[][] applyRearranged(double[][] b) {
        double[][] a = new double[rows][rows];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < columns; j++) {
                double[] row = full[i * columns + j];
                for (int k = 0; k < rows; k++) {
                    double partial = 0;
                    for (int l = 0; l < columns; l++) {
                        partial += row[k * columns + l] * b[j][l];
                    }
                    a[i][k] += partial;
                }
            }
        }
        return a;
    }

    /**
     * \( B_{jl} = \sum_{ik} H_{(i,j),(k,l)} A_{ik} \): \( \mathcal{R}(H)^\top \operatorname{vec}(A)
     * \).
     */
    private double[][] applyTransposed(double[][] a) {
        double[][] b = new double[columns][columns];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < columns; j++) {
                double[] row = full[i * columns + j];
                for (int k = 0; k < rows; k++) {
                    double aik = a[i][k];
                    for (int l = 0; l < columns; l++) {
                        b[j][l] += aik * row[k * columns + l];
                    }
                }
            }
        }
        return b;
    }

    /**
     * Returns the principal square root of a symmetric positive semi-definite matrix (negative
     * rounding-level eigenvalues taken as zero), by eigendecomposition.
     *
     * @param a the matrix
     * @return \( A^{1/2} \)
     */
    static double[][] squareRoot(double[][] a) {
        RealMatrix m = new Array2DRowRealMatrix(a);
        EigenDecomposition eigen = new EigenDecomposition(m.add(m.transpose()).scalarMultiply(0.5));
        double[] lambda = eigen.getRealEigenvalues();
        double[] root = new double[lambda.length];
        for (int i = 0; i < root.length; i++) {
            root[i] = Math.sqrt(Math.max(lambda[i], 0));
        }
        RealMatrix q = eigen.getV();
        return q.multiply(MatrixUtils.createRealDiagonalMatrix(root))
                .multiply(q.transpose())
                .getData();
    }

    private static double[][] identity(int n) {
        double[][] eye = new double[n][n];
        for (int i = 0; i < n; i++) {
            eye[i][i] = 1;
        }
        return eye;
    }

    private static double frobenius(double[][] a) {
        double sum = 0;
        for (double[] row : a) {
            for (double v : row) {
                sum += v * v;
            }
        }
        return Math.sqrt(sum);
    }

    private static double[][] normalized(double[][] a) {
        double norm = frobenius(a);
        double[][] b = new double[a.length][];
        for (int i = 0; i < a.length; i++) {
            b[i] = new double[a[i].length];
            for (int j = 0; j < a[i].length; j++) {
                b[i][j] = a[i][j] / norm;
            }
        }
        return b;
    }
}
