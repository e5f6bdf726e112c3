package io.github.so4j.curvature.kfac;

import static io.github.so4j.curvature.kfac.KroneckerAlgebra.kron;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.relativeError;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.scaledGram;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.shiftedInverse;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.toMatrix;
import static io.github.so4j.curvature.kfac.KroneckerAlgebra.withOnes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The blocks' statistics against the formulas of {@link KroneckerFactoredBlock} evaluated in
 * float64 from plain-Java rows (and a plain-Java im2col for convolutions), and their directions
 * against the dense factored-Tikhonov formula. All in float64: sums of a few dozen products agree
 * to well within {@link Tolerances#FLOAT64_RELATIVE}.
 */
class KroneckerFactoredBlockTest {

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private static KroneckerSettings settings() {
        return new KroneckerSettings(0.95, InversionMode.INVERSE, 3, 512);
    }

    /**
     * A dense layer with N = 6 examples: \( \hat A = \frac{1}{N} \sum_n [a_n; 1][a_n; 1]^\top \),
     * \( \hat G = N \sum_n \delta_n \delta_n^\top \) (S = 1), with and without bias.
     */
    @ParameterizedTest(name = "bias {0}")
    @ValueSource(booleans = {true, false})
    void linearStatisticsAreTheMeanOuterProducts(boolean bias) {
        Random random = new Random(31);
        int n = 6;
        double[][] a = Dense.gaussian(random, n, 5, 1);
        double[][] delta = Dense.gaussian(random, n, 3, 0.1);
        try (LinearKroneckerFactored block =
                new LinearKroneckerFactored(manager, "fc", 5, 3, bias, settings())) {
            FactorStatistics s =
                    block.statistics(
                            Dense.toArray(manager, a, DataType.FLOAT64),
                            Dense.toArray(manager, delta, DataType.FLOAT64));
            RealMatrix expectedA = scaledGram(bias ? withOnes(a) : a, 1.0 / n);
            RealMatrix expectedG = scaledGram(delta, n);
            assertTrue(relativeError(toMatrix(s.input()), expectedA) < Tolerances.FLOAT64_RELATIVE);
            assertTrue(
                    relativeError(toMatrix(s.output()), expectedG) < Tolerances.FLOAT64_RELATIVE);
        }
    }

    /**
     * Inputs (N, S, p) with S = 3 rows per example: the rows of an example are summed, as the
     * positions of a convolution are, \( \hat A = \frac{1}{N} \sum_r \bar a_r \bar a_r^\top \) and
     * \( \hat G = \frac{N^2}{R} \sum_r \delta_r \delta_r^\top \).
     */
    @Test
    void linearStatisticsOfSequencesSumOverTheRowsOfAnExample() {
        Random random = new Random(32);
        int n = 4;
        int s = 3;
        double[][] a = Dense.gaussian(random, n * s, 5, 1);
        double[][] delta = Dense.gaussian(random, n * s, 3, 0.1);
        try (LinearKroneckerFactored block =
                new LinearKroneckerFactored(manager, "fc", 5, 3, true, settings())) {
            FactorStatistics stats =
                    block.statistics(
                            Dense.toArray(manager, a, DataType.FLOAT64).reshape(n, s, 5),
                            Dense.toArray(manager, delta, DataType.FLOAT64).reshape(n, s, 3));
            RealMatrix expectedA = scaledGram(withOnes(a), 1.0 / n);
            RealMatrix expectedG = scaledGram(delta, (double) n * n / (n * s));
            assertTrue(
                    relativeError(toMatrix(stats.input()), expectedA)
                            < Tolerances.FLOAT64_RELATIVE);
            assertTrue(
                    relativeError(toMatrix(stats.output()), expectedG)
                            < Tolerances.FLOAT64_RELATIVE);
        }
    }

    /**
     * Inputs (N, T, p) with T = 3 tokens per sequence and the loss averaged over every token
     * ({@link LossAverage#ROWS}): each of the R = N T rows is an example, \( \hat A = \frac{1}{R}
     * \sum_r \bar a_r \bar a_r^\top \) and \( \hat G = R \sum_r \delta_r \delta_r^\top \); against
     * {@link LossAverage#EXAMPLES} on the same rows, \( \hat A \) is T times smaller and \( \hat G
     * \) T<sup>2</sup> times larger. Two-axis inputs give the same statistics either way.
     */
    @Test
    void linearStatisticsOfTokensTakeEveryRowAsAnExample() {
        Random random = new Random(36);
        int n = 4;
        int t = 3;
        int r = n * t;
        double[][] a = Dense.gaussian(random, r, 5, 1);
        double[][] delta = Dense.gaussian(random, r, 3, 0.1);
        try (LinearKroneckerFactored block =
                        new LinearKroneckerFactored(
                                manager, "fc", 5, 3, true, settings(), LossAverage.ROWS);
                LinearKroneckerFactored examples =
                        new LinearKroneckerFactored(
                                manager, "fc", 5, 3, true, settings(), LossAverage.EXAMPLES)) {
            NDArray input = Dense.toArray(manager, a, DataType.FLOAT64).reshape(n, t, 5);
            NDArray outputGradient =
                    Dense.toArray(manager, delta, DataType.FLOAT64).reshape(n, t, 3);
            FactorStatistics stats = block.statistics(input, outputGradient);
            RealMatrix expectedA = scaledGram(withOnes(a), 1.0 / r);
            RealMatrix expectedG = scaledGram(delta, r);
            assertTrue(
                    relativeError(toMatrix(stats.input()), expectedA)
                            < Tolerances.FLOAT64_RELATIVE);
            assertTrue(
                    relativeError(toMatrix(stats.output()), expectedG)
                            < Tolerances.FLOAT64_RELATIVE);
            FactorStatistics old = examples.statistics(input, outputGradient);
            assertTrue(
                    relativeError(toMatrix(old.input()), expectedA.scalarMultiply(t))
                            < Tolerances.FLOAT64_RELATIVE);
            assertTrue(
                    relativeError(toMatrix(old.output()), expectedG.scalarMultiply(1.0 / (t * t)))
                            < Tolerances.FLOAT64_RELATIVE);
            NDArray flatInput = input.reshape(r, 5);
            NDArray flatGradient = outputGradient.reshape(r, 3);
            FactorStatistics flat = block.statistics(flatInput, flatGradient);
            FactorStatistics flatOld = examples.statistics(flatInput, flatGradient);
            assertTrue(
                    relativeError(toMatrix(flat.input()), toMatrix(flatOld.input())) == 0
                            && relativeError(toMatrix(flat.output()), toMatrix(flatOld.output()))
                                    == 0);
        }
    }

    /**
     * A convolution (C = 2, 3 x 3 kernel, stride 2, padding 1) on N = 3 examples: \( \hat A \) from
     * the plain-Java patches with a 1 appended, summed over the T positions and divided by N; \(
     * \hat G = \frac{N^2}{N T} \sum_{n,t} \delta_{n,t} \delta_{n,t}^\top \).
     */
    @Test
    void conv2dStatisticsFollowTheKfcPaper() {
        Random random = new Random(33);
        int n = 3;
        int filters = 4;
        double[][][][] x = KroneckerAlgebra.tensor(random, n, 2, 6, 5);
        int[] kernel = {3, 3};
        int[] stride = {2, 2};
        int[] padding = {1, 1};
        int[] dilation = {1, 1};
        double[][] patches = KroneckerAlgebra.im2col(x, kernel, stride, padding, dilation);
        int positions = patches.length / n;
        int ho = 3;
        int wo = 3;
        assertEquals(ho * wo, positions);
        double[][][][] outputGradient = KroneckerAlgebra.tensor(random, n, filters, ho, wo);
        double[][] deltaRows = new double[n * positions][filters];
        for (int e = 0; e < n; e++) {
            for (int f = 0; f < filters; f++) {
                for (int i = 0; i < ho; i++) {
                    for (int j = 0; j < wo; j++) {
                        deltaRows[(e * ho + i) * wo + j][f] = outputGradient[e][f][i][j];
                    }
                }
            }
        }
        try (Conv2dKroneckerFactored block =
                new Conv2dKroneckerFactored(
                        manager,
                        "conv",
                        new Shape(filters, 2, 3, 3),
                        true,
                        new Shape(2, 2),
                        new Shape(1, 1),
                        new Shape(1, 1),
                        settings())) {
            FactorStatistics s =
                    block.statistics(
                            Dense.toArray(manager, KroneckerAlgebra.flatten(x), DataType.FLOAT64)
                                    .reshape(n, 2, 6, 5),
                            Dense.toArray(
                                            manager,
                                            KroneckerAlgebra.flatten(outputGradient),
                                            DataType.FLOAT64)
                                    .reshape(n, filters, ho, wo));
            RealMatrix expectedA = scaledGram(withOnes(patches), 1.0 / n);
            RealMatrix expectedG = scaledGram(deltaRows, (double) n / positions);
            assertTrue(relativeError(toMatrix(s.input()), expectedA) < Tolerances.FLOAT64_RELATIVE);
            assertTrue(
                    relativeError(toMatrix(s.output()), expectedG) < Tolerances.FLOAT64_RELATIVE);
        }
    }

    /**
     * For one example of a dense layer the Kronecker structure is exact: \( \hat A \otimes \hat G =
     * \mathrm{vec}(g \bar a^\top) \mathrm{vec}(g \bar a^\top)^\top \), the example's empirical
     * Fisher block.
     */
    @Test
    void oneExampleGivesItsFisherBlockExactly() {
        Random random = new Random(34);
        double[][] a = Dense.gaussian(random, 1, 4, 1);
        double[][] g = Dense.gaussian(random, 1, 3, 1);
        try (LinearKroneckerFactored block =
                new LinearKroneckerFactored(manager, "fc", 4, 3, true, settings())) {
            FactorStatistics s =
                    block.statistics(
                            Dense.toArray(manager, a, DataType.FLOAT64),
                            Dense.toArray(manager, g, DataType.FLOAT64));
            RealMatrix gradient =
                    new ArrayRealVector(g[0]).outerProduct(new ArrayRealVector(withOnes(a)[0]));
            ArrayRealVector v = new ArrayRealVector(KroneckerAlgebra.vec(gradient));
            RealMatrix fisher = v.outerProduct(v);
            RealMatrix kronecker = kron(toMatrix(s.input()), toMatrix(s.output()));
            assertTrue(relativeError(kronecker, fisher) < Tolerances.FLOAT64_RELATIVE);
        }
    }

    /**
     * A dense layer's directions from its gradient's rows, \( M = D^\top \bar P \) over two
     * recordings (one of them (N, T, p)), with R = 7 rows against p = 10 inputs: the dense \( (G +
     * d_G I)^{-1} M (A + d_A I)^{-1} \) from Commons Math in float64, and {@link
     * KroneckerFactoredBlock#precondition(NDArray, NDArray)} on M itself, both within {@link
     * Tolerances#FLOAT64_RELATIVE} (the two groupings differ by rounding only: sums of at most a
     * dozen float64 products of damped inverses with condition numbers below 1e3, about 1e-13).
     */
    @ParameterizedTest(name = "bias {0}")
    @ValueSource(booleans = {true, false})
    void linearDirectionsFromRowsAreTheMatrixFormula(boolean bias) {
        Random random = new Random(37);
        int features = 9;
        int outputs = 4;
        int columns = features + (bias ? 1 : 0);
        try (LinearKroneckerFactored block =
                new LinearKroneckerFactored(manager, "fc", features, outputs, bias, settings())) {
            for (int i = 0; i < 2; i++) {
                block.factors()
                        .update(
                                block.statistics(
                                        manager.randomNormal(
                                                0, 1, new Shape(12, features), DataType.FLOAT64),
                                        manager.randomNormal(
                                                0,
                                                0.1f,
                                                new Shape(12, outputs),
                                                DataType.FLOAT64)));
            }
            double damping = 1e-2;
            assertTrue(block.factors().refresh(damping));
            double[][] a1 = Dense.gaussian(random, 3, features, 1);
            double[][] d1 = Dense.gaussian(random, 3, outputs, 0.1);
            double[][] a2 = Dense.gaussian(random, 4, features, 1);
            double[][] d2 = Dense.gaussian(random, 4, outputs, 0.1);
            double[][] rows = new double[7][];
            double[][] deltas = new double[7][];
            System.arraycopy(a1, 0, rows, 0, 3);
            System.arraycopy(a2, 0, rows, 3, 4);
            System.arraycopy(d1, 0, deltas, 0, 3);
            System.arraycopy(d2, 0, deltas, 3, 4);
            RealMatrix m =
                    new Array2DRowRealMatrix(deltas, false)
                            .transpose()
                            .multiply(new Array2DRowRealMatrix(bias ? withOnes(rows) : rows));
            RealMatrix w = m.getSubMatrix(0, outputs - 1, 0, features - 1);
            NDArray weightGradient = Dense.toArray(manager, w.getData(), DataType.FLOAT64);
            NDArray biasGradient =
                    bias ? Dense.toArray(manager, m.getColumn(features), DataType.FLOAT64) : null;
            NDList inputs =
                    new NDList(
                            Dense.toArray(manager, a1, DataType.FLOAT64),
                            Dense.toArray(manager, a2, DataType.FLOAT64).reshape(2, 2, features));
            NDList outputGradients =
                    new NDList(
                            Dense.toArray(manager, d1, DataType.FLOAT64),
                            Dense.toArray(manager, d2, DataType.FLOAT64).reshape(2, 2, outputs));
            assertEquals(7, block.rows(inputs));
            LayerDirection fromRows =
                    block.precondition(weightGradient, biasGradient, inputs, outputGradients);
            LayerDirection dense = block.precondition(weightGradient, biasGradient);
            assertEquals(new Shape(outputs, features), fromRows.directions().get(0).getShape());
            RealMatrix a = toMatrix(block.factors().inputFactor());
            RealMatrix g = toMatrix(block.factors().outputFactor());
            double pi = Math.sqrt((a.getTrace() / columns) / (g.getTrace() / outputs));
            RealMatrix expected =
                    shiftedInverse(g, Math.sqrt(damping) / pi)
                            .multiply(m)
                            .multiply(shiftedInverse(a, pi * Math.sqrt(damping)));
            double squaredNorm = 0;
            for (int i = 0; i < outputs; i++) {
                for (int j = 0; j < columns; j++) {
                    squaredNorm += expected.getEntry(i, j) * m.getEntry(i, j);
                }
            }
            for (LayerDirection result : new LayerDirection[] {fromRows, dense}) {
                RealMatrix actual = new Array2DRowRealMatrix(outputs, columns);
                double[] wd = Dense.toDoubles(result.directions().get(0));
                for (int i = 0; i < outputs; i++) {
                    for (int j = 0; j < features; j++) {
                        actual.setEntry(i, j, wd[i * features + j]);
                    }
                }
                if (bias) {
                    double[] bd = Dense.toDoubles(result.directions().get(1));
                    assertEquals(new Shape(outputs), result.directions().get(1).getShape());
                    for (int i = 0; i < outputs; i++) {
                        actual.setEntry(i, features, bd[i]);
                    }
                }
                double error = relativeError(actual, expected);
                assertTrue(error < Tolerances.FLOAT64_RELATIVE, "relative error " + error);
                double normError =
                        Math.abs(result.squaredNorm().getDouble() - squaredNorm) / squaredNorm;
                assertTrue(
                        normError < Tolerances.FLOAT64_RELATIVE,
                        "norm relative error " + normError);
            }
        }
    }

    /**
     * The factored form is chosen where it costs fewer flops: the 785-input, 256-output layer at
     * 128 rows (0.23 against 0.42 GFLOP) but not the 257-input, 128-output one (29.5 against 25.3
     * MFLOP), nor any layer in EIGEN mode, whose rotations back cost the dense amount anyway.
     */
    @Test
    void rowsAreChosenWhereTheyCostLess() {
        try (LinearKroneckerFactored wide =
                        new LinearKroneckerFactored(manager, "a", 784, 256, true, settings());
                LinearKroneckerFactored narrow =
                        new LinearKroneckerFactored(manager, "b", 256, 128, true, settings());
                LinearKroneckerFactored eigen =
                        new LinearKroneckerFactored(
                                manager,
                                "c",
                                384,
                                256,
                                true,
                                new KroneckerSettings(0.95, InversionMode.EIGEN, 3, 512))) {
            assertTrue(wide.factors().rowsAreCheaper(128));
            assertFalse(wide.factors().rowsAreCheaper(512));
            assertFalse(narrow.factors().rowsAreCheaper(128));
            assertFalse(eigen.factors().rowsAreCheaper(1));
        }
    }

    /**
     * A convolution's directions are those of its q x p matrix [W reshaped, b], split back: the
     * dense \( (G + d_G I)^{-1} [W, b] (A + d_A I)^{-1} \) with the running factors.
     */
    @Test
    void conv2dDirectionsAreTheMatrixFormulaSplitBack() {
        Random random = new Random(35);
        int n = 2;
        try (Conv2dKroneckerFactored block =
                new Conv2dKroneckerFactored(
                        manager,
                        "conv",
                        new Shape(3, 2, 2, 2),
                        true,
                        new Shape(1, 1),
                        new Shape(0, 0),
                        new Shape(1, 1),
                        settings())) {
            NDArray input = manager.randomNormal(0, 1, new Shape(n, 2, 4, 4), DataType.FLOAT64);
            NDArray outputGradient =
                    manager.randomNormal(0, 0.1f, new Shape(n, 3, 3, 3), DataType.FLOAT64);
            block.factors().update(block.statistics(input, outputGradient));
            double damping = 1e-2;
            assertTrue(block.factors().refresh(damping));
            double[][] w = Dense.gaussian(random, 3, 8, 1);
            double[] b = Dense.gaussian(random, 1, 3, 1)[0];
            LayerDirection result =
                    block.precondition(
                            Dense.toArray(manager, w, DataType.FLOAT64).reshape(3, 2, 2, 2),
                            Dense.toArray(manager, b, DataType.FLOAT64));
            NDList directions = result.directions();
            assertEquals(new Shape(3, 2, 2, 2), directions.get(0).getShape());
            assertEquals(new Shape(3), directions.get(1).getShape());
            RealMatrix a = toMatrix(block.factors().inputFactor());
            RealMatrix g = toMatrix(block.factors().outputFactor());
            RealMatrix m = new Array2DRowRealMatrix(3, 9);
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 8; j++) {
                    m.setEntry(i, j, w[i][j]);
                }
                m.setEntry(i, 8, b[i]);
            }
            double pi = Math.sqrt((a.getTrace() / 9) / (g.getTrace() / 3));
            RealMatrix expected =
                    shiftedInverse(g, Math.sqrt(damping) / pi)
                            .multiply(m)
                            .multiply(shiftedInverse(a, pi * Math.sqrt(damping)));
            RealMatrix actual = new Array2DRowRealMatrix(3, 9);
            double[] wd = Dense.toDoubles(directions.get(0));
            double[] bd = Dense.toDoubles(directions.get(1));
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 8; j++) {
                    actual.setEntry(i, j, wd[i * 8 + j]);
                }
                actual.setEntry(i, 8, bd[i]);
            }
            double error = relativeError(actual, expected);
            assertTrue(error < Tolerances.FLOAT64_RELATIVE, "relative error " + error);
            double squaredNorm = 0;
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 9; j++) {
                    squaredNorm += expected.getEntry(i, j) * m.getEntry(i, j);
                }
            }
            double normError =
                    Math.abs(result.squaredNorm().getDouble() - squaredNorm) / squaredNorm;
            assertTrue(normError < Tolerances.FLOAT64_RELATIVE, "norm relative error " + normError);
        }
    }

    @Test
    void invalidLayersFailWithTheirValues() {
        assertEquals(
                "a dense layer needs at least one input and one output, but had 0 and 3",
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        new LinearKroneckerFactored(
                                                manager, "fc", 0, 3, true, settings()))
                        .getMessage());
        assertEquals(
                "lossAverage must not be null",
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        new LinearKroneckerFactored(
                                                manager, "fc", 4, 3, true, settings(), null))
                        .getMessage());
        assertEquals(
                "a 2-D convolution's weight has shape (filters, channels, kh, kw), but was (3, 2)",
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        new Conv2dKroneckerFactored(
                                                manager,
                                                "conv",
                                                new Shape(3, 2),
                                                true,
                                                new Shape(1, 1),
                                                new Shape(0, 0),
                                                new Shape(1, 1),
                                                settings()))
                        .getMessage());
    }
}
