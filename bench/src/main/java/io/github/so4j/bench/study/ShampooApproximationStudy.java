package io.github.so4j.bench.study;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.BatchSampler;
import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import ai.djl.util.Pair;
import io.github.so4j.bench.compare.BatchLossListener;
import io.github.so4j.bench.data.SeededShuffleSampler;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * Reproduces, at small scale, the approximation-quality study of "A New Perspective on Shampoo's
 * Preconditioner" (Morwani et al., ICLR 2025): how close Shampoo's Kronecker factors come to the
 * full-matrix AdaGrad statistic of a layer, over training.
 *
 * <p>An MLP 784-h<sub>1</sub>-h<sub>2</sub>-10 with ReLU (small enough that the second and third
 * layers' full statistics, (h<sub>1</sub> h<sub>2</sub>)<sup>2</sup> and (10 h<sub>2</sub>)
 * <sup>2</sup> entries, fit in memory) trains on Fashion-MNIST with DJL's Adam. After each backward
 * pass, the gradients of those two weights are added to their statistic \( H = \sum_t
 * \operatorname{vec}(G_t) \operatorname{vec}(G_t)^\top \) (see {@link KroneckerApproximation});
 * every few steps, the study reports, per layer, the cosine similarity to H of Shampoo's \( (L
 * \otimes R)^{1/2} \), of the optimal Kronecker product and of one power-iteration step \( L
 * \otimes R \). The paper finds the one-step approximation close to the optimum and well above
 * Shampoo's own.
 *
 * <p><b>Cost</b>: training at the MLP's usual cost plus (h<sub>1</sub> h<sub>2</sub>)<sup>2</sup>
 * multiply-adds per step for H, and at each report O((h<sub>1</sub> h<sub>2</sub>)<sup>2</sup>) per
 * power-iteration step on the host.
 *
 * @see <a href="https://arxiv.org/abs/2406.17748">paper</a>
 */
public final class ShampooApproximationStudy {

    /**
     * What to run.
     *
     * @param firstHidden h<sub>1</sub>, at least 1
     * @param secondHidden h<sub>2</sub>, at least 1, with h<sub>1</sub> h<sub>2</sub> &le; 4096
     * @param steps the number of training steps, at least 1
     * @param every the interval between reports, in steps, at least 1
     * @param batchSize the batch size, at least 1
     * @param seed the seed of the initialization and of the batch order
     * @param learningRate Adam's learning rate, positive
     */
    public record Settings(
            int firstHidden,
            int secondHidden,
            int steps,
            int every,
            int batchSize,
            long seed,
            float learningRate) {

        /** The settings of {@code docs/shampoo-approximation.md}. */
        public static final Settings DEFAULT = new Settings(32, 16, 500, 50, 128, 0, 1e-3f);

        /**
         * Validates the settings.
         *
         * @param firstHidden h<sub>1</sub>
         * @param secondHidden h<sub>2</sub>
         * @param steps the number of steps
         * @param every the report interval
         * @param batchSize the batch size
         * @param seed the seed
         * @param learningRate the learning rate
         * @throws IllegalArgumentException naming the setting and its value if one is invalid
         */
        public Settings {
            if (firstHidden < 1 || secondHidden < 1 || firstHidden * (long) secondHidden > 4096) {
                throw new IllegalArgumentException(
                        "hidden sizes must be at least 1 with a product of at most 4096, but were "
                                + firstHidden
                                + " and "
                                + secondHidden);
            }
            if (steps < 1) {
                throw new IllegalArgumentException("steps must be at least 1, but was " + steps);
            }
            if (every < 1) {
                throw new IllegalArgumentException("every must be at least 1, but was " + every);
            }
            if (batchSize < 1) {
                throw new IllegalArgumentException(
                        "batchSize must be at least 1, but was " + batchSize);
            }
            if (!(learningRate > 0) || Float.isInfinite(learningRate)) {
                throw new IllegalArgumentException(
                        "learningRate must be positive and finite, but was " + learningRate);
            }
        }
    }

    /**
     * One report for one layer.
     *
     * @param step the number of gradients in H so far
     * @param layer the layer, e.g. {@code "layer 2 (16 x 32)"} for the second Linear layer's weight
     * @param trainLoss the mean training loss of the last batch
     * @param cosines the three cosine similarities
     */
    public record Row(
            int step, String layer, double trainLoss, KroneckerApproximation.Cosines cosines) {}

