package io.github.so4j.bench.study;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.BatchSampler;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.dataset.SequenceSampler;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.curvature.subspace.LogisticRegression;
import io.github.so4j.optimizers.objective.Budget;
import io.github.so4j.optimizers.objective.DampedNewton;
import io.github.so4j.optimizers.objective.ZerothOrderRun;
import io.github.so4j.optimizers.objective.ZoSah;
import io.github.so4j.optimizers.objective.ZoSgd;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The zo-sah recipe (Kim et al. 2025): function evaluations to a target loss for ZO-SAH and ZO-SGD
 * on L2-regularised logistic regression, with the loss curves to plot.
 *
 * <p>{@link #shirts} builds the problem used by the integration tests: T-shirts against shirts in
 * Fashion-MNIST, on 4 x 4 block means of the pixels plus a bias (d = 50). {@link #run} finds \( f^*
 * \) with damped Newton, sets the target a given fraction of the way from \( f(0) \) to \( f^* \)
 * and runs ZO-SAH (defaults) and ZO-SGD at each given learning rate from 0.
 */
public final class ZoSahStudy {

    private ZoSahStudy() {}

    /**
     * The comparison.
     *
     * @param optimum \( f^* \)
     * @param target the target loss
     * @param sah the ZO-SAH run
     * @param sgd the ZO-SGD runs by learning rate
     */
    public record Result(
            double optimum, double target, ZerothOrderRun sah, Map<Double, ZerothOrderRun> sgd) {

        /**
         * Returns ZO-SGD's fewest evaluations to the target over its learning rates.
         *
         * @return the evaluations, or -1 if no rate reached the target
         */
        public long bestSgdEvaluations() {
            long best = -1;
            for (ZerothOrderRun run : sgd.values()) {
                long used = run.evaluationsTo(target);
                if (used > 0 && (best < 0 || used < best)) {
                    best = used;
                }
            }
            return best;
        }
    }

    /**
     * Builds the T-shirt/shirt logistic regression from the first {@code subset} training images
     * (labels: shirt 1, T-shirt 0).
     *
     * @param manager the manager of the problem's arrays
     * @param directory the Fashion-MNIST folder, or {@code null} for the default
     * @param subset how many training images to scan (about a fifth are kept)
     * @param regularization \( \lambda \)
     * @return the problem, float64
     * @throws IOException if the data cannot be read
     * @throws TranslateException if batching fails
     */
    public static LogisticRegression shirts(
            NDManager manager, Path directory, int subset, double regularization)
            throws IOException, TranslateException {
        FashionMnistDataset.Builder builder =
                FashionMnistDataset.builder()
                        .setManager(manager)
                        .optUsage(Dataset.Usage.TRAIN)
                        .optSubset(subset)
                        .optFlatten(true)
                        .setSampling(subset, false);
        if (directory != null) {
            builder.optDirectory(directory);
        }
        FashionMnistDataset data = builder.build();
        data.prepare();
        float[] images;
        float[] labels;
        try (Batch all =
                data.getData(manager, new BatchSampler(new SequenceSampler(), subset, false))
                        .iterator()
                        .next()) {
            images = all.getData().head().toFloatArray();
            labels = all.getLabels().head().toFloatArray();
        }
        int kept = 0;
        for (float label : labels) {
            if (label == 0 || label == 6) {
                kept++;
            }
        }
        double[] features = new double[kept * 50];
        double[] y = new double[kept];
        int row = 0;
        for (int n = 0; n < labels.length; n++) {
            if (labels[n] != 0 && labels[n] != 6) {
                continue;
            }
            for (int i = 0; i < 28; i++) {
                for (int j = 0; j < 28; j++) {
                    features[row * 50 + (i / 4) * 7 + j / 4] += images[n * 784 + i * 28 + j] / 16.0;
                }
            }
            features[row * 50 + 49] = 1;
            y[row] = labels[n] == 6 ? 1 : 0;
            row++;
        }
        return new LogisticRegression(
                manager.create(features, new Shape(kept, 50)), manager.create(y), regularization);
    }

    /**
     * Runs the comparison from \( x_0 = 0 \).
     *
     * @param manager the manager of the runs' arrays (on the problem's device); the returned
     *     solutions belong to it
     * @param problem the objective, float64
     * @param gapFraction the target as a fraction of the initial gap, e.g. 0.01
     * @param maxEvaluations the budget of each run
     * @param sgdRates ZO-SGD's learning rates
     * @param seed the seed of the random directions
     * @return the runs
     */
    public static Result run(
            NDManager manager,
            LogisticRegression problem,
            double gapFraction,
            long maxEvaluations,
            double[] sgdRates,
            long seed) {
        NDArray origin = manager.zeros(new Shape(problem.dimension()), DataType.FLOAT64);
        DampedNewton.Run newton = DampedNewton.builder().build().minimize(problem, origin);
        newton.solution().close();
        double optimum = newton.values()[newton.values().length - 1];
        double start = problem.value(origin);
        double target = optimum + gapFraction * (start - optimum);
        Budget budget = new Budget(maxEvaluations, target);
        ZerothOrderRun sah =
                ZoSah.builder().build().minimize(problem, origin, budget, new Random(seed));
        Map<Double, ZerothOrderRun> sgd = new LinkedHashMap<>();
        for (double rate : sgdRates) {
            sgd.put(
                    rate,
                    ZoSgd.builder()
                            .optLearningRate(rate)
                            .build()
                            .minimize(problem, origin, budget, new Random(seed)));
        }
        origin.close();
        return new Result(optimum, target, sah, sgd);
    }

    /**
     * Writes {@code curves.csv} ({@code method,learning_rate,evaluations,loss}) and {@code
     * summary.csv} ({@code optimum,target,zo_sah_evaluations,zo_sgd_best_evaluations}).
     *
     * @param result the comparison
     * @param directory the folder, created if missing
     */
    public static void write(Result result, Path directory) {
        try {
            Files.createDirectories(directory);
            StringBuilder curves = new StringBuilder("method,learning_rate,evaluations,loss\n");
            append(curves, "zo-sah", Double.NaN, result.sah());
            for (Map.Entry<Double, ZerothOrderRun> entry : result.sgd().entrySet()) {
                append(curves, "zo-sgd", entry.getKey(), entry.getValue());
            }
            Files.writeString(directory.resolve("curves.csv"), curves);
            Files.writeString(
                    directory.resolve("summary.csv"),
                    String.format(
                            Locale.ROOT,
                            "optimum,target,zo_sah_evaluations,zo_sgd_best_evaluations%n"
                                    + "%.12g,%.12g,%d,%d%n",
                            result.optimum(),
                            result.target(),
                            result.sah().evaluationsTo(result.target()),
                            result.bestSgdEvaluations()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void append(StringBuilder out, String method, double rate, ZerothOrderRun run) {
        for (int t = 0; t < run.values().length; t++) {
            out.append(
                    String.format(
                            Locale.ROOT,
                            "%s,%s,%d,%.12g%n",
                            method,
                            Double.isNaN(rate) ? "" : Double.toString(rate),
                            run.evaluations()[t],
                            run.values()[t]));
        }
    }
}
