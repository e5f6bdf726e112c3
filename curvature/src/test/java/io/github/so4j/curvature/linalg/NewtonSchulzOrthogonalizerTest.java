package io.github.so4j.curvature.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link NewtonSchulzOrthogonalizer} against its closed form \( U f(\Sigma / (\|G\|_F + \epsilon))
 * V^\top \), with U, \( \Sigma \), V from Commons Math's singular value decomposition in float64
 * and f the scalar map of the iteration; and the band of singular values that five steps with
 * Keller Jordan's coefficients give, measured.
 *
 * <p>Tolerances (relative error in the Frobenius norm). A rounding error made at one step reaches
 * the result through the later steps, whose sensitivity is bounded by L, the largest slope of f and
 * divided difference \( f(s) / s \) over the matrix's normalised singular values (computed here
 * from the scalar map; at most 485). One step's products commit relative errors of about \( (|a| +
 * |b| + |c|) \) times that of a length-l dot product (l = max(m, n), the longest inner dimension).
 * So:
 *
 * <ul>
 *   <li>float64: the worst case \( 5 L (|a| + |b| + |c|) \gamma_l \) (Higham, eq. 3.4), about
 *       1.1e-10 for L = 485 and l = 40;
 *   <li>float32: the probabilistic estimate \( 5 L (|a| + |b| + |c|) (\sqrt{l} + 4) u \) (errors of
 *       random sign, Higham section 2.8; the 4 covers the norm, the division and the rounding of a,
 *       b, c to float32), and the oracle decomposes the float32-rounded input.
 * </ul>
 *
 * <p>Measured: float64 errors of 8e-16 to 7e-15 against tolerances of 4e-13 to 5e-11; float32
 * errors of 3e-7 to 1.1e-6 (5 to 20 units of roundoff) against 9e-5 to 8e-3. The float32 bound is
 * loose because it charges every rounding error with the largest amplification, which only the
 * components along the smallest singular values see; the float64 cases pin the formula (a change of
 * c by one part in 10<sup>4</sup> fails 11 of the cases).
 */
class NewtonSchulzOrthogonalizerTest {

    private static final NewtonSchulzOrthogonalizer NS5 = new NewtonSchulzOrthogonalizer();

    /** \( |a| + |b| + |c| \) of the default coefficients. */
    private static final double COEFFICIENTS =
            Math.abs(NewtonSchulzOrthogonalizer.DEFAULT_A)
                    + Math.abs(NewtonSchulzOrthogonalizer.DEFAULT_B)
                    + Math.abs(NewtonSchulzOrthogonalizer.DEFAULT_C);

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
     * The band documented on the class, measured: f on 2,000,001 log-spaced points of [1e-6, 0.1]
     * and 2,000,001 evenly spaced points of [0.1, 1]. Its least value from {@code
     * DEFAULT_BAND_FROM} on and its greatest value anywhere lie within 1e-4 inside the documented
     * ends, and the threshold is tight: just below it, f falls out of the band.
     */
    @Test
    void fiveStepsMapNormalisedSingularValuesIntoTheDocumentedBand() {
        double low = Double.POSITIVE_INFINITY;
        double high = Double.NEGATIVE_INFINITY;
        int points = 2_000_000;
        for (int i = 0; i <= points; i++) {
            double logSpaced = Math.pow(10, -6 + 5.0 * i / points);
            double evenlySpaced = 0.1 + 0.9 * i / points;
            for (double s : new double[] {logSpaced, evenlySpaced}) {
                double f = NS5.singularValueMap(s);
                high = Math.max(high, f);
                if (s >= NewtonSchulzOrthogonalizer.DEFAULT_BAND_FROM) {
                    low = Math.min(low, f);
                }
            }
        }
        assertTrue(
                low >= NewtonSchulzOrthogonalizer.DEFAULT_BAND_LOW
                        && low < NewtonSchulzOrthogonalizer.DEFAULT_BAND_LOW + 1e-4,
                "least value " + low);
        assertTrue(
                high <= NewtonSchulzOrthogonalizer.DEFAULT_BAND_HIGH
                        && high > NewtonSchulzOrthogonalizer.DEFAULT_BAND_HIGH - 1e-4,
                "greatest value " + high);
        assertTrue(NS5.singularValueMap(0.0015) < NewtonSchulzOrthogonalizer.DEFAULT_BAND_LOW);
        assertEquals(0.6964, NS5.singularValueMap(1), 1e-4);
        // the slope at zero is a^5
        double a5 = Math.pow(NewtonSchulzOrthogonalizer.DEFAULT_A, 5);
        assertEquals(a5, NS5.singularValueMap(1e-9) / 1e-9, 1e-6 * a5);
    }

