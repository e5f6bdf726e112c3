package io.github.so4j.bench.reproduce;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.bench.compare.Evaluation;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.curvature.pruning.MagnitudePruner;
import io.github.so4j.curvature.pruning.ObsPruner;
import io.github.so4j.curvature.pruning.PrunableWeights;
import io.github.so4j.curvature.pruning.Pruner;
import io.github.so4j.curvature.pruning.TrainerGradientSource;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Locale;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;

/**
 * The M-FAC paper's one-shot pruning comparison, at Fashion-MNIST scale: the MLP trained two epochs
 * with Adam, then its weight matrices pruned to each sparsity from the same trained weights without
 * fine-tuning, by M-FAC OBS (m = 64 gradients of batch 32, blocks of 128, damping 1e-5, 8
 * recomputations) and by global magnitude; test accuracy against sparsity.
 *
 * <p>Verdict ({@link #verdict}): with the gap the OBS accuracy minus the magnitude accuracy in
 * percentage points, reproduced when the gap is at least {@value #SIGNIFICANT_PP} at the highest
 * sparsity and above -{@value #TIE_PP} at every sparsity, partly reproduced when it is at least
 * {@value #SIGNIFICANT_PP} at some sparsity, not reproduced otherwise.
 */
final class MfacPruningRecipe implements Recipe {

    private static final double[] SPARSITIES = {0.5, 0.7, 0.8, 0.9, 0.95};

    /** A margin in percentage points that counts as OBS keeping more accuracy. */
    static final double SIGNIFICANT_PP = 1.0;

