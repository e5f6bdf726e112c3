package io.github.so4j.curvature.subspace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.subspace.SpectralDensity.Density;
import io.github.so4j.curvature.subspace.SpectralDensity.Quadrature;
import io.github.so4j.curvature.testing.Dense;
import java.util.Random;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.RealVector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link SpectralDensity} against the exactness of Gauss quadrature and the dense spectrum. */
class SpectralDensityTest {

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    /**
     * The m-node rule of a unit start vector q integrates \( t^p \) exactly for \( p \le 2m - 1 \):
     * \( \sum_j \tau_j \theta_j^p = q^\top A^p q \). Checked for m = 8, d = 200, against powers
     * formed densely in float64; rounding in both is a few ulps of \( \|A\|^p \), the bound allows
     * 1e-10 of it.
     */
    @Test
    void quadratureRulesAreExactForPolynomialsOfDegreeBelowTwoM() {
        Random random = new Random(9);
        int d = 200;
        double[] values = new double[d];
        for (int i = 0; i < d; i++) {
            values[i] = 4 * random.nextDouble() - 1;
        }
        KnownSpectrum known = new KnownSpectrum(values, random);
        NDArray matrix = Dense.toArray(manager, known.data(), DataType.FLOAT64);
        double[] q = Dense.gaussian(random, 1, d, 1)[0];
        RealVector unit = new ArrayRealVector(q).unitVector();
        int m = 8;
        Quadrature rule =
                SpectralDensity.quadrature(
                        SymmetricOperator.dense(matrix),
                        Dense.toArray(manager, q, DataType.FLOAT64),
                        m);
        assertEquals(m, rule.nodes().length);
        RealVector power = unit;
        for (int p = 0; p <= 2 * m - 1; p++) {
            double expected = unit.dotProduct(power);
            double actual = 0;
            for (int j = 0; j < m; j++) {
                actual += rule.weights()[j] * Math.pow(rule.nodes()[j], p);
            }
            double scale = Math.pow(known.norm(), p);
            assertEquals(expected, actual, 1e-10 * scale, "degree " + p);
            power = known.matrix.operate(power);
        }
    }

    /**
     * With m = d steps the nodes are the eigenvalues themselves, and the smoothed density of many
     * runs integrates to 1, with its mass where the spectrum is.
     */
    @Test
    void fullLanczosRecoversTheSpectrumAndTheDensityIsNormalized() {
        Random random = new Random(10);
        int d = 30;
        double[] values = new double[d];
        for (int i = 0; i < d; i++) {
            values[i] = i < 10 ? -2 : (i < 20 ? 1 : 5);
        }
        KnownSpectrum known = new KnownSpectrum(values, random);
        NDArray matrix = Dense.toArray(manager, known.data(), DataType.FLOAT64);
        SpectralDensity slq = SpectralDensity.builder().optRuns(20).optSteps(d).build();
        Density density = slq.estimate(SymmetricOperator.dense(matrix), manager, random);
        double mass = 0;
        double spacing = density.grid()[1] - density.grid()[0];
        double[] byLevel = new double[3];
        for (int i = 0; i < density.grid().length; i++) {
            mass += density.density()[i] * spacing;
            double t = density.grid()[i];
            int level = t < -0.5 ? 0 : (t < 3 ? 1 : 2);
            byLevel[level] += density.density()[i] * spacing;
        }
        assertEquals(1, mass, 1e-12);
        for (Quadrature rule : density.rules()) {
            double total = 0;
            for (int j = 0; j < rule.nodes().length; j++) {
                double node = rule.nodes()[j];
                assertTrue(
                        Math.abs(node + 2) < 1e-9
                                || Math.abs(node - 1) < 1e-9
                                || Math.abs(node - 5) < 1e-9,
                        "node " + node);
                total += rule.weights()[j];
            }
            assertEquals(1, total, 1e-12);
        }
        // each level holds a third of the spectrum: a run's weight on a level of 10 of the 30
        // eigenvectors is Beta(5, 10), standard deviation 0.12, 0.026 for the mean of 20 runs;
        // the bound is four of those
        for (double levelMass : byLevel) {
            assertEquals(1.0 / 3, levelMass, 0.1);
        }
    }
}
