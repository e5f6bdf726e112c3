package io.github.so4j.curvature.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link EigenInverseRoot} against matrices with closed-form roots: \( A = H \operatorname{diag}(
 * \lambda) H \) with H a Householder reflection (orthogonal and symmetric, exact in closed form),
 * so that \( (A + \epsilon I)^{-1/p} = H \operatorname{diag}((\lambda + \epsilon)^{-1/p}) H \).
 * Tolerance: \( \max(\kappa / p, 1) \gamma_n \) in float64, as for the device iteration (the
 * decomposition is backward stable).
 */
class EigenInverseRootTest {

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private static RealMatrix householder(int n, Random random) {
        double[] v = new double[n];
        double norm = 0;
        for (int i = 0; i < n; i++) {
            v[i] = random.nextGaussian();
            norm += v[i] * v[i];
        }
        RealMatrix vv = MatrixUtils.createColumnRealMatrix(v);
        return MatrixUtils.createRealIdentityMatrix(n)
                .subtract(vv.multiply(vv.transpose()).scalarMultiply(2 / norm));
    }

    @Test
    void batchMatchesTheClosedForm() {
        int n = 40;
        int p = 4;
        double relative = 1e-6;
        double[][] spectra = new double[3][n];
        for (int i = 0; i < n; i++) {
            spectra[0][i] = Math.pow(1e3, -(double) i / (n - 1));
            spectra[1][i] = i < 10 ? 5.0 / (i + 1) : 0; // rank 10: the ridge decides the rest
            spectra[2][i] = 2;
        }
        Random random = new Random(3);
        RealMatrix[] h = new RealMatrix[3];
        double[] flat = new double[3 * n * n];
        for (int b = 0; b < 3; b++) {
            h[b] = householder(n, random);
            RealMatrix a =
                    h[b].multiply(MatrixUtils.createRealDiagonalMatrix(spectra[b])).multiply(h[b]);
            System.arraycopy(Spd.flatten(Spd.symmetric(a.getData())), 0, flat, b * n * n, n * n);
        }
        NDArray batch = Dense.toArray(manager, flat, DataType.FLOAT64).reshape(3, n, n);
        InverseRoots roots = new EigenInverseRoot().compute(batch, p, relative, manager);
        assertEquals(DataType.FLOAT64, roots.roots().getDataType());
        double[] all = Dense.toDoubles(roots.roots());
        for (int b = 0; b < 3; b++) {
            double top = spectra[b][0];
            double epsilon = relative * top;
            assertEquals(epsilon, roots.epsilons()[b], 1e-14 * epsilon);
            double[] mu = new double[n];
            double smallest = Double.POSITIVE_INFINITY;
            for (int i = 0; i < n; i++) {
                mu[i] = Math.pow(spectra[b][i] + epsilon, -1.0 / p);
                smallest = Math.min(smallest, spectra[b][i] + epsilon);
            }
            double[][] expected =
                    h[b].multiply(MatrixUtils.createRealDiagonalMatrix(mu))
                            .multiply(h[b])
                            .getData();
            double[] part = java.util.Arrays.copyOfRange(all, b * n * n, (b + 1) * n * n);
            double kappa = (top + epsilon) / smallest;
            double tolerance = Math.max(kappa / p, 1) * n * Tolerances.FLOAT64_UNIT_ROUNDOFF * 1.01;
            double error = Spd.relativeError(part, expected);
            assertTrue(error < tolerance, "matrix " + b + ": " + error + " > " + tolerance);
            assertTrue(roots.residuals()[b] < tolerance, "residual " + roots.residuals()[b]);
        }
    }

    /**
     * A rounding-level negative eigenvalue is raised to zero before the ridge, so the root stays
     * finite and is that of the nearest positive semi-definite matrix, whose residual is at
     * rounding level.
     */
    @Test
    void negativeEigenvaluesAreRaisedToZero() {
        double[][] a = {{1, 0, 0}, {0, 0.5, 0}, {0, 0, -5e-7}};
        EigenInverseRoot.Root root = EigenInverseRoot.of(new Array2DRowRealMatrix(a), 2, 1e-6);
        assertEquals(1e-6, root.epsilon(), 1e-20);
        assertEquals(Math.pow(1e-6, -0.5), root.root().getEntry(2, 2), 1e-9);
        assertEquals(Math.pow(0.5 + 1e-6, -0.5), root.root().getEntry(1, 1), 1e-15);
        assertTrue(root.residual() < 4 * Tolerances.FLOAT64_UNIT_ROUNDOFF, "" + root.residual());
    }

    @Test
    void nonFiniteInputGivesNanRootsAndResidual() {
        double[][] a = {{1, Double.NaN}, {Double.NaN, 1}};
        EigenInverseRoot.Root root = EigenInverseRoot.of(new Array2DRowRealMatrix(a), 4, 1e-6);
        assertTrue(Double.isNaN(root.residual()));
        assertTrue(Double.isNaN(root.root().getEntry(0, 0)));
    }

    /** The batch goes to the host in one counted read ({@link HostReads}), whatever its size. */
    @Test
    void aBatchIsOneCountedRead() {
        NDArray batch = manager.eye(5).mul(3).expandDims(0).repeat(0, 4);
        long before = HostReads.count();
        new EigenInverseRoot().compute(batch, 2, 1e-6, manager);
        assertEquals(1, HostReads.count() - before);
    }

    @Test
    void float32InputGivesFloat32Roots() {
        NDArray a = manager.eye(3).mul(16).expandDims(0);
        InverseRoots roots = new EigenInverseRoot().compute(a, 4, 1e-6, manager);
        assertEquals(DataType.FLOAT32, roots.roots().getDataType());
        assertEquals(0.5f, roots.roots().getFloat(0, 1, 1), 1e-6f);
    }
}
