package io.github.so4j.bench.reproduce;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.study.HessianSpectrumStudy;
import io.github.so4j.bench.workload.Workload;
import java.util.Arrays;
import java.util.Locale;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * PyHessian's analysis of a trained network, on the Fashion-MNIST MLP after one epoch of Adam: the
 * top 10 eigenvalues of the loss Hessian on a batch of 512 training examples (Lanczos), its trace
 * (Hutchinson, up to 100 probes) and its spectral density (stochastic Lanczos quadrature, 100
 * steps, Gaussian smoothing), with exact Hessian-vector products.
 */
final class HessianSpectrumRecipe implements Recipe {

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "hessian-spectrum";
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return "PyHessian-style top eigenvalues and spectral density of a trained MLP's Hessian";
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
                FashionMnistDataset train =
                        FashionMnistDataset.builder()
                                .setManager(manager)
                                .optDirectory(context.data())
                                .optSeed(0)
                                .setSampling(128, true)
                                .build();
                train.prepare();
                for (Batch batch : trainer.iterateDataset(train)) {
                    try (batch) {
                        EasyTrain.trainBatch(trainer, batch);
                        trainer.step();
                    }
                }
                FashionMnistDataset probe =
                        FashionMnistDataset.builder()
                                .setManager(manager)
                                .optDirectory(context.data())
                                .optUsage(Dataset.Usage.TRAIN)
                                .optSubset(512)
                                .setSampling(512, false)
                                .build();
                probe.prepare();
                try (Batch batch = probe.getData(manager).iterator().next()) {
                    HessianSpectrumStudy.Result result =
                            HessianSpectrumStudy.run(
                                    model.getBlock(),
                                    Workload.MLP.newLoss(),
                                    batch.getData(),
                                    batch.getLabels(),
                                    new HessianSpectrumStudy.Settings(10, 100, 1, 100, 0));
                    HessianSpectrumStudy.write(result, context.out());
                    report(context, result);
                }
            }
        }
    }

    private static void report(RecipeContext context, HessianSpectrumStudy.Result result)
            throws Exception {
        context.stdout()
                .printf(
                        Locale.ROOT,
                        "d = %d, %s products; top eigenvalues %s; trace %.4g +- %.2g (%d"
                                + " probes)%n",
                        result.dimension(),
                        result.mode(),
                        Arrays.toString(
                                Arrays.stream(result.eigenvalues())
                                        .mapToObj(v -> String.format(Locale.ROOT, "%.4g", v))
                                        .toArray()),
                        result.trace().trace(),
                        result.trace().standardError(),
                        result.trace().probes());
        double[] grid = result.density().grid();
        double[] density = result.density().density();
        double[] floored = new double[density.length];
        for (int i = 0; i < density.length; i++) {
            floored[i] = Math.max(density[i], 1e-8);
        }
        XYChart chart =
                Charts.xy(
                        "Fashion-MNIST MLP: Hessian spectral density (SLQ)",
                        "eigenvalue",
                        "density");
        chart.getStyler().setYAxisLogarithmic(true);
        chart.getStyler().setLegendVisible(false);
        // round axis ends: XChart crowds its tick labels when the ends are arbitrary decimals
        chart.getStyler().setXAxisDecimalPattern("0");
        chart.getStyler().setXAxisMin(Math.floor(grid[0] / 5) * 5);
        chart.getStyler().setXAxisMax(Math.ceil(grid[grid.length - 1] / 5) * 5);
        chart.addSeries("density", grid, floored).setMarker(SeriesMarkers.NONE);
        Charts.save(chart, context.out().resolve("hessian-spectrum.png"));
        context.stdout()
                .println(
                        "wrote "
                                + context.out().resolve("hessian-spectrum.png")
                                + ", eigenvalues.csv, trace.csv and the density CSV");
        context.stdout().flush();
    }
}