    /** One step of the scalar map is the quintic itself. */
    @Test
    void theScalarMapOfOneStepIsTheQuintic() {
        NewtonSchulzOrthogonalizer one = new NewtonSchulzOrthogonalizer(3, -2, 0.5, 1, 1e-7);
        double s = 0.7;
        assertEquals(3 * s - 2 * s * s * s + 0.5 * Math.pow(s, 5), one.singularValueMap(s), 1e-15);
    }

    static Stream<Arguments> randomMatrices() {
        return Stream.of(
                Arguments.of(32, 32, DataType.FLOAT64),
                Arguments.of(8, 24, DataType.FLOAT64),
                Arguments.of(40, 12, DataType.FLOAT64),
                Arguments.of(32, 32, DataType.FLOAT32),
                Arguments.of(8, 24, DataType.FLOAT32),
                Arguments.of(40, 12, DataType.FLOAT32));
    }

    /** Gaussian matrices, square, wide and tall, in float64 and float32. */
    @ParameterizedTest(name = "{0} x {1} {2}")
    @MethodSource("randomMatrices")
    void randomMatricesMatchTheClosedForm(int m, int n, DataType type) {
        double[][] g = Dense.gaussian(new Random(31L * m + n), m, n, 2.5);
        checkAgainstClosedForm(g, type);
    }

    static Stream<Arguments> spectra() {
        return Stream.of(
                Arguments.of("log-spaced over [0.01, 1]", 16, 16, DataType.FLOAT64),
                Arguments.of("log-spaced over [0.01, 1]", 12, 30, DataType.FLOAT32),
                Arguments.of("log-spaced over [0.01, 1]", 30, 12, DataType.FLOAT32),
                Arguments.of("log-spaced over [0.01, 1]", 16, 16, DataType.FLOAT32),
                Arguments.of("equal", 10, 20, DataType.FLOAT32),
                Arguments.of("equal", 20, 10, DataType.FLOAT64),
                Arguments.of("one dominant", 16, 24, DataType.FLOAT32),
                Arguments.of("one dominant", 24, 16, DataType.FLOAT64));
    }