    /**
     * How far in percentage points OBS may trail magnitude at a sparsity and still count as even.
     */
    static final double TIE_PP = 0.5;

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "mfac-pruning";
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return "M-FAC paper: test accuracy against sparsity, M-FAC OBS against magnitude pruning";
    }

    /** {@inheritDoc} */
    @Override
    public void run(RecipeContext context) throws Exception {
        Engine.getInstance().setRandomSeed(0);
        try (NDManager manager = NDManager.newBaseManager(context.device());
                Model model = Model.newInstance("mlp", context.device())) {
            model.setBlock(Workload.MLP.newBlock());
            Optimizer adam = Optimizer.adam().optLearningRateTracker(Tracker.fixed(1e-3f)).build();
            try (Trainer trainer =
                    model.newTrainer(
                            new DefaultTrainingConfig(Workload.MLP.newLoss()).optOptimizer(adam))) {
                trainer.initialize(Workload.MLP.inputShape());
                FashionMnistDataset train = data(manager, context, Dataset.Usage.TRAIN, 128);
                FashionMnistDataset test = data(manager, context, Dataset.Usage.TEST, 1000);
                FashionMnistDataset gradients = data(manager, context, Dataset.Usage.TRAIN, 32);
                for (int epoch = 0; epoch < 2; epoch++) {
                    for (Batch batch : trainer.iterateDataset(train)) {
                        try (batch) {
                            EasyTrain.trainBatch(trainer, batch);
                            trainer.step();
                        }
                    }
                }
                double dense = Evaluation.of(trainer, test, true).accuracy();
                NDArray trained;
                try (PrunableWeights weights = PrunableWeights.weightsOf(model.getBlock())) {
                    trained = weights.values(manager);
                }
                double[] magnitude = new double[SPARSITIES.length];
                double[] obs = new double[SPARSITIES.length];
                for (int i = 0; i < SPARSITIES.length; i++) {
                    magnitude[i] =
                            prunedAccuracy(
                                    model,
                                    trainer,
                                    test,
                                    trained,
                                    new MagnitudePruner(),
                                    SPARSITIES[i]);
                    ObsPruner pruner =
                            ObsPruner.builder()
                                    .setGradientSource(
                                            new TrainerGradientSource(trainer, gradients))
                                    .optGradients(64)
                                    .optBlockSize(128)
                                    .optDamping(1e-5)
                                    .optRecomputations(8)
                                    .build();
                    obs[i] = prunedAccuracy(model, trainer, test, trained, pruner, SPARSITIES[i]);
                    context.stdout()
                            .printf(
                                    Locale.ROOT,
                                    "sparsity %.2f: magnitude %.2f%%, M-FAC OBS %.2f%%%n",
                                    SPARSITIES[i],
                                    100 * magnitude[i],
                                    100 * obs[i]);
                    context.stdout().flush();
                }
                write(context, dense, magnitude, obs);
                verdict(SPARSITIES, magnitude, obs).report(context);
            }
        }
    }

    /**
     * Decides the verdict from the accuracies after pruning.
     *
     * @param sparsities the sparsities, in increasing order
     * @param magnitude the test accuracy after magnitude pruning to each, in [0, 1]
     * @param obs the test accuracy after M-FAC OBS pruning to each, in [0, 1]
     * @return the verdict
     * @throws IllegalArgumentException if the arrays are empty or differ in length
     */
    static Verdict verdict(double[] sparsities, double[] magnitude, double[] obs) {
        if (sparsities.length == 0
                || magnitude.length != sparsities.length
                || obs.length != sparsities.length) {
            throw new IllegalArgumentException(
                    "one accuracy per sparsity is needed, but got "
                            + sparsities.length
                            + " sparsities, "
                            + magnitude.length
                            + " and "
                            + obs.length
                            + " accuracies");
        }
        boolean even = true;
        boolean somewhere = false;
        StringBuilder measured = new StringBuilder("test accuracy, M-FAC OBS against magnitude: ");
        for (int i = 0; i < sparsities.length; i++) {
            double gap = 100 * (obs[i] - magnitude[i]);
            even &= gap > -TIE_PP;
            somewhere |= gap >= SIGNIFICANT_PP;
            measured.append(
                    String.format(
                            Locale.ROOT,
                            "%s%.0f%% sparse %.2f%% against %.2f%% (%+.2f)",
                            i == 0 ? "" : "; ",
                            100 * sparsities[i],
                            100 * obs[i],
                            100 * magnitude[i],
                            gap));
        }
        int last = sparsities.length - 1;
        boolean atHighest = 100 * (obs[last] - magnitude[last]) >= SIGNIFICANT_PP;
        return new Verdict(
                "One-shot pruning with M-FAC's inverse-Fisher products (OBS) keeps more accuracy"
                        + " than magnitude pruning, and the more so the higher the sparsity"
                        + " (Frantar, Kurtic and Alistarh, \"M-FAC: Efficient Matrix-Free"
                        + " Approximations of Second-Order Information\", NeurIPS 2021).",
                measured.toString(),
                Verdict.Outcome.of(atHighest && even, somewhere),
                String.format(
                        Locale.ROOT,
                        "the gap is OBS's test accuracy minus magnitude's in percentage points:"
                                + " reproduced when it is at least %.1f at the highest sparsity and"
                                + " above -%.1f at every sparsity, partly reproduced when it is at"
                                + " least %.1f at some sparsity, not reproduced otherwise.",
                        SIGNIFICANT_PP,
                        TIE_PP,
                        SIGNIFICANT_PP));
    }

    private static double prunedAccuracy(
            Model model,
            Trainer trainer,
            FashionMnistDataset test,
            NDArray trained,
            Pruner pruner,
            double sparsity)
            throws Exception {
        try (PrunableWeights weights = PrunableWeights.weightsOf(model.getBlock())) {
            weights.write(trained);
            pruner.prune(weights, sparsity);
            return Evaluation.of(trainer, test, true).accuracy();
        }
    }

    private static FashionMnistDataset data(
            NDManager manager, RecipeContext context, Dataset.Usage usage, int batch)
            throws Exception {
        FashionMnistDataset dataset =
                FashionMnistDataset.builder()
                        .setManager(manager)
                        .optDirectory(context.data())
                        .optUsage(usage)
                        .optSeed(0)
                        .setSampling(batch, usage == Dataset.Usage.TRAIN)
                        .build();
        dataset.prepare();
        return dataset;
    }

    private static void write(RecipeContext context, double dense, double[] magnitude, double[] obs)
            throws Exception {
        try (Writer csv =
                Files.newBufferedWriter(
                        context.out().resolve("mfac-pruning.csv"), StandardCharsets.UTF_8)) {
            csv.write("sparsity,magnitude_accuracy,obs_accuracy,dense_accuracy\n");
            for (int i = 0; i < SPARSITIES.length; i++) {
                csv.write(
                        String.format(
                                Locale.ROOT,
                                "%.2f,%.4f,%.4f,%.4f%n",
                                SPARSITIES[i],
                                magnitude[i],
                                obs[i],
                                dense));
            }
        }
        XYChart chart =
                new XYChartBuilder()
                        .width(800)
                        .height(500)
                        .title(
                                "Fashion-MNIST MLP, one-shot pruning (dense "
                                        + String.format(Locale.ROOT, "%.1f%%", 100 * dense)
                                        + ")")
                        .xAxisTitle("sparsity of the weight matrices")
                        .yAxisTitle("test accuracy")
                        .build();
        chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        chart.addSeries("M-FAC OBS", SPARSITIES, obs);
        chart.addSeries("magnitude", SPARSITIES, magnitude);
        BitmapEncoder.saveBitmap(
                chart,
                context.out().resolve("mfac-pruning.png").toString(),
                BitmapEncoder.BitmapFormat.PNG);
        context.stdout()
                .printf(
                        Locale.ROOT,
                        "dense %.2f%%; wrote %s and mfac-pruning.csv%n",
                        100 * dense,
                        context.out().resolve("mfac-pruning.png"));
        context.stdout().flush();
    }
}
