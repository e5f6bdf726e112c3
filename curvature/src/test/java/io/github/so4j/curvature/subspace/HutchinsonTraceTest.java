package io.github.so4j.curvature.subspace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.subspace.HutchinsonTrace.TraceEstimate;
import io.github.so4j.curvature.testing.Dense;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link HutchinsonTrace} against the dense trace, d = 300. The oracle's variance is known in
 * closed form, \( \operatorname{Var}[z^\top A z] = 2(\|A\|_F^2 - \sum_i A_{ii}^2) \), so the bounds
 * are statistical, not tuned: the estimate within 4 standard deviations of the mean (a normal tail
 * of 6e-5), the sample standard error within 30% of the true one (for n = 200 the sample standard
 * deviation has a relative spread of about \( 1/\sqrt{2n} = 5\% \)).
 */
class HutchinsonTraceTest {

    private static final int D = 300;

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    @Test
    void estimateAndStandardErrorMatchTheDenseTraceAndTheKnownVariance() {
        Random random = new Random(7);
        double[] values = new double[D];
        for (int i = 0; i < D; i++) {
            values[i] = i < 20 ? 50.0 / (i + 1) : random.nextGaussian();
        }
        KnownSpectrum known = new KnownSpectrum(values, random);
        double[][] a = known.data();
        double trace = 0;
        double frobenius = 0;
        double diagonal = 0;
        for (int i = 0; i < D; i++) {
            trace += a[i][i];
            diagonal += a[i][i] * a[i][i];
            for (int j = 0; j < D; j++) {
                frobenius += a[i][j] * a[i][j];
            }
        }
        int probes = 200;
        double sigma = Math.sqrt(2 * (frobenius - diagonal) / probes);
        NDArray matrix = Dense.toArray(manager, a, DataType.FLOAT64);
        TraceEstimate estimate =
                HutchinsonTrace.builder()
                        .optMaxProbes(probes)
                        .optRelativeTolerance(0)
                        .build()
                        .estimate(SymmetricOperator.dense(matrix), manager, random);
        assertEquals(probes, estimate.probes());
        assertEquals(trace, estimate.trace(), 4 * sigma);
        assertEquals(sigma, estimate.standardError(), 0.3 * sigma);
    }

    /** For a diagonal matrix \( z^\top D z = \operatorname{tr} D \) for every sign vector. */
    @Test
    void diagonalMatricesAreEstimatedExactlyWithZeroError() {
        Random random = new Random(8);
        double[] diagonal = Dense.gaussian(random, 1, D, 1)[0];
        double trace = 0;
        for (double value : diagonal) {
            trace += value;
        }
        double[][] dense = new double[D][D];
        for (int i = 0; i < D; i++) {
            dense[i][i] = diagonal[i];
        }
        NDArray matrix = Dense.toArray(manager, dense, DataType.FLOAT64);
        TraceEstimate estimate =
                HutchinsonTrace.builder()
                        .build()
                        .estimate(SymmetricOperator.dense(matrix), manager, random);
        assertEquals(HutchinsonTrace.MIN_PROBES, estimate.probes());
        assertEquals(trace, estimate.trace(), 1e-12 * D);
        assertTrue(estimate.standardError() < 1e-12 * D);
    }

    @Test
    void badSettingsAreRejected() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> HutchinsonTrace.builder().optMaxProbes(0).build());
        assertEquals("maxProbes must be at least 1, but was 0", e.getMessage());
    }
}