    /**
     * Matrices \( Q_1 \operatorname{diag}(\sigma) Q_2^\top \) with random orthonormal \( Q_1, Q_2
     * \) and a prescribed spectrum (scaled by 40: the result does not depend on the scale), so that
     * every normalised singular value is above the band's threshold: the result matches the closed
     * form, and its singular values (from Commons Math's decomposition of the device result) lie in
     * the band, widened by the error bound (Weyl: each singular value moves by at most the
     * difference's norm).
     */
    @ParameterizedTest(name = "{0}, {1} x {2} {3}")
    @MethodSource("spectra")
    void prescribedSpectraLandInTheBand(String spectrum, int m, int n, DataType type) {
        int r = Math.min(m, n);
        double[] sigma = new double[r];
        for (int i = 0; i < r; i++) {
            sigma[i] =
                    switch (spectrum) {
                        case "equal" -> 1;
                        case "one dominant" -> i == 0 ? 1 : 0.05;
                        default -> Math.pow(10, -2.0 * i / (r - 1));
                    };
        }
        Random random = new Random(m * 7L + n);
        RealMatrix g =
                orthonormal(random, m, r)
                        .multiply(diagonal(sigma, 40))
                        .multiply(orthonormal(random, n, r).transpose());
        double[] normalised = normalisedSingularValues(g.getData(), type);
        for (double s : normalised) {
            assertTrue(s >= NewtonSchulzOrthogonalizer.DEFAULT_BAND_FROM, "s = " + s);
        }
        double[][] result = checkAgainstClosedForm(g.getData(), type);
        double tolerance = tolerance(normalised, Math.max(m, n), type);
        double[] produced = new SingularValueDecomposition(matrix(result)).getSingularValues();
        double[] expected = Arrays.stream(normalised).map(NS5::singularValueMap).toArray();
        Arrays.sort(expected);
        Arrays.sort(produced);
        for (int i = 0; i < r; i++) {
            assertTrue(
                    produced[i] >= NewtonSchulzOrthogonalizer.DEFAULT_BAND_LOW - tolerance
                            && produced[i]
                                    <= NewtonSchulzOrthogonalizer.DEFAULT_BAND_HIGH + tolerance,
                    "singular value " + produced[i] + " out of the band");
            // Weyl's bound by the spectral norm, itself at most the Frobenius norm of the error
            assertEquals(expected[i], produced[i], tolerance * Math.sqrt(r), "singular value " + i);
        }
    }

    /**
     * A singular value below the band's threshold is damped, not orthogonalised: a singular value
     * of 1e-4 (7e-5 of the Frobenius norm, 1.42) comes out as about 0.034 (485 times its normalised
     * value), as the closed form says.
     */
    @Test
    void singularValuesBelowTheThresholdAreDamped() {
        int m = 6;
        int n = 9;
        double[] sigma = {1, 0.8, 0.5, 0.3, 0.2, 1e-4};
        Random random = new Random(5);
        RealMatrix g =
                orthonormal(random, m, m)
                        .multiply(diagonal(sigma, 1))
                        .multiply(orthonormal(random, n, m).transpose());
        double[][] result = checkAgainstClosedForm(g.getData(), DataType.FLOAT64);
        double[] produced = new SingularValueDecomposition(matrix(result)).getSingularValues();
        double smallest = produced[produced.length - 1];
        double s = 1e-4 / (g.getFrobeniusNorm() + NewtonSchulzOrthogonalizer.DEFAULT_EPSILON);
        assertEquals(NS5.singularValueMap(s), smallest, 1e-10);
        assertTrue(smallest < 0.05, "smallest " + smallest);
    }

    /** A batch (3, 10, 6) of tall matrices: each matrix of the result matches its closed form. */
    @Test
    void batchesMatchTheClosedFormMatrixByMatrix() {
        int batch = 3;
        int m = 10;
        int n = 6;
        Random random = new Random(11);
        double[][][] g = new double[batch][][];
        double[] flat = new double[batch * m * n];
        for (int b = 0; b < batch; b++) {
            g[b] = Dense.gaussian(random, m, n, 1 + b);
            for (int i = 0; i < m; i++) {
                System.arraycopy(g[b][i], 0, flat, (b * m + i) * n, n);
            }
        }
        NDArray input = Dense.toArray(manager, flat, DataType.FLOAT64).reshape(batch, m, n);
        NDArray result = NS5.orthogonalize(input, manager);
        assertEquals(new Shape(batch, m, n), result.getShape());
        double[] values = Dense.toDoubles(result);
        for (int b = 0; b < batch; b++) {
            double[][] got = new double[m][n];
            for (int i = 0; i < m; i++) {
                System.arraycopy(values, (b * m + i) * n, got[i], 0, n);
            }
            double[] normalised = normalisedSingularValues(g[b], DataType.FLOAT64);
            double error = relativeError(got, closedForm(g[b], NS5));
            double tolerance = tolerance(normalised, Math.max(m, n), DataType.FLOAT64);
            assertTrue(error <= tolerance, "matrix " + b + ": " + error + " > " + tolerance);
        }
    }

