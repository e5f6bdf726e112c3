package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.GradientCollector;
import ai.djl.training.LocalParameterServer;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.translate.Batchifier;
import ai.djl.util.Pair;
import io.github.so4j.curvature.RecordedScalars;
import io.github.so4j.curvature.kfac.LossAverage;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.Tolerances;
import io.github.so4j.optimizers.kfac.CapturedLayer;
import io.github.so4j.optimizers.kfac.LabelSampler;
import io.github.so4j.optimizers.kfac.MonteCarloFisher;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * K-FAC's factors for {@code Linear} layers applied to sequences, (N, T, p) inputs with one label
 * per token and DJL's softmax cross-entropy (the mean over the R = N T tokens), against a per-token
 * brute force in float64.
 *
 * <p><b>What the brute force computes.</b> With the weights of the model, and code of its own (a
 * separate forward written with per-head slices instead of the model's reshapes, every covered
 * layer computing \( a W^\top + b \) plus a zero probe), it takes each sequence n alone and, for
 * each token t of it, runs a forward and the backward of that token's loss \( \ell_{n,t} = -\log
 * \mathrm{softmax}(z_{n,t})_{y_{n,t}} \) alone, neither averaged nor scaled. The probes' gradients
 * are then \( \partial \ell_{n,t} / \partial y_{n,t'} \) for every token t' of the sequence; their
 * sum over t is \( g_{n,t'} = \partial (\sum_t \ell_{n,t}) / \partial y_{n,t'} \), what a token's
 * output contributes to the losses of its sequence (for the token MLP only t = t' is nonzero;
 * through causal attention, the tokens after t' contribute too, as the expand setting defines it).
 * Then, in Commons Math over the R tokens,
 *
 * <p>\( A = \frac{1}{R} \sum_{n,t} \bar a_{n,t} \bar a_{n,t}^\top \) (\( \bar a = [a; 1] \)), \( G
 * = \frac{1}{R} \sum_{n,t} g_{n,t} g_{n,t}^\top \).
 *
 * <p>K-FAC's side is one step of the instrumented model through DJL's training path (factor updates
 * every step, learning rate 0); the first update takes the statistics as they are. With the Monte
 * Carlo Fisher, the brute force uses the labels that the sampler drew (one per token).
 *
 * <p><b>Tolerances.</b> Float64 models: both sides are float64 sums of at most a few hundred
 * well-scaled products, agreeing to about \( 10^{-15} \); {@link Tolerances#FLOAT64_RELATIVE}
 * (1e-9) leaves six digits. Float32 models against the float64 brute force: see {@link #FLOAT32}.
 */
class KfacSequenceTest {

    private static final int N = 3;
    private static final int T = 4;
    private static final int P = 3;
    private static final int WIDTH = 4;
    private static final int CLASSES = 5;
    private static final int R = N * T;

    /**
     * The tolerance of a float32 model's factors against the float64 brute force (same weights and
     * inputs, both exact in float32), from a first-order error model. Every entry of a layer's
     * input or output gradient comes out of a chain of at most about L = 40 float32 operations in
     * these models (a dot product of length k ≤ 5 counting k), each adding at most \( u = 2^{-24}
     * \) relative error, amplified by at most a small factor \( \kappa \) (tanh, softmax and their
     * derivatives have condition numbers of a few on these N(0, 1) inputs): rows are good to \( L
     * \kappa u \). A factor is a Gram sum of R = 12 such rows: the product doubles the rows' error
     * and the sum adds \( \gamma_{12} \approx 12 u \), so in norm \( (2 L \kappa + 12) u = 252 u \)
     * for \( \kappa = 3 \); the tolerance is 256 u, about 1.5e-5. (Measured: at most 13 u, on the G
     * of the key projection.) A wrong scaling is off by a factor of T = 4 or more, a missing or
     * doubled row by far more than the tolerance.
     */
    static final double FLOAT32 = 256 * Tolerances.FLOAT32_UNIT_ROUNDOFF;

    enum Architecture {
        TOKEN_MLP,
        ATTENTION
    }

    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (Architecture architecture : Architecture.values()) {
            for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32}) {
                for (Kfac.Fisher fisher : Kfac.Fisher.values()) {
                    cases.add(Arguments.of(architecture, type, fisher));
                }
            }
        }
        return cases.stream();
    }

    /**
     * Every covered layer's A and G after one step equal the per-token brute force: the token MLP
     * (2 layers) and the attention model (6 layers: input, query, key, value, output, last),
     * float64 and float32, with the training labels (empirical Fisher) and with labels drawn per
     * token (Monte Carlo).
     */
    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void factorsEqualPerTokenBruteForce(
            Architecture architecture, DataType type, Kfac.Fisher fisher) {
        Kfac kfac =
                Kfac.builder()
                        .optLearningRate(0)
                        .optFactorUpdateFrequency(1)
                        .optFisher(fisher)
                        .optSeed(3)
                        .build();
        Random random = new Random(43);
        double[] x = gaussian(random, R * P);
        double[] labels = classes(random);
        double tolerance = type == DataType.FLOAT64 ? Tolerances.FLOAT64_RELATIVE : FLOAT32;
        try (Net net = new Net(build(architecture), kfac, type)) {
            List<CapturedLayer> layers = kfac.instrumentation().layers();
            assertEquals(architecture == Architecture.TOKEN_MLP ? 2 : 6, layers.size());
            Weights weights = Weights.of(layers);
            double[][] drawn = new double[1][];
            LabelSampler sampler = null;
            if (fisher == Kfac.Fisher.MONTE_CARLO) {
                LabelSampler softmax = LabelSampler.softmaxCrossEntropy();
                sampler =
                        (predictions, generator) -> {
                            NDList draw = softmax.sample(predictions, generator);
                            assertEquals(new Shape(N, T), draw.head().getShape());
                            drawn[0] = Dense.toDoubles(draw.head());
                            return draw;
                        };
            }
            double[] modelLogits = net.logits(x);
            net.step(x, labels, sampler, kfac);
            double[] used = fisher == Kfac.Fisher.MONTE_CARLO ? drawn[0] : labels;
            BruteForce expected = bruteForce(architecture, weights, x, used);
            double logitError = Dense.relativeError(modelLogits, expected.logits);
            assertTrue(logitError < tolerance, "logits relative error " + logitError);
            for (int l = 0; l < layers.size(); l++) {
                var factors = kfac.curvatureBlock(layers.get(l)).factors();
                double errorA = relativeError(factors.inputFactor(), expected.a.get(l));
                double errorG = relativeError(factors.outputFactor(), expected.g.get(l));
                assertTrue(errorA < tolerance, layers.get(l) + ": A relative error " + errorA);
                assertTrue(errorG < tolerance, layers.get(l) + ": G relative error " + errorG);
            }
        }
    }

    /**
     * With {@link LossAverage#EXAMPLES} the same rows are read as KFC reads a convolution's
     * positions: A is T times the per-token A and G is the per-token G over T<sup>2</sup>, so their
     * product is the per-token Fisher over T (float64, token MLP, empirical Fisher).
     */
    @Test
    void examplesReadTheTokensAsPositionsOfTheirSequence() {
        Kfac kfac =
                Kfac.builder()
                        .optLearningRate(0)
                        .optFactorUpdateFrequency(1)
                        .optLossAverage(LossAverage.EXAMPLES)
                        .build();
        Random random = new Random(44);
        double[] x = gaussian(random, R * P);
        double[] labels = classes(random);
        try (Net net = new Net(build(Architecture.TOKEN_MLP), kfac, DataType.FLOAT64)) {
            List<CapturedLayer> layers = kfac.instrumentation().layers();
            Weights weights = Weights.of(layers);
            net.step(x, labels, null, kfac);
            BruteForce expected = bruteForce(Architecture.TOKEN_MLP, weights, x, labels);
            for (int l = 0; l < layers.size(); l++) {
                var factors = kfac.curvatureBlock(layers.get(l)).factors();
                double errorA =
                        relativeError(factors.inputFactor(), expected.a.get(l).scalarMultiply(T));
                double errorG =
                        relativeError(
                                factors.outputFactor(),
                                expected.g.get(l).scalarMultiply(1.0 / (T * T)));
                assertTrue(errorA < Tolerances.FLOAT64_RELATIVE, "A relative error " + errorA);
                assertTrue(errorG < Tolerances.FLOAT64_RELATIVE, "G relative error " + errorG);
            }
        }
    }

    /** Tokens are the examples by default; a null setting fails in build(). */
    @Test
    void lossAverageDefaultsToRowsAndIsChecked() {
        assertEquals(LossAverage.ROWS, Kfac.builder().build().getLossAverage());
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> Kfac.builder().optLossAverage(null).build());
        assertEquals(
                "inversion, fisher, weightDecayMode and lossAverage must not be null",
                e.getMessage());
    }

    private static Block build(Architecture architecture) {
        return architecture == Architecture.TOKEN_MLP
                ? SequenceModels.tokenMlp(WIDTH, CLASSES)
                : SequenceModels.attention(WIDTH, CLASSES);
    }

    /** N(0, 1) values rounded to float32, so that float32 and float64 models see the same data. */
    private static double[] gaussian(Random random, int size) {
        double[] v = new double[size];
        for (int i = 0; i < size; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }

    private static double[] classes(Random random) {
        double[] y = new double[R];
        for (int i = 0; i < R; i++) {
            y[i] = random.nextInt(CLASSES);
        }
        return y;
    }

    /** The covered layers' weights and biases, as float64 host copies, in tree order. */
    private record Weights(List<double[]> weights, List<Shape> shapes, List<double[]> biases) {

        static Weights of(List<CapturedLayer> layers) {
            List<double[]> w = new ArrayList<>();
            List<Shape> s = new ArrayList<>();
            List<double[]> b = new ArrayList<>();
            for (CapturedLayer layer : layers) {
                w.add(Dense.toDoubles(layer.weight().getArray()));
                s.add(layer.weight().getArray().getShape());
                b.add(Dense.toDoubles(layer.bias().getArray()));
            }
            return new Weights(w, s, b);
        }
    }

    /**
     * A model through DJL's training path: a {@link Trainer} for the forward and backward passes
     * ({@link EasyTrain#trainBatch}, or {@link MonteCarloFisher#trainBatch}), and the optimizer
     * applied through a {@link ParameterStore} with DJL's {@link LocalParameterServer}, as {@code
     * Trainer.step()} does without its float32-only gradient check.
     */
    private static final class Net implements AutoCloseable {

        private final Model model;
        private final Trainer trainer;
        private final ParameterStore store;
        private final Block block;
        private final DataType type;

        Net(Block block, Kfac kfac, DataType type) {
            this.type = type;
            model = Model.newInstance("sequence");
            model.setDataType(type);
            this.block = kfac.instrument(block);
            model.setBlock(this.block);
            trainer =
                    model.newTrainer(
                            new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                                    .optOptimizer(kfac));
            trainer.initialize(new Shape(N, T, P));
            store = new ParameterStore(trainer.getManager(), false);
            store.setParameterServer(new LocalParameterServer(kfac), trainer.getDevices());
            Device device = trainer.getDevices()[0];
            for (Pair<String, Parameter> p : this.block.getParameters()) {
                store.getValue(p.getValue(), device, true);
            }
        }

        /** The model's logits on x, (N, T, classes) flattened, in inference. */
        double[] logits(double[] x) {
            try (NDManager scope = trainer.getManager().newSubManager()) {
                NDArray input = scope.create(x, new Shape(N, T, P)).toType(type, false);
                return Dense.toDoubles(block.forward(store, new NDList(input), false).head());
            }
        }

        /** One step: the sampled pass if a sampler is given, the training pass, the update. */
        void step(double[] x, double[] labels, LabelSampler sampler, Kfac kfac) {
            try (NDManager scope = trainer.getManager().newSubManager()) {
                NDArray input = scope.create(x, new Shape(N, T, P)).toType(type, false);
                NDArray y = scope.create(labels, new Shape(N, T, 1)).toType(type, false);
                Batch batch =
                        new Batch(
                                scope,
                                new NDList(input),
                                new NDList(y),
                                N,
                                Batchifier.STACK,
                                Batchifier.STACK,
                                0,
                                0);
                if (sampler == null) {
                    EasyTrain.trainBatch(trainer, batch);
                } else {
                    MonteCarloFisher.trainBatch(trainer, batch, kfac.instrumentation(), sampler);
                }
                store.updateAllParameters();
            }
        }

        @Override
        public void close() {
            trainer.close();
            model.close();
        }
    }

    private record BruteForce(double[] logits, List<RealMatrix> a, List<RealMatrix> g) {}

    /** The per-token brute force described in the class documentation. */
    private static BruteForce bruteForce(
            Architecture architecture, Weights weights, double[] x, double[] labels) {
        int layers = weights.weights().size();
        RealMatrix[] a = new RealMatrix[layers];
        RealMatrix[] g = new RealMatrix[layers];
        double[] logits = new double[R * CLASSES];
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray[] w = new NDArray[layers];
            NDArray[] b = new NDArray[layers];
            for (int l = 0; l < layers; l++) {
                w[l] = manager.create(weights.weights().get(l), weights.shapes().get(l));
                b[l] = manager.create(weights.biases().get(l));
                long q = weights.shapes().get(l).get(0);
                long p = weights.shapes().get(l).get(1) + 1;
                a[l] = new Array2DRowRealMatrix((int) p, (int) p);
                g[l] = new Array2DRowRealMatrix((int) q, (int) q);
            }
            for (int n = 0; n < N; n++) {
                double[] sequence = new double[T * P];
                System.arraycopy(x, n * T * P, sequence, 0, T * P);
                double[][][] gradients = new double[layers][][];
                for (int t = 0; t < T; t++) {
                    try (NDManager scope = manager.newSubManager()) {
                        NDArray input = scope.create(sequence, new Shape(1, T, P));
                        NDArray[] probes = new NDArray[layers];
                        NDArray[] inputs = new NDArray[layers];
                        for (int l = 0; l < layers; l++) {
                            probes[l] =
                                    scope.zeros(
                                            new Shape(1, T, w[l].getShape().get(0)),
                                            DataType.FLOAT64);
                            probes[l].setRequiresGradient(true);
                        }
                        try (GradientCollector collector =
                                manager.getEngine().newGradientCollector()) {
                            NDArray z = reference(architecture, w, b, input, probes, inputs, scope);
                            int label = (int) labels[n * T + t];
                            NDArray loss = z.get(0, t).logSoftmax(0).get(label).neg();
                            collector.backward(loss);
                            if (t == 0) {
                                double[] flat = z.toDoubleArray();
                                System.arraycopy(flat, 0, logits, n * T * CLASSES, T * CLASSES);
                            }
                        }
                        for (int l = 0; l < layers; l++) {
                            double[][] d = rows(probes[l].getGradient());
                            if (gradients[l] == null) {
                                gradients[l] = d;
                            } else {
                                for (int i = 0; i < T; i++) {
                                    for (int j = 0; j < d[i].length; j++) {
                                        gradients[l][i][j] += d[i][j];
                                    }
                                }
                            }
                            if (t == 0) {
                                a[l] = a[l].add(gram(withOnes(rows(inputs[l]))));
                            }
                        }
                    }
                }
                for (int l = 0; l < layers; l++) {
                    g[l] = g[l].add(gram(gradients[l]));
                }
            }
        }
        List<RealMatrix> as = new ArrayList<>();
        List<RealMatrix> gs = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            as.add(a[l].scalarMultiply(1.0 / R));
            gs.add(g[l].scalarMultiply(1.0 / R));
        }
        return new BruteForce(logits, as, gs);
    }

    /**
     * The brute force's forward of one sequence (1, T, P): every covered layer l computes \( a
     * W_l^\top + b_l \) plus its probe, its input kept in {@code inputs[l]}; attention by explicit
     * per-head slices.
     */
    private static NDArray reference(
            Architecture architecture,
            NDArray[] w,
            NDArray[] b,
            NDArray x,
            NDArray[] probes,
            NDArray[] inputs,
            NDManager scope) {
        if (architecture == Architecture.TOKEN_MLP) {
            NDArray h = dense(0, x, w, b, probes, inputs).tanh();
            return dense(1, h, w, b, probes, inputs);
        }
        NDArray h = dense(0, x, w, b, probes, inputs);
        NDArray q = dense(1, h, w, b, probes, inputs);
        NDArray k = dense(2, h, w, b, probes, inputs);
        NDArray v = dense(3, h, w, b, probes, inputs);
        int heads = 2;
        int size = WIDTH / heads;
        NDArray mask =
                SequenceModels.CausalSelfAttention.mask(scope, T, DataType.FLOAT64)
                        .reshape(1, T, T);
        NDList perHead = new NDList();
        for (int head = 0; head < heads; head++) {
            String slice = ":, :, " + head * size + ":" + (head + 1) * size;
            NDArray qh = q.get(slice);
            NDArray kh = k.get(slice);
            NDArray vh = v.get(slice);
            NDArray scores =
                    RecordedScalars.div(qh.matMul(kh.transpose(0, 2, 1)), Math.sqrt(size))
                            .add(mask);
            perHead.add(scores.softmax(2).matMul(vh));
        }
        NDArray attended = perHead.get(0).concat(perHead.get(1), 2);
        NDArray o = dense(4, attended, w, b, probes, inputs);
        return dense(5, h.add(o).tanh(), w, b, probes, inputs);
    }

    private static NDArray dense(
            int l, NDArray a, NDArray[] w, NDArray[] b, NDArray[] probes, NDArray[] inputs) {
        inputs[l] = a;
        return a.matMul(w[l].transpose()).add(b[l]).add(probes[l]);
    }

    /** (1, T, k) as T rows of k. */
    private static double[][] rows(NDArray array) {
        int k = (int) array.getShape().get(2);
        double[] flat = array.toDoubleArray();
        double[][] rows = new double[T][k];
        for (int i = 0; i < T; i++) {
            System.arraycopy(flat, i * k, rows[i], 0, k);
        }
        return rows;
    }

    private static double[][] withOnes(double[][] rows) {
        double[][] out = new double[rows.length][];
        for (int r = 0; r < rows.length; r++) {
            out[r] = java.util.Arrays.copyOf(rows[r], rows[r].length + 1);
            out[r][rows[r].length] = 1;
        }
        return out;
    }

    private static RealMatrix gram(double[][] rows) {
        RealMatrix m = new Array2DRowRealMatrix(rows, false);
        return m.transpose().multiply(m);
    }

    private static double relativeError(NDArray actual, RealMatrix expected) {
        double[] a = Dense.toDoubles(actual);
        double[] e = new double[a.length];
        int columns = expected.getColumnDimension();
        for (int i = 0; i < expected.getRowDimension(); i++) {
            for (int j = 0; j < columns; j++) {
                e[i * columns + j] = expected.getEntry(i, j);
            }
        }
        return Dense.relativeError(a, e);
    }
}
