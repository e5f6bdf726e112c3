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
 *
 * <p>Verdict ({@link #verdict}): the claim has two parts, a bulk near zero (at least {@value
 * #BULK_MASS} of the spectral density's mass within {@value #NEAR_ZERO} λ1 of zero) and outliers
 * (λ1 at least {@value #OUTLIER_RATIO} times the mean eigenvalue, trace / d); reproduced when both
 * hold, partly reproduced when one does, not reproduced when neither does.
 */
final class HessianSpectrumRecipe implements Recipe {

    /** The share of the density's mass that must lie near zero for a bulk there. */
    static final double BULK_MASS = 0.9;

    /** Near zero: within this fraction of the top eigenvalue. */
    static final double NEAR_ZERO = 0.05;

    /** How many times the mean eigenvalue the top one must be to stand out. */
    static final double OUTLIER_RATIO = 100;

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
                    verdict(
                                    result.eigenvalues()[0],
                                    result.trace().trace(),
                                    result.dimension(),
                                    result.density().grid(),
                                    result.density().density())
                            .report(context);
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

    /**
     * Decides the verdict from the spectrum's measurements.
     *
     * @param top the top eigenvalue λ1 (Lanczos)
     * @param trace the trace estimate (Hutchinson)
     * @param dimension d, the number of parameters
     * @param grid the density's abscissae, increasing
     * @param density the density at each, not negative
     * @return the verdict
     * @throws IllegalArgumentException if the grid and the density differ in length or have fewer
     *     than two points
     */
    static Verdict verdict(
            double top, double trace, long dimension, double[] grid, double[] density) {
        if (grid.length < 2 || grid.length != density.length) {
            throw new IllegalArgumentException(
                    "grid and density must have the same length, at least 2, but had "
                            + grid.length
                            + " and "
                            + density.length);
        }
        // trapezoid rule over the grid, once for the whole mass and once for the part near zero
        // (a segment counts when both its ends are near zero)
        double mass = 0;
        double near = 0;
        double bound = NEAR_ZERO * Math.abs(top);
        for (int i = 1; i < grid.length; i++) {
            double piece = 0.5 * (density[i] + density[i - 1]) * (grid[i] - grid[i - 1]);
            mass += piece;
            if (Math.abs(grid[i]) <= bound && Math.abs(grid[i - 1]) <= bound) {
                near += piece;
            }
        }
        double bulk = mass > 0 ? near / mass : 0;
        double meanEigenvalue = trace / dimension;
        boolean hasBulk = bulk >= BULK_MASS;
        boolean hasOutlier = top > 0 && top >= OUTLIER_RATIO * Math.abs(meanEigenvalue);
        return new Verdict(
                "The loss Hessian of a trained network has a bulk of eigenvalues near zero and a"
                        + " few large outliers (Yao, Gholami, Keutzer and Mahoney, \"PyHessian:"
                        + " Neural Networks Through the Lens of the Hessian\", 2020).",
                String.format(
                        Locale.ROOT,
                        "top eigenvalue %.4g; mean eigenvalue (trace / d) %.3g, so λ1 is %.3g times"
                                + " it; %.1f%% of the spectral density's mass within %.2f λ1 of"
                                + " zero",
                        top,
                        meanEigenvalue,
                        top / Math.abs(meanEigenvalue),
                        100 * bulk,
                        NEAR_ZERO),
                Verdict.Outcome.of(hasBulk && hasOutlier, hasBulk || hasOutlier),
                String.format(
                        Locale.ROOT,
                        "bulk: at least %.0f%% of the density's mass (trapezoid rule over its grid)"
                                + " within %.2f λ1 of zero; outliers: λ1 at least %.0f times the"
                                + " mean eigenvalue trace / d; reproduced when both hold, partly"
                                + " reproduced when one does, not reproduced otherwise.",
                        100 * BULK_MASS,
                        NEAR_ZERO,
                        OUTLIER_RATIO));
    }
}