    /** Other coefficients and step counts follow the same closed form (the classic cubic here). */
    @Test
    void otherCoefficientsAndStepsFollowTheClosedForm() {
        NewtonSchulzOrthogonalizer cubic = new NewtonSchulzOrthogonalizer(1.5, -0.5, 0, 12, 1e-7);
        double[][] g = Dense.gaussian(new Random(3), 7, 11, 1);
        NDArray result = cubic.orthogonalize(Dense.toArray(manager, g, DataType.FLOAT64), manager);
        double[][] got = reshape(Dense.toDoubles(result), 7, 11);
        double error = relativeError(got, closedForm(g, cubic));
        // the cubic's slope is at most 1.5^12 = 130 and its coefficients sum to 2
        double tolerance = 12 * 130 * 2 * gamma(11, Tolerances.FLOAT64_UNIT_ROUNDOFF);
        assertTrue(error <= tolerance, error + " > " + tolerance);
    }

    /** A zero matrix maps to zero (the epsilon keeps 0 / 0 away); nothing is read to the host. */
    @Test
    void aZeroMatrixMapsToZeroAndNothingIsRead() {
        NDArray zero = manager.zeros(new Shape(4, 3), DataType.FLOAT32);
        long reads = HostReads.count();
        NDArray result = NS5.orthogonalize(zero, manager);
        assertEquals(0, HostReads.count() - reads);
        for (float v : result.toFloatArray()) {
            assertEquals(0f, v);
        }
    }

    /** The temporaries of the five steps are freed: only the result stays in the owner. */
    @Test
    void onlyTheResultStays() {
        NDArray g = manager.randomNormal(new Shape(20, 8));
        try (NDManager owner = manager.newSubManager()) {
            int before = LiveArrays.count(manager);
            NS5.orthogonalize(g, owner);
            assertEquals(before + 1, LiveArrays.count(manager));
        }
    }

    @Test
    void invalidSettingsFailWithTheirNameAndValue() {
        assertMessage(
                "a must be positive and finite, but was 0.0",
                () -> new NewtonSchulzOrthogonalizer(0, -4.775, 2.0315, 5, 1e-7));
        assertMessage(
                "a must be positive and finite, but was NaN",
                () -> new NewtonSchulzOrthogonalizer(Double.NaN, -4.775, 2.0315, 5, 1e-7));
        assertMessage(
                "b must be finite, but was Infinity",
                () ->
                        new NewtonSchulzOrthogonalizer(
                                3.4445, Double.POSITIVE_INFINITY, 2.0315, 5, 1e-7));
        assertMessage(
                "c must be finite, but was NaN",
                () -> new NewtonSchulzOrthogonalizer(3.4445, -4.775, Double.NaN, 5, 1e-7));
        assertMessage(
                "steps must be at least 1, but was 0",
                () -> new NewtonSchulzOrthogonalizer(3.4445, -4.775, 2.0315, 0, 1e-7));
        assertMessage(
                "epsilon must be positive and finite, but was 0.0",
                () -> new NewtonSchulzOrthogonalizer(3.4445, -4.775, 2.0315, 5, 0));
        assertMessage(
                "the input must be a matrix or a batch of matrices, but had shape (4)",
                () -> NS5.orthogonalize(manager.ones(new Shape(4)), manager));
    }

    /**
     * Runs the device iteration on g (rounded to float32 for float32) and checks it against the
     * closed form within the tolerance of the class comment.
     *
     * @return the device result
     */
    private double[][] checkAgainstClosedForm(double[][] g, DataType type) {
        int m = g.length;
        int n = g[0].length;
        double[][] input = type == DataType.FLOAT32 ? Dense.roundToFloat(g) : g;
        NDArray result = NS5.orthogonalize(Dense.toArray(manager, input, type), manager);
        assertEquals(type, result.getDataType());
        assertEquals(new Shape(m, n), result.getShape());
        double[][] got = reshape(Dense.toDoubles(result), m, n);
        double error = relativeError(got, closedForm(input, NS5));
        double tolerance = tolerance(normalisedSingularValues(input, type), Math.max(m, n), type);
        assertTrue(error <= tolerance, "relative error " + error + " > " + tolerance);
        return got;
    }

