package io.github.so4j.curvature.subspace;

import io.github.so4j.curvature.testing.Dense;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;

/** A symmetric matrix \( U \Lambda U^\top \) with chosen eigenvalues and a random orthogonal U. */
final class KnownSpectrum {

    final double[] eigenvalues;
    final RealMatrix eigenvectors;
    final RealMatrix matrix;

    KnownSpectrum(double[] eigenvalues, Random random) {
        int d = eigenvalues.length;
        this.eigenvalues = eigenvalues.clone();
        this.eigenvectors =
                new QRDecomposition(new Array2DRowRealMatrix(Dense.gaussian(random, d, d, 1)))
                        .getQ();
        RealMatrix a =
                eigenvectors
                        .multiply(MatrixUtils.createRealDiagonalMatrix(eigenvalues))
                        .multiply(eigenvectors.transpose());
        // exact symmetry, so that the operator is symmetric to the last bit
        this.matrix = a.add(a.transpose()).scalarMultiply(0.5);
    }

    /** Eigenvector i as an array. */
    double[] eigenvector(int i) {
        return eigenvectors.getColumn(i);
    }

    double[][] data() {
        return matrix.getData();
    }

    double norm() {
        double max = 0;
        for (double value : eigenvalues) {
            max = Math.max(max, Math.abs(value));
        }
        return max;
    }
}
