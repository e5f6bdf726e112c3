package io.github.so4j.bench.study;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.training.dataset.Dataset;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.data.FashionMnistDataset;
import java.io.IOException;
import java.util.List;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;
import org.junit.jupiter.api.Test;

/**
 * {@link KroneckerApproximation} against closed forms and against quantities computed from the
 * gradients alone (never forming H), and a tiny run of {@link ShampooApproximationStudy}.
 */
class ShampooApproximationStudyTest {

    /**
     * Single-entry gradients \( \sqrt{\alpha_i \beta_j} E_{ij} \) give \( H = \operatorname{diag}(
     * \alpha) \otimes \operatorname{diag}(\beta) \) exactly: the optimal and the one-step
     * approximations are exact (cosine 1), and Shampoo's is \( \frac{\sum \alpha^{3/2}}{\|\alpha\|
     * \|\alpha^{1/2}\|} \cdot \frac{\sum \beta^{3/2}}{\|\beta\| \|\beta^{1/2}\|} \). Sums of a few
     * dozen products in float64: 1e-12.
     */
    @Test
    void kroneckerStatisticIsRecoveredExactly() {
        double[] alpha = {3, 1, 0.5};
        double[] beta = {2, 0.1, 1, 4};
        KroneckerApproximation study = new KroneckerApproximation(3, 4);
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 4; j++) {
                double[] g = new double[12];
                g[i * 4 + j] = Math.sqrt(alpha[i] * beta[j]);
                study.add(g);
            }
        }
        KroneckerApproximation.Cosines cosines = study.cosines();
        assertEquals(1, cosines.optimal(), 1e-12);
        assertEquals(1, cosines.oneStep(), 1e-12);
        assertEquals(factor(alpha) * factor(beta), cosines.shampoo(), 1e-12);
    }

    private static double factor(double[] lambda) {
        double threeHalves = 0;
        double squares = 0;
        double sum = 0;
        for (double l : lambda) {
            threeHalves += Math.pow(l, 1.5);
            squares += l * l;
            sum += l;
        }
        return threeHalves / (Math.sqrt(squares) * Math.sqrt(sum));
    }

    /**
     * Random gradients of a 3 x 4 weight: every quantity recomputed from the gradients alone. \(
     * \|H\|_F^2 = \sum_{s,t} \langle G_s, G_t \rangle^2 \), \( \langle H, A \otimes B \rangle =
     * \sum_t \langle G_t, A G_t B \rangle \), L and R as sums of products, and the optimum from a
     * singular value decomposition of the rearranged matrix \( \sum_t \operatorname{vec}_{ik}(G_t
     * \ldots) \) built entry by entry. Each is a short float64 sum: 1e-12 relative.
     */
    @Test
    void cosinesMatchComputationsFromTheGradients() {
        int m = 3;
        int n = 4;
        Random random = new Random(7);
        KroneckerApproximation study = new KroneckerApproximation(m, n);
        RealMatrix[] g = new RealMatrix[6];
        for (int t = 0; t < g.length; t++) {
            double[] values = new double[m * n];
            for (int i = 0; i < values.length; i++) {
                values[i] = random.nextGaussian() + (i % 5 == 0 ? 1 : 0);
            }
            study.add(values);
            double[][] a = new double[m][n];
            for (int i = 0; i < m; i++) {
                System.arraycopy(values, i * n, a[i], 0, n);
            }
            g[t] = new Array2DRowRealMatrix(a);
        }
        RealMatrix l = new Array2DRowRealMatrix(m, m);
        RealMatrix r = new Array2DRowRealMatrix(n, n);
        double normSquared = 0;
        for (RealMatrix gs : g) {
            l = l.add(gs.multiply(gs.transpose()));
            r = r.add(gs.transpose().multiply(gs));
            for (RealMatrix gt : g) {
                double dot = inner(gs, gt);
                normSquared += dot * dot;
            }
        }
        double norm = Math.sqrt(normSquared);
        assertEquals(norm, study.norm(), 1e-12 * norm);
        assertMatrix(l.getData(), study.left());
        assertMatrix(r.getData(), study.right());
        double oneStep = 0;
        RealMatrix lRoot = new Array2DRowRealMatrix(KroneckerApproximation.squareRoot(l.getData()));
        RealMatrix rRoot = new Array2DRowRealMatrix(KroneckerApproximation.squareRoot(r.getData()));
        assertMatrix(l.getData(), lRoot.multiply(lRoot).getData());
        double shampoo = 0;
        for (RealMatrix gt : g) {
            oneStep += inner(gt, l.multiply(gt).multiply(r));
            shampoo += inner(gt, lRoot.multiply(gt).multiply(rRoot));
        }
        oneStep /= norm * l.getFrobeniusNorm() * r.getFrobeniusNorm();
        shampoo /= norm * lRoot.getFrobeniusNorm() * rRoot.getFrobeniusNorm();
        double[][] rearranged = new double[m * m][n * n];
        for (RealMatrix gt : g) {
            for (int i = 0; i < m; i++) {
                for (int k = 0; k < m; k++) {
                    for (int j = 0; j < n; j++) {
                        for (int q = 0; q < n; q++) {
                            rearranged[i * m + k][j * n + q] +=
                                    gt.getEntry(i, j) * gt.getEntry(k, q);
                        }
                    }
                }
            }
        }
        double sigma =
                new SingularValueDecomposition(new Array2DRowRealMatrix(rearranged))
                        .getSingularValues()[0];
        KroneckerApproximation.Cosines cosines = study.cosines();
        assertEquals(oneStep, cosines.oneStep(), 1e-12);
        assertEquals(shampoo, cosines.shampoo(), 1e-12);
        assertEquals(sigma / norm, cosines.optimal(), 1e-12);
        assertTrue(cosines.optimal() >= cosines.oneStep());
        assertTrue(cosines.optimal() >= cosines.shampoo());
    }

    private static double inner(RealMatrix a, RealMatrix b) {
        double sum = 0;
        for (int i = 0; i < a.getRowDimension(); i++) {
            for (int j = 0; j < a.getColumnDimension(); j++) {
                sum += a.getEntry(i, j) * b.getEntry(i, j);
            }
        }
        return sum;
    }

    private static void assertMatrix(double[][] expected, double[][] actual) {
        double scale = new Array2DRowRealMatrix(expected).getFrobeniusNorm();
        for (int i = 0; i < expected.length; i++) {
            for (int j = 0; j < expected[i].length; j++) {
                assertEquals(expected[i][j], actual[i][j], 1e-12 * scale, i + "," + j);
            }
        }
    }

    /**
     * A tiny run on real data (an MLP 784-6-4-10, 6 steps of batch 32, reports every 3 steps): two
     * layers per report, cosines in [0, 1] with the optimum on top.
     */
    @Test
    void tinyRunReportsBothLayersWithTheOptimumOnTop() throws IOException, TranslateException {
        try (NDManager manager = NDManager.newBaseManager()) {
            FashionMnistDataset train =
                    FashionMnistDataset.builder()
                            .setManager(manager)
                            .optUsage(Dataset.Usage.TRAIN)
                            .optSubset(512)
                            .setSampling(32, true)
                            .build();
            train.prepare();
            ShampooApproximationStudy.Settings settings =
                    new ShampooApproximationStudy.Settings(6, 4, 6, 3, 32, 0, 1e-3f);
            List<ShampooApproximationStudy.Row> rows =
                    ShampooApproximationStudy.run(settings, train, Device.cpu());
            assertEquals(4, rows.size());
            assertEquals(3, rows.get(0).step());
            assertEquals(6, rows.get(3).step());
            assertTrue(rows.get(0).layer().endsWith("(4 x 6)"), rows.get(0).layer());
            assertTrue(rows.get(1).layer().endsWith("(10 x 4)"), rows.get(1).layer());
            for (ShampooApproximationStudy.Row row : rows) {
                KroneckerApproximation.Cosines c = row.cosines();
                assertTrue(c.optimal() <= 1 + 1e-12 && c.shampoo() > 0, row.toString());
                assertTrue(c.optimal() >= c.oneStep() - 1e-12, row.toString());
                assertTrue(c.optimal() >= c.shampoo() - 1e-12, row.toString());
            }
            String table = ShampooApproximationStudy.markdown(rows);
            assertEquals(2 + 4, table.split("\n").length);
        }
    }

    @Test
    void invalidSettingsAreNamed() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new ShampooApproximationStudy.Settings(100, 100, 1, 1, 1, 0, 1e-3f));
        assertEquals(
                "hidden sizes must be at least 1 with a product of at most 4096, but were 100 and"
                        + " 100",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new KroneckerApproximation(0, 3));
        assertEquals("rows and columns must be at least 1, but were 0 and 3", e.getMessage());
    }
}