    /** \( U f(\Sigma / (\|G\|_F + \epsilon)) V^\top \) in float64. */
    private static double[][] closedForm(double[][] g, NewtonSchulzOrthogonalizer ns) {
        RealMatrix matrix = matrix(g);
        SingularValueDecomposition svd = new SingularValueDecomposition(matrix);
        double scale = matrix.getFrobeniusNorm() + ns.epsilon();
        double[] sigma = svd.getSingularValues();
        double[] f = new double[sigma.length];
        for (int i = 0; i < sigma.length; i++) {
            f[i] = ns.singularValueMap(sigma[i] / scale);
        }
        return svd.getU().multiply(diagonal(f, 1)).multiply(svd.getV().transpose()).getData();
    }

    private static double[] normalisedSingularValues(double[][] g, DataType type) {
        double[][] input = type == DataType.FLOAT32 ? Dense.roundToFloat(g) : g;
        RealMatrix matrix = matrix(input);
        double scale = matrix.getFrobeniusNorm() + NewtonSchulzOrthogonalizer.DEFAULT_EPSILON;
        return Arrays.stream(new SingularValueDecomposition(matrix).getSingularValues())
                .map(s -> s / scale)
                .toArray();
    }

    /**
     * The tolerance of the class comment for a matrix with these normalised singular values: L is
     * the largest slope of f on [min s, max s] (by differences on 10,001 points) and the largest \(
     * f(s) / s \) there (the divided differences with the zero singular values of the larger side).
     */
    private static double tolerance(double[] normalised, int l, DataType type) {
        double lo = Arrays.stream(normalised).min().orElseThrow();
        double hi = Arrays.stream(normalised).max().orElseThrow();
        double sensitivity = 1;
        int points = 10_000;
        double h = (hi - lo) / points;
        for (int i = 0; i <= points; i++) {
            double s = lo + i * h;
            double slope =
                    (NS5.singularValueMap(s + 1e-7) - NS5.singularValueMap(Math.max(s - 1e-7, 0)))
                            / (s + 1e-7 - Math.max(s - 1e-7, 0));
            sensitivity = Math.max(sensitivity, Math.abs(slope));
            if (s > 0) {
                sensitivity = Math.max(sensitivity, NS5.singularValueMap(s) / s);
            }
        }
        double perStep =
                type == DataType.FLOAT64
                        ? gamma(l, Tolerances.FLOAT64_UNIT_ROUNDOFF)
                        : (Math.sqrt(l) + 4) * Tolerances.FLOAT32_UNIT_ROUNDOFF;
        return NewtonSchulzOrthogonalizer.DEFAULT_STEPS * sensitivity * COEFFICIENTS * perStep;
    }

    private static double gamma(int n, double u) {
        return n * u / (1 - n * u);
    }

    private static RealMatrix orthonormal(Random random, int rows, int columns) {
        RealMatrix q = new QRDecomposition(matrix(Dense.gaussian(random, rows, rows, 1))).getQ();
        return q.getSubMatrix(0, rows - 1, 0, columns - 1);
    }

    private static RealMatrix diagonal(double[] values, double scale) {
        RealMatrix d = new Array2DRowRealMatrix(values.length, values.length);
        for (int i = 0; i < values.length; i++) {
            d.setEntry(i, i, scale * values[i]);
        }
        return d;
    }

    private static RealMatrix matrix(double[][] a) {
        return new Array2DRowRealMatrix(a, true);
    }

    private static double[][] reshape(double[] flat, int m, int n) {
        double[][] a = new double[m][n];
        for (int i = 0; i < m; i++) {
            System.arraycopy(flat, i * n, a[i], 0, n);
        }
        return a;
    }

    private static double relativeError(double[][] got, double[][] expected) {
        return matrix(got).subtract(matrix(expected)).getFrobeniusNorm()
                / matrix(expected).getFrobeniusNorm();
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