    private ShampooApproximationStudy() {}

    /**
     * Trains and measures.
     *
     * @param settings what to run
     * @param train the training set (flattened images; its own sampler is not used)
     * @param device the device to train on
     * @return one row per layer and report, in step order
     * @throws IOException if the data cannot be read
     * @throws TranslateException if batching fails
     */
    public static List<Row> run(Settings settings, RandomAccessDataset train, Device device)
            throws IOException, TranslateException {
        Engine.getInstance().setRandomSeed(Math.toIntExact(settings.seed()));
        List<Row> rows = new ArrayList<>();
        try (Model model = Model.newInstance("shampoo-study", device)) {
            model.setBlock(
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(settings.firstHidden()).build())
                            .add(Activation::relu)
                            .add(Linear.builder().setUnits(settings.secondHidden()).build())
                            .add(Activation::relu)
                            .add(Linear.builder().setUnits(10).build()));
            Optimizer adam =
                    Optimizer.adam()
                            .optLearningRateTracker(Tracker.fixed(settings.learningRate()))
                            .build();
            BatchLossListener batchLoss = new BatchLossListener();
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                            .optOptimizer(adam)
                            .optDevices(new Device[] {device})
                            .addTrainingListeners(batchLoss);
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(1, 784));
                List<Parameter> weights = studiedWeights(model);
                List<KroneckerApproximation> statistics = new ArrayList<>();
                List<String> names = new ArrayList<>();
                for (Parameter weight : weights) {
                    Shape shape = weight.getArray().getShape();
                    int m = Math.toIntExact(shape.get(0));
                    int n = Math.toIntExact(shape.get(1));
                    statistics.add(new KroneckerApproximation(m, n));
                    names.add("layer " + (names.size() + 2) + " (" + m + " x " + n + ")");
                }
                BatchSampler sampler =
                        new BatchSampler(
                                new SeededShuffleSampler(settings.seed()),
                                settings.batchSize(),
                                false);
                Iterator<Batch> batches = null;
                for (int step = 1; step <= settings.steps(); step++) {
                    if (batches == null || !batches.hasNext()) {
                        batches = train.getData(trainer.getManager(), sampler).iterator();
                    }
                    double loss;
                    try (Batch batch = batches.next()) {
                        EasyTrain.trainBatch(trainer, batch);
                        for (int i = 0; i < weights.size(); i++) {
                            try (NDArray gradient = weights.get(i).getArray().getGradient();
                                    NDArray doubles = gradient.toType(DataType.FLOAT64, false)) {
                                statistics.get(i).add(doubles.toDoubleArray());
                            }
                        }
                        loss = batchLoss.take();
                        trainer.step();
                    }
                    if (step % settings.every() == 0 || step == settings.steps()) {
                        for (int i = 0; i < weights.size(); i++) {
                            rows.add(
                                    new Row(step, names.get(i), loss, statistics.get(i).cosines()));
                        }
                    }
                }
            }
        }
        return rows;
    }

    /** The weights of the second and third Linear layers, in model order. */
    private static List<Parameter> studiedWeights(Model model) {
        List<Parameter> weights = new ArrayList<>();
        for (Pair<String, Parameter> pair : model.getBlock().getParameters()) {
            Parameter parameter = pair.getValue();
            if (parameter.getArray().getShape().dimension() == 2) {
                weights.add(parameter);
            }
        }
        return weights.subList(1, 3);
    }

    /**
     * Formats rows as a Markdown table.
     *
     * @param rows the rows, from {@link #run}
     * @return the table, one line per row, with a header
     */
    public static String markdown(List<Row> rows) {
        StringBuilder table = new StringBuilder();
        table.append("| step | layer | batch loss | Shampoo (L⊗R)^1/2 | optimal Kronecker |")
                .append(" one step L⊗R (Shampoo²) | power-iteration steps |\n")
                .append("|---:|---|---:|---:|---:|---:|---:|\n");
        for (Row row : rows) {
            KroneckerApproximation.Cosines c = row.cosines();
            table.append(
                    String.format(
                            Locale.ROOT,
                            "| %d | %s | %.4f | %.4f | %.4f | %.4f | %d |%n",
                            row.step(),
                            row.layer(),
                            row.trainLoss(),
                            c.shampoo(),
                            c.optimal(),
                            c.oneStep(),
                            c.powerIterations()));
        }
        return table.toString();
    }
}
