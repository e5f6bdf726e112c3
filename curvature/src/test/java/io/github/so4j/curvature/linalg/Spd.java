package io.github.so4j.curvature.linalg;

import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;

/** Symmetric positive definite test matrices and their inverse roots in float64. */
final class Spd {

    private Spd() {}

    /**
     * \( Q \operatorname{diag}(\lambda) Q^\top \) with Q a random orthogonal matrix (QR of a
     * Gaussian matrix) and \( \lambda \) log-spaced from 1 down to \( 1 / \kappa \).
     */
    static double[][] withConditionNumber(int n, double kappa, Random random) {
        RealMatrix g = new Array2DRowRealMatrix(n, n);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                g.setEntry(i, j, random.nextGaussian());
            }
        }
        RealMatrix q = new QRDecomposition(g).getQ();
        double[] lambda = new double[n];
        for (int i = 0; i < n; i++) {
            lambda[i] = n == 1 ? 1 : Math.pow(kappa, -(double) i / (n - 1));
        }
        RealMatrix a =
                q.multiply(MatrixUtils.createRealDiagonalMatrix(lambda)).multiply(q.transpose());
        return symmetric(a.getData());
    }

    /** \( (a + a^\top) / 2 \), so that Commons Math takes its symmetric path. */
    static double[][] symmetric(double[][] a) {
        int n = a.length;
        double[][] s = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                s[i][j] = (a[i][j] + a[j][i]) / 2;
            }
        }
        return s;
    }

    /** \( (A + \epsilon I)^{-1/p} \) from Commons Math's eigendecomposition, in float64. */
    static double[][] inverseRoot(double[][] a, int p, double epsilon) {
        EigenDecomposition eigen = new EigenDecomposition(new Array2DRowRealMatrix(a));
        double[] lambda = eigen.getRealEigenvalues();
        double[] mu = new double[lambda.length];
        for (int i = 0; i < mu.length; i++) {
            mu[i] = Math.pow(lambda[i] + epsilon, -1.0 / p);
        }
        RealMatrix v = eigen.getV();
        return v.multiply(MatrixUtils.createRealDiagonalMatrix(mu))
                .multiply(v.transpose())
                .getData();
    }

    /** \( \|a - b\|_F / \|b\|_F \). */
    static double relativeError(double[] a, double[][] b) {
        int n = b.length;
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double d = a[i * n + j] - b[i][j];
                diff += d * d;
                norm += b[i][j] * b[i][j];
            }
        }
        return Math.sqrt(diff / norm);
    }

    /** Row-major copy. */
    static double[] flatten(double[][] a) {
        int n = a.length;
        double[] flat = new double[n * n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(a[i], 0, flat, i * n, n);
        }
        return flat;
    }
}
