package io.github.so4j.curvature.subspace;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import ai.djl.util.Pair;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.subspace.BatchCurvature.Mode;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.HalfSquaredErrorLoss;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class BatchCurvatureTest {

    private static final TanhNetwork NET = new TanhNetwork(5, 4, 3);
    private static final int BATCH = 8;
    private static final int GC_PRODUCTS = 100;

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
     * Linear least squares, DJL's L2 loss \( L = \frac{1}{2NK} \sum_{n,k} (W_k x_n + b_k -
     * y_{nk})^2 \): the Hessian is known in closed form, \( \frac{1}{NK} \sum_n \tilde x_n \tilde
     * x_n^\top \) per output with \( \tilde x = (x, 1) \). Each entry of \( H v \) is a sum of N +
     * in + 1 products of rounded data, so its float error is bounded by \( \gamma_{N + in + 2} (|H|
     * |v|)_i \) (Higham, eq. 3.4, one extra rounding for the 1/NK scaling); the oracle sees the
     * same rounded data in double precision.
     */
    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void exactProductsOnAQuadraticMatchTheKnownHessian(DataType type) {
        int n = 16;
        int in = 6;
        int k = 3;
        Random random = new Random(5);
        double[][] x = Dense.gaussian(random, n, in, 1);
        double[][] y = Dense.gaussian(random, n, k, 1);
        if (type == DataType.FLOAT32) {
            x = Dense.roundToFloat(x);
            y = Dense.roundToFloat(y);
        }
        Block block = Linear.builder().setUnits(k).build();
        block.initialize(manager, type, new Shape(n, in));
        BatchCurvature curvature =
                BatchCurvature.builder()
                        .setBlock(block)
                        .setLoss(new HalfSquaredErrorLoss())
                        .setBatch(
                                new NDList(Dense.toArray(manager, x, type)),
                                new NDList(Dense.toArray(manager, y, type)))
                        .optMode(Mode.EXACT)
                        .build();
        int d = k * in + k;
        double[][] hessian = new double[d][d];
        for (double[] row : x) {
            for (int out = 0; out < k; out++) {
                for (int i = 0; i <= in; i++) {
                    for (int j = 0; j <= in; j++) {
                        double xi = i < in ? row[i] : 1;
                        double xj = j < in ? row[j] : 1;
                        hessian[index(out, i, in, k)][index(out, j, in, k)] += xi * xj / (n * k);
                    }
                }
            }
        }
        double unit =
                type == DataType.FLOAT32
                        ? Tolerances.FLOAT32_UNIT_ROUNDOFF
                        : Tolerances.FLOAT64_UNIT_ROUNDOFF;
        double gamma = (n + in + 2) * unit / (1 - (n + in + 2) * unit);
        for (int trial = 0; trial < 3; trial++) {
            double[] v = Dense.gaussian(random, 1, d, 1)[0];
            if (type == DataType.FLOAT32) {
                v = Dense.roundToFloat(v);
            }
            double[] actual =
                    Dense.toDoubles(curvature.hessianTimes(Dense.toArray(manager, v, type)));
            double[] expected = new Array2DRowRealMatrix(hessian).operate(v);
            double[] bound = absoluteProduct(hessian, v);
            for (int i = 0; i < d; i++) {
                assertTrue(
                        Math.abs(actual[i] - expected[i]) <= gamma * bound[i],
                        "entry " + i + ": " + actual[i] + " vs " + expected[i]);
            }
        }
    }

    private static int index(int out, int i, int in, int k) {
        return i < in ? out * in + i : k * in + out;
    }

    private static double[] absoluteProduct(double[][] a, double[] v) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < v.length; j++) {
                r[i] += Math.abs(a[i][j]) * Math.abs(v[j]);
            }
        }
        return r;
    }

    /**
     * H v on the tanh network in float64, both modes, against the full Hessian formed column by
     * column by central differences of the hand-written gradient (its error is about 1e-10
     * relative, see {@link TanhNetwork#hessianByDifferences}). EXACT differs from it by the
     * oracle's error only: the bound is ten times that, 1e-9 (measured 1.3e-10 to 1.7e-10).
     * FINITE_DIFFERENCE adds its own error of order \( \epsilon^{2/3} \approx 4 \cdot 10^{-11} \)
     * times the problem's constants (see {@link BatchCurvature}), constants of order 10 here: 1e-8
     * (measured 2.4e-10 to 6.0e-10).
     */
    @ParameterizedTest
    @EnumSource(
            value = Mode.class,
            names = {"EXACT", "FINITE_DIFFERENCE"})
    void hessianProductsMatchTheDenseHessianOfATanhNetwork(Mode mode) {
        Random random = new Random(11);
        double[][] x = NET.inputs(random, BATCH);
        int[] y = NET.labels(random, BATCH);
        Block block = NET.block(manager, DataType.FLOAT64, BATCH);
        BatchCurvature curvature = curvature(block, x, y, DataType.FLOAT64, mode);
        assertEquals(mode, curvature.mode());
        assertEquals(NET.size, curvature.dimension());
        double[] w = TanhNetwork.weights(block);
        RealMatrix hessian = new Array2DRowRealMatrix(NET.hessianByDifferences(w, x, y));
        double tolerance = mode == Mode.EXACT ? 1e-9 : 1e-8;
        for (int trial = 0; trial < 3; trial++) {
            double[] v = Dense.gaussian(random, 1, NET.size, 1)[0];
            double[] actual =
                    Dense.toDoubles(
                            curvature.hessianTimes(Dense.toArray(manager, v, DataType.FLOAT64)));
            double error = Dense.relativeError(actual, hessian.operate(v));
            assertTrue(error < tolerance, mode + " relative error " + error);
        }
    }

    /**
     * G v against \( \frac{1}{N} \sum_n J_n^\top (\operatorname{diag} p_n - p_n p_n^\top) J_n \)
     * formed from hand-written Jacobians (exact up to rounding). EXACT: rounding of a few dozen
     * float64 operations, 1e-12 (measured 2.6e-16 to 4.7e-16). FINITE_DIFFERENCE: two nested
     * differences, each of relative error order \( \epsilon^{2/3} \approx 4 \cdot 10^{-11} \) times
     * constants of order 10: 1e-9 (measured 3.8e-11 to 6.8e-11).
     */
    @ParameterizedTest
    @EnumSource(
            value = Mode.class,
            names = {"EXACT", "FINITE_DIFFERENCE"})
    void gaussNewtonProductsMatchTheDenseGaussNewtonMatrix(Mode mode) {
        Random random = new Random(12);
        double[][] x = NET.inputs(random, BATCH);
        int[] y = NET.labels(random, BATCH);
        Block block = NET.block(manager, DataType.FLOAT64, BATCH);
        BatchCurvature curvature = curvature(block, x, y, DataType.FLOAT64, mode);
        double[] w = TanhNetwork.weights(block);
        RealMatrix gaussNewton = new Array2DRowRealMatrix(NET.gaussNewton(w, x));
        double tolerance = mode == Mode.EXACT ? 1e-12 : 1e-9;
        for (int trial = 0; trial < 3; trial++) {
            double[] v = Dense.gaussian(random, 1, NET.size, 1)[0];
            double[] actual =
                    Dense.toDoubles(
                            curvature.gaussNewtonTimes(
                                    Dense.toArray(manager, v, DataType.FLOAT64)));
            double error = Dense.relativeError(actual, gaussNewton.operate(v));
            assertTrue(error < tolerance, mode + " relative error " + error);
        }
    }

    /**
     * Exact G v does not depend on when the garbage collector runs: with a thread collecting
     * without pause, {@value #GC_PRODUCTS} products equal the first bit for bit. A product that
     * records a multiplication by a Java number fails this (DJL makes the number a scalar over host
     * memory, closes it at once and the graph reads it in the second backward): measured 37 of 400
     * products wrong on a 2-core machine, so 0 of {@value #GC_PRODUCTS} has odds below 1e-4. The
     * loss, softmax cross-entropy with weight 1, records no number itself. Tagged soak: the
     * collecting thread makes it take 10 to 30 seconds (run it with {@code -Psoak}).
     */
    @Test
    @Tag("soak")
    void gaussNewtonProductsDoNotDependOnWhenTheCollectorRuns() throws InterruptedException {
        Random random = new Random(13);
        double[][] x = NET.inputs(random, BATCH);
        int[] y = NET.labels(random, BATCH);
        Block block = NET.block(manager, DataType.FLOAT64, BATCH);
        BatchCurvature curvature = curvature(block, x, y, DataType.FLOAT64, Mode.EXACT);
        NDArray v =
                Dense.toArray(manager, Dense.gaussian(random, 1, NET.size, 1)[0], DataType.FLOAT64);
        double[] first = Dense.toDoubles(curvature.gaussNewtonTimes(v));
        AtomicBoolean done = new AtomicBoolean();
        Thread collector =
                new Thread(
                        () -> {
                            while (!done.get()) {
                                System.gc();
                            }
                        });
        collector.start();
        int differing = 0;
        try {
            for (int i = 0; i < GC_PRODUCTS; i++) {
                try (NDArray product = curvature.gaussNewtonTimes(v)) {
                    if (!Arrays.equals(first, Dense.toDoubles(product))) {
                        differing++;
                    }
                }
            }
        } finally {
            done.set(true);
            collector.join();
        }
        assertEquals(0, differing, "products that differ from the first");
    }

    /**
     * The Gauss-Newton matrix between three vectors, \( V^\top G V \), against the dense G of the
     * hand-written network (softmax cross-entropy: a full, not diagonal, output Hessian), in
     * float64, without a host read. Each entry is a sum of a few hundred float64 products of values
     * of order one, so rounding bounds the relative error near 1e-14; 1e-12 leaves a margin, as the
     * products' test above does. A vector given twice gives equal rows, and a zero vector a zero
     * row.
     */
    @Test
    void gaussNewtonGramMatchesTheDenseMatrixWithoutAHostRead() {
        Random random = new Random(17);
        double[][] x = NET.inputs(random, BATCH);
        int[] y = NET.labels(random, BATCH);
        Block block = NET.block(manager, DataType.FLOAT64, BATCH);
        BatchCurvature curvature = curvature(block, x, y, DataType.FLOAT64, Mode.EXACT);
        RealMatrix gaussNewton =
                new Array2DRowRealMatrix(NET.gaussNewton(TanhNetwork.weights(block), x));
        double[][] v = Dense.gaussian(random, 3, NET.size, 1);
        List<NDList> vectors = new ArrayList<>();
        for (double[] row : v) {
            vectors.add(
                    Vectors.split(
                            Dense.toArray(manager, row, DataType.FLOAT64), curvature.shapes()));
        }
        long start = HostReads.count();
        NDArray gram = curvature.gaussNewtonGram(vectors, manager);
        assertEquals(0, HostReads.count() - start);
        assertEquals(new Shape(3, 3), gram.getShape());
        assertEquals(DataType.FLOAT64, gram.getDataType());
        RealMatrix basis = new Array2DRowRealMatrix(v);
        double[] expected =
                flatten(basis.multiply(gaussNewton).multiply(basis.transpose()).getData());
        double error = Dense.relativeError(Dense.toDoubles(gram), expected);
        assertTrue(error < 1e-12, "relative error " + error);

        NDList zero =
                Vectors.split(
                        manager.zeros(new Shape(NET.size), DataType.FLOAT64), curvature.shapes());
        double[] twice =
                Dense.toDoubles(
                        curvature.gaussNewtonGram(
                                List.of(vectors.get(0), vectors.get(0), zero), manager));
        double single =
                Dense.toDoubles(curvature.gaussNewtonGram(List.of(vectors.get(0)), manager))[0];
        assertEquals(expected[0], single, 1e-12 * Math.abs(expected[0]));
        assertArrayEquals(
                new double[] {single, single, 0, single, single, 0, 0, 0, 0},
                twice,
                1e-12 * Math.abs(single));
    }

    /** The Gram matrix refuses what it cannot compute, naming it. */
    @Test
    void gaussNewtonGramNamesBadInput() {
        Random random = new Random(18);
        double[][] x = NET.inputs(random, BATCH);
        int[] y = NET.labels(random, BATCH);
        Block block = NET.block(manager, DataType.FLOAT64, BATCH);
        BatchCurvature exact = curvature(block, x, y, DataType.FLOAT64, Mode.EXACT);
        BatchCurvature difference =
                curvature(block, x, y, DataType.FLOAT64, Mode.FINITE_DIFFERENCE);
        NDList v =
                Vectors.split(manager.ones(new Shape(NET.size), DataType.FLOAT64), exact.shapes());
        IllegalArgumentException empty =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> exact.gaussNewtonGram(List.of(), manager));
        assertTrue(empty.getMessage().contains("vectors"), empty.getMessage());
        NDList wrong = new NDList(v.head());
        IllegalArgumentException shape =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> exact.gaussNewtonGram(List.of(v, wrong), manager));
        assertTrue(shape.getMessage().contains("vectors[1]"), shape.getMessage());
        IllegalStateException mode =
                assertThrows(
                        IllegalStateException.class,
                        () -> difference.gaussNewtonGram(List.of(v), manager));
        assertTrue(mode.getMessage().contains("EXACT"), mode.getMessage());
    }

    /**
     * The loss and gradient, at the weights and at displaced weights, against the hand-written
     * ones: rounding only.
     */
    @Test
    void lossAndGradientMatchTheHandWrittenNetwork() {
        Random random = new Random(13);
        double[][] x = NET.inputs(random, BATCH);
        int[] y = NET.labels(random, BATCH);
        Block block = NET.block(manager, DataType.FLOAT64, BATCH);
        BatchCurvature curvature = curvature(block, x, y, DataType.FLOAT64, Mode.AUTO);
        double[] w = TanhNetwork.weights(block);
        assertEquals(NET.loss(w, x, y), curvature.loss(), 1e-12);
        double[] gradient = Dense.toDoubles(Vectors.flatten(curvature.gradient(manager)));
        assertTrue(
                Dense.relativeError(gradient, NET.gradient(w, x, y)) < Tolerances.FLOAT64_RELATIVE);
        double[] step = Dense.gaussian(random, 1, NET.size, 0.1)[0];
        double[] moved = w.clone();
        for (int i = 0; i < moved.length; i++) {
            moved[i] += step[i];
        }
        NDList displacement =
                Vectors.split(Dense.toArray(manager, step, DataType.FLOAT64), curvature.shapes());
        assertEquals(NET.loss(moved, x, y), curvature.lossAt(displacement), 1e-12);
        BatchCurvature.ValueAndGradient at = curvature.valueAndGradientAt(displacement, manager);
        assertEquals(NET.loss(moved, x, y), at.value().getDouble(), 1e-12);
        assertTrue(
                Dense.relativeError(
                                Dense.toDoubles(Vectors.flatten(at.gradient())),
                                NET.gradient(moved, x, y))
                        < Tolerances.FLOAT64_RELATIVE);
    }

    /**
     * Every read goes through {@code HostReads}: a {@code double} loss reads once, the device
     * losses and the loss with its gradient at a displaced point not at all (and equal the read
     * ones), an exact product once (the check of v's norm), a finite-difference Gauss-Newton
     * product three times (adding the weights' norm and the output norms).
     */
    @Test
    void readsAreCountedAndTheDeviceLossesReadNothing() {
        Random random = new Random(16);
        double[][] x = NET.inputs(random, BATCH);
        int[] y = NET.labels(random, BATCH);
        Block block = NET.block(manager, DataType.FLOAT64, BATCH);
        BatchCurvature exact = curvature(block, x, y, DataType.FLOAT64, Mode.EXACT);
        BatchCurvature difference =
                curvature(block, x, y, DataType.FLOAT64, Mode.FINITE_DIFFERENCE);
        NDArray v = manager.randomNormal(new Shape(NET.size), DataType.FLOAT64);
        NDList displacement = Vectors.split(v.mul(0.1), exact.shapes());
        long start = HostReads.count();
        double loss = exact.loss();
        double moved = exact.lossAt(displacement);
        assertEquals(2, HostReads.count() - start);
        NDArray onDevice = exact.loss(manager);
        NDArray movedOnDevice = exact.lossAt(displacement, manager);
        BatchCurvature.ValueAndGradient at = exact.valueAndGradientAt(displacement, manager);
        assertEquals(2, HostReads.count() - start);
        assertEquals(moved, at.value().getDouble());
        assertEquals(loss, onDevice.getDouble());
        assertEquals(moved, movedOnDevice.getDouble());
        start = HostReads.count();
        exact.hessianTimes(v);
        assertEquals(1, HostReads.count() - start);
        start = HostReads.count();
        difference.gaussNewtonTimes(v);
        assertEquals(3, HostReads.count() - start);
    }

    /**
     * Products and gradients read the weights through copies: the parameters' values, gradients and
     * flags are exactly as before, in both modes and for both products.
     */
    @ParameterizedTest
    @EnumSource(
            value = Mode.class,
            names = {"EXACT", "FINITE_DIFFERENCE"})
    void productsLeaveTheParametersAndTheirGradientsUntouched(Mode mode) {
        Random random = new Random(14);
        double[][] x = NET.inputs(random, BATCH);
        int[] y = NET.labels(random, BATCH);
        Block block = NET.block(manager, DataType.FLOAT32, BATCH);
        NDList data = TanhNetwork.data(manager, x, DataType.FLOAT32);
        NDList labels = TanhNetwork.labels(manager, y, DataType.FLOAT32);
        try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
            NDList out = block.forward(new ParameterStore(manager, false), data, true);
            collector.backward(Loss.softmaxCrossEntropyLoss().evaluate(labels, out));
        }
        List<double[]> values = new ArrayList<>();
        List<double[]> gradients = new ArrayList<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            values.add(Dense.toDoubles(p.getValue().getArray()));
            gradients.add(Dense.toDoubles(p.getValue().getArray().getGradient()));
        }
        BatchCurvature curvature =
                BatchCurvature.builder()
                        .setBlock(block)
                        .setLoss(Loss.softmaxCrossEntropyLoss())
                        .setBatch(data, labels)
                        .optMode(mode)
                        .build();
        NDArray v = manager.randomNormal(new Shape(NET.size));
        curvature.hessianTimes(v);
        curvature.gaussNewtonTimes(v);
        curvature.gradient(manager);
        curvature.valueAndGradientAt(Vectors.split(v, curvature.shapes()), manager);
        int i = 0;
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray array = p.getValue().getArray();
            assertTrue(array.hasGradient());
            assertArrayEquals(values.get(i), Dense.toDoubles(array));
            assertArrayEquals(gradients.get(i), Dense.toDoubles(array.getGradient()));
            i++;
        }
    }

    /** A flat vector of any shape and a per-parameter list give the same product. */
    @Test
    void flatAndPerParameterVectorsGiveTheSameProduct() {
        Random random = new Random(15);
        double[][] x = NET.inputs(random, BATCH);
        int[] y = NET.labels(random, BATCH);
        Block block = NET.block(manager, DataType.FLOAT32, BATCH);
        BatchCurvature curvature = curvature(block, x, y, DataType.FLOAT32, Mode.AUTO);
        NDArray flat = manager.randomNormal(new Shape(NET.size));
        NDList segments = Vectors.split(flat, curvature.shapes());
        double[] fromList = Dense.toDoubles(Vectors.flatten(curvature.hessianTimes(segments)));
        NDArray column = curvature.hessianTimes(flat.reshape(NET.size, 1));
        assertEquals(new Shape(NET.size, 1), column.getShape());
        assertArrayEquals(fromList, Dense.toDoubles(column));
        assertArrayEquals(fromList, Dense.toDoubles(curvature.hessian().times(flat)));
    }

    @Test
    void badVectorsAreRejectedWithClearMessages() {
        Random random = new Random(16);
        double[][] x = NET.inputs(random, BATCH);
        int[] y = NET.labels(random, BATCH);
        Block block = NET.block(manager, DataType.FLOAT32, BATCH);
        BatchCurvature curvature = curvature(block, x, y, DataType.FLOAT32, Mode.AUTO);
        NDList good = Vectors.split(manager.ones(new Shape(NET.size)), curvature.shapes());
        assertMessage(
                "v must not be the zero vector",
                () -> curvature.hessianTimes(manager.zeros(new Shape(NET.size))));
        assertMessage(
                "v must have " + NET.size + " elements, but had shape (40)",
                () -> curvature.hessianTimes(manager.ones(new Shape(40))));
        assertMessage(
                "v must have 4 segments, but had 3",
                () -> curvature.hessianTimes(good.subNDList(0, 3)));
        NDList wrongShape = new NDList(good.get(0), manager.ones(new Shape(5)));
        wrongShape.add(good.get(2));
        wrongShape.add(good.get(3));
        assertMessage(
                "v segment 1 must have shape (4), but had shape (5)",
                () -> curvature.gaussNewtonTimes(wrongShape));
        assertMessage(
                "v must be float32, but was float64",
                () -> curvature.hessianTimes(manager.ones(new Shape(NET.size), DataType.FLOAT64)));
        NDArray nan = manager.ones(new Shape(NET.size)).mul(Float.NaN);
        assertMessage("v must be finite, but its norm was NaN", () -> curvature.hessianTimes(nan));
        assertMessage(
                "block must be set",
                () -> BatchCurvature.builder().setLoss(new HalfSquaredErrorLoss()).build());
        assertMessage(
                "block must be initialized, but parameter weight is not",
                () ->
                        BatchCurvature.builder()
                                .setBlock(Linear.builder().setUnits(2).build())
                                .setLoss(new HalfSquaredErrorLoss())
                                .setBatch(new NDList(), new NDList())
                                .build());
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }

    @Test
    void labelsThatAreTheDataStayOpenAndGiveTheLossOfACopy() {
        // an autoencoder's labels are the very arrays of its data; borrowing them twice once
        // closed them after the first evaluation
        Block block = Linear.builder().setUnits(4).build();
        block.initialize(manager, DataType.FLOAT64, new Shape(3, 4));
        NDArray x = manager.randomNormal(new Shape(3, 4), DataType.FLOAT64);
        NDList data = new NDList(x);
        BatchCurvature shared =
                BatchCurvature.builder()
                        .setBlock(block)
                        .setLoss(new HalfSquaredErrorLoss())
                        .setBatch(data, data)
                        .build();
        BatchCurvature copied =
                BatchCurvature.builder()
                        .setBlock(block)
                        .setLoss(new HalfSquaredErrorLoss())
                        .setBatch(data, new NDList(x.duplicate()))
                        .build();
        double first = shared.loss();
        NDArray v = manager.randomNormal(new Shape(shared.dimension()), DataType.FLOAT64);
        double[] product = Dense.toDoubles(shared.gaussNewtonTimes(v));
        assertTrue(!x.isReleased(), "the data were closed by an evaluation");
        // the same operations on the same values: the same float64 result
        assertEquals(copied.loss(), first, 0.0);
        assertEquals(first, shared.loss(), 0.0);
        assertArrayEquals(Dense.toDoubles(copied.gaussNewtonTimes(v)), product, 0.0);
    }

    private static double[] flatten(double[][] a) {
        double[] flat = new double[a.length * a[0].length];
        for (int i = 0; i < a.length; i++) {
            System.arraycopy(a[i], 0, flat, i * a[0].length, a[0].length);
        }
        return flat;
    }

    private BatchCurvature curvature(Block block, double[][] x, int[] y, DataType type, Mode mode) {
        return BatchCurvature.builder()
                .setBlock(block)
                .setLoss(Loss.softmaxCrossEntropyLoss())
                .setBatch(TanhNetwork.data(manager, x, type), TanhNetwork.labels(manager, y, type))
                .optMode(mode)
                .build();
    }
}
