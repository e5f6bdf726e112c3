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
 */
final class MfacPruningRecipe implements Recipe {

    private static final double[] SPARSITIES = {0.5, 0.7, 0.8, 0.9, 0.95};

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
            }
        }
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
