package io.github.so4j.bench.reproduce;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.tune.Criterion;
import io.github.so4j.bench.tune.Grid;
import io.github.so4j.bench.tune.Score;
import io.github.so4j.bench.tune.Sweep;
import io.github.so4j.bench.tune.SweepTables;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.bench.workload.WorkloadData;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Zhang et al. 2019 ("Which algorithmic choices matter at which batch sizes?"), at the scale of a
 * 2-core CPU: the steps to a target training loss against the batch size for SGD with momentum,
 * Adam, K-FAC and Shampoo on the Fashion-MNIST MLP, each optimizer tuned at every batch size on a
 * small learning-rate grid (the sweep of {@code ./so4j tune}, {@link Sweep}, its runs stopping at
 * the target). The paper's claim: K-FAC and Adam keep near-perfect scaling (the steps halving as
 * the batch doubles) up to larger batches than SGD with momentum.
 *
 * <p>Default size: batches 128, 256, 512, 1024 (8x), 3 learning rates a factor 2 apart centred at
 * the catalog's rate for the MLP (tuned at batch 128) times the square root of the batch's ratio to
 * 128, and for K-FAC each with KL clip 1e-3 and 1e-2 (while the clip binds it, not the rate, sets
 * K-FAC's step), the other settings at the catalog's, seed 0, target 0.40, at most {@value
 * #MAX_STEPS} steps. {@code --full}: batches 64 to 4096 (64x), 5 learning rates, seeds 0 and 1.
 * Each batch size's runs go to {@code b<batch>/} (one file per finished run: a stopped recipe
 * resumes). Writes {@code batch-scaling.png} (log-log, with the line of perfect scaling), {@code
 * batch-scaling.md} (the table and each batch's sweep) and {@code summary.json} (a row per
 * optimizer and batch). Cost: a training run per optimizer, batch, point and seed, each until the
 * target or the step budget.
 */
final class BatchScalingRecipe implements Recipe {

    /** The optimizers of the study. */
    static final List<String> OPTIMIZERS = List.of("sgd", "adam", "kfac", "shampoo");

    /** The target training loss (mean of the last 20 batches). */
    static final double TARGET = 0.40;

    /** The step budget of every run; a run that has not reached the target by then has not. */
    static final int MAX_STEPS = 1000;

    /** The batch size at which the grids are centred at the catalog's learning rates. */
    static final int BASE_BATCH = 128;

    /** K-FAC's KL clips of the study: the catalog's 1e-3 and ten times it. */
    static final List<Double> KFAC_KL_CLIPS = List.of(1e-3, 1e-2);

    /**
     * A size of the study.
     *
     * @param batches the batch sizes, increasing
     * @param lrPoints learning rates per batch size
     * @param seeds seeds per point
     * @param maxSteps the step budget
     * @param target the target loss
     * @param subset training examples (null for all)
     */
    record Size(
            List<Integer> batches,
            int lrPoints,
            int seeds,
            int maxSteps,
            double target,
            Integer subset) {

        static final Size DEFAULT =
                new Size(List.of(128, 256, 512, 1024), 3, 1, MAX_STEPS, TARGET, null);

        static final Size FULL =
                new Size(
                        List.of(64, 128, 256, 512, 1024, 2048, 4096),
                        5,
                        2,
                        MAX_STEPS,
                        TARGET,
                        null);
    }

    /**
     * One row of the result: an optimizer at a batch size with its chosen point.
     *
     * @param optimizer the optimizer's name
     * @param batch the batch size
     * @param stepsToTarget the mean steps to the target, or -1 when not reached on every seed
     * @param secondsToTarget the mean seconds to the target, or NaN
     * @param settings the chosen settings
     * @param finalTrainLoss the chosen point's mean final training loss
     * @param edge whether the chosen learning rate is the smallest or the largest of the grid
     */
    record Row(
            String optimizer,
            int batch,
            int stepsToTarget,
            double secondsToTarget,
            Map<String, String> settings,
            double finalTrainLoss,
            boolean edge) {}

    private final Size size;

    BatchScalingRecipe() {
        this(null);
    }

    /** A recipe of a fixed size (tests); null chooses by {@link RecipeContext#full}. */
    BatchScalingRecipe(Size size) {
        this.size = size;
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "batch-scaling";
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return "Zhang et al. 2019: steps to a target loss against batch size, SGD with momentum,"
                + " Adam, K-FAC, Shampoo, each tuned per batch size";
    }

    /** {@inheritDoc} */
    @Override
    public void run(RecipeContext context) throws Exception {
        Size chosen = size != null ? size : context.full() ? Size.FULL : Size.DEFAULT;
        Workload workload = Workload.MLP;
        OptimizerCatalog catalog = new OptimizerCatalog();
        context.stdout()
                .printf(
                        Locale.ROOT,
                        "batch-scaling: mlp, batches %s, %d learning rates per batch, %d seed(s),"
                                + " target %.2f, at most %d steps%n",
                        chosen.batches(),
                        chosen.lrPoints(),
                        chosen.seeds(),
                        chosen.target(),
                        chosen.maxSteps());
        List<Row> rows = new ArrayList<>();
        StringBuilder sweeps = new StringBuilder();
        for (int batch : chosen.batches()) {
            Grid.Layout layout =
                    new Grid.Layout(
                            chosen.lrPoints(), 2, 1, 10, Math.sqrt((double) batch / BASE_BATCH));
            List<Grid> grids = new ArrayList<>();
            for (String name : OPTIMIZERS) {
                Grid grid = Grid.around(catalog.get(name), workload, layout);
                if (name.equals("kfac")) {
                    // K-FAC's KL clip caps the step at sqrt(kl_clip / (g . F^-1 g)) whatever the
                    // learning rate while it binds, so the rate alone does not tune its step
                    grid = grid.with("kl_clip", KFAC_KL_CLIPS);
                }
                grids.add(grid);
            }
            Sweep.Setup setup =
                    new Sweep.Setup(
                            workload,
                            batch,
                            chosen.maxSteps(),
                            chosen.target(),
                            0,
                            chosen.seeds(),
                            true,
                            context.out().resolve("b" + batch));
            Map<String, List<Score>> scores;
            try (NDManager manager = NDManager.newBaseManager(context.device())) {
                WorkloadData data = workload.load(manager, context.data(), chosen.subset(), batch);
                scores = new Sweep(setup).run(grids, data, context.device(), context.stdout());
            }
            sweeps.append("## batch ").append(batch).append("\n\n");
            sweeps.append(SweepTables.markdown(Criterion.STEPS, scores));
            for (Map.Entry<String, List<Score>> e : scores.entrySet()) {
                rows.add(row(e.getKey(), batch, e.getValue()));
            }
        }
        String table = table(rows, chosen.batches());
        Verdict verdict = verdict(rows, chosen.batches());
        writeSummary(context.out().resolve("summary.json"), rows);
        Files.writeString(
                context.out().resolve("batch-scaling.md"),
                "# Steps to training loss "
                        + chosen.target()
                        + " against batch size (mlp)\n\n"
                        + table
                        + "\n"
                        + verdict.markdown()
                        + "\n"
                        + sweeps,
                StandardCharsets.UTF_8);
        Charts.save(chart(rows, chosen), context.out().resolve("batch-scaling.png"));
        context.stdout().println();
        context.stdout().print(table);
        verdict.report(context);
        context.stdout()
                .println(
                        "Wrote batch-scaling.png, batch-scaling.md and summary.json to "
                                + context.out());
        context.stdout().flush();
    }

    /** The chosen point of one optimizer at one batch size. */
    static Row row(String optimizer, int batch, List<Score> points) {
        Score best = Criterion.STEPS.best(points);
        double lr = Double.parseDouble(best.settings().get("lr"));
        double lowest = Double.POSITIVE_INFINITY;
        double highest = Double.NEGATIVE_INFINITY;
        for (Score s : points) {
            double v = Double.parseDouble(s.settings().get("lr"));
            lowest = Math.min(lowest, v);
            highest = Math.max(highest, v);
        }
        boolean edge = lowest < highest && (lr == lowest || lr == highest);
        return new Row(
                optimizer,
                batch,
                best.reached() ? (int) Math.round(best.meanStepsToTarget()) : -1,
                best.meanSecondsToTarget(),
                best.settings(),
                best.meanFinalLoss(),
                edge);
    }

    /**
     * The table: a row per optimizer, a column per batch size, steps to the target ({@code -} when
     * not reached), the chosen learning rate beside it ({@code *} where it is an end of the grid).
     */
    static String table(List<Row> rows, List<Integer> batches) {
        StringBuilder out = new StringBuilder("| optimizer |");
        for (int b : batches) {
            out.append(" batch ").append(b).append(" |");
        }
        out.append("\n| --- |").append(" --- |".repeat(batches.size())).append('\n');
        Map<String, Map<Integer, Row>> byOptimizer = new LinkedHashMap<>();
        for (Row r : rows) {
            byOptimizer
                    .computeIfAbsent(r.optimizer(), k -> new LinkedHashMap<>())
                    .put(r.batch(), r);
        }
        byOptimizer.forEach(
                (name, byBatch) -> {
                    out.append("| ").append(name).append(" |");
                    for (int b : batches) {
                        Row r = byBatch.get(b);
                        String steps =
                                r.stepsToTarget() >= 0
                                        ? Integer.toString(r.stepsToTarget())
                                        : "not reached";
                        out.append(' ')
                                .append(steps)
                                .append(" (lr ")
                                .append(r.settings().get("lr"))
                                .append(r.edge() ? "*" : "")
                                .append(") |");
                    }
                    out.append('\n');
                });
        return out.toString();
    }

    /**
     * The paper's claim, the measured result and whether it is reproduced. The claim is about
     * scaling: an optimizer's scaling factor is its steps at the smallest batch over its steps at
     * the largest (perfect scaling: the ratio of the batches). The claim is reproduced when both
     * K-FAC and Adam scale by a larger factor than SGD with momentum (or reach the target at the
     * largest batch where SGD does not), partly when one of them does, not otherwise. Beside it,
     * K-FAC's steps over SGD's at every batch, and whether at the largest it needs at most half.
     */
    static Verdict verdict(List<Row> rows, List<Integer> batches) {
        int small = batches.get(0);
        int large = batches.get(batches.size() - 1);
        StringBuilder out = new StringBuilder();
        out.append(
                String.format(
                        Locale.ROOT,
                        "Scaling from batch %d to %d (steps at %d over steps at %d; perfect:"
                                + " %dx):",
                        small,
                        large,
                        small,
                        large,
                        large / small));
        for (String name : OPTIMIZERS) {
            double factor = scaling(rows, name, small, large);
            out.append(' ').append(name).append(' ');
            out.append(
                    Double.isNaN(factor)
                            ? "n/a (target not reached)"
                            : String.format(Locale.ROOT, "%.2fx", factor));
            out.append(';');
        }
        out.append(' ');
        out.append("K-FAC's steps over SGD with momentum's:");
        for (int b : batches) {
            Row kfac = find(rows, "kfac", b);
            Row sgd = find(rows, "sgd", b);
            out.append(" batch ").append(b).append(' ');
            if (kfac != null
                    && sgd != null
                    && kfac.stepsToTarget() > 0
                    && sgd.stepsToTarget() > 0) {
                out.append(
                        String.format(
                                Locale.ROOT,
                                "%.2f",
                                (double) kfac.stepsToTarget() / sgd.stepsToTarget()));
            } else {
                out.append("n/a");
            }
            out.append(';');
        }
        out.append(' ');
        Row sgd = find(rows, "sgd", large);
        Row kfac = find(rows, "kfac", large);
        boolean kfacHalf =
                kfac != null
                        && kfac.stepsToTarget() > 0
                        && sgd != null
                        && (sgd.stepsToTarget() < 0
                                || 2L * kfac.stepsToTarget() <= sgd.stepsToTarget());
        out.append(
                String.format(
                        Locale.ROOT,
                        "At batch %d K-FAC needs at most half of SGD with momentum's steps: %s.",
                        large,
                        kfacHalf ? "yes" : "no"));
        boolean adamScales = scalesBetterThanSgd(rows, "adam", small, large);
        boolean kfacScales = scalesBetterThanSgd(rows, "kfac", small, large);
        out.append(" Scales better than SGD with momentum: Adam ")
                .append(adamScales ? "yes" : "no")
                .append(", K-FAC ")
                .append(kfacScales ? "yes" : "no")
                .append('.');
        return new Verdict(
                "Zhang et al. 2019: K-FAC and Adam keep near-perfect scaling (steps halving as the"
                        + " batch doubles) to larger batches than SGD with momentum.",
                out.toString(),
                Verdict.Outcome.of(adamScales && kfacScales, adamScales || kfacScales),
                "an optimizer's scaling factor is its steps to the target at the smallest batch"
                        + " over its steps at the largest; reproduced when both Adam and K-FAC"
                        + " scale by a larger factor than SGD with momentum (or reach the target"
                        + " at the largest batch where SGD with momentum does not), partly when"
                        + " one of them does, not otherwise.");
    }

    /** Steps at the small batch over steps at the large one, or NaN if either is missing. */
    private static double scaling(List<Row> rows, String optimizer, int small, int large) {
        Row a = find(rows, optimizer, small);
        Row b = find(rows, optimizer, large);
        if (a == null || b == null || a.stepsToTarget() <= 0 || b.stepsToTarget() <= 0) {
            return Double.NaN;
        }
        return (double) a.stepsToTarget() / b.stepsToTarget();
    }

    /** Whether an optimizer scales by more than SGD, or reaches the large batch's target alone. */
    private static boolean scalesBetterThanSgd(
            List<Row> rows, String optimizer, int small, int large) {
        double own = scaling(rows, optimizer, small, large);
        if (Double.isNaN(own)) {
            return false;
        }
        Row sgdLarge = find(rows, "sgd", large);
        if (sgdLarge != null && sgdLarge.stepsToTarget() < 0) {
            return true;
        }
        double sgd = scaling(rows, "sgd", small, large);
        return !Double.isNaN(sgd) && own > sgd;
    }

    private static Row find(List<Row> rows, String optimizer, int batch) {
        for (Row r : rows) {
            if (r.optimizer().equals(optimizer) && r.batch() == batch) {
                return r;
            }
        }
        return null;
    }

    /** Writes summary.json: a row per optimizer and batch. */
    static void writeSummary(Path file, List<Row> rows) throws java.io.IOException {
        List<Map<String, Object>> json = new ArrayList<>();
        for (Row r : rows) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("optimizer", r.optimizer());
            map.put("batch", r.batch());
            map.put("steps_to_target", r.stepsToTarget() >= 0 ? r.stepsToTarget() : null);
            map.put(
                    "seconds_to_target",
                    r.stepsToTarget() >= 0 && Double.isFinite(r.secondsToTarget())
                            ? r.secondsToTarget()
                            : null);
            map.put("settings", r.settings());
            map.put(
                    "final_train_loss",
                    Double.isFinite(r.finalTrainLoss()) ? r.finalTrainLoss() : null);
            map.put("lr_at_grid_edge", r.edge());
            json.add(map);
        }
        new ObjectMapper()
                .enable(SerializationFeature.INDENT_OUTPUT)
                .writeValue(file.toFile(), json);
    }

    private static XYChart chart(List<Row> rows, Size size) {
        XYChart chart =
                Charts.xy(
                        String.format(
                                Locale.ROOT, "Steps to training loss %.2f (mlp)", size.target()),
                        "batch size",
                        "steps to target");
        chart.getStyler().setXAxisLogarithmic(true);
        chart.getStyler().setYAxisLogarithmic(true);
        double anchor = Double.NaN;
        for (String name : OPTIMIZERS) {
            List<Double> x = new ArrayList<>();
            List<Double> y = new ArrayList<>();
            for (Row r : rows) {
                if (r.optimizer().equals(name) && r.stepsToTarget() > 0) {
                    x.add((double) r.batch());
                    y.add((double) r.stepsToTarget());
                }
            }
            if (!x.isEmpty()) {
                chart.addSeries(name, x, y).setMarker(SeriesMarkers.CIRCLE);
                if (name.equals("sgd") && x.get(0).intValue() == size.batches().get(0)) {
                    anchor = y.get(0);
                }
            }
        }
        if (Double.isFinite(anchor)) {
            List<Double> x = new ArrayList<>();
            List<Double> y = new ArrayList<>();
            for (int b : size.batches()) {
                x.add((double) b);
                y.add(anchor * size.batches().get(0) / b);
            }
            XYSeries perfect = chart.addSeries("perfect scaling (from sgd)", x, y);
            perfect.setMarker(SeriesMarkers.NONE);
            perfect.setLineColor(java.awt.Color.GRAY);
            perfect.setLineStyle(
                    new java.awt.BasicStroke(
                            1.5f,
                            java.awt.BasicStroke.CAP_BUTT,
                            java.awt.BasicStroke.JOIN_MITER,
                            10f,
                            new float[] {6f, 4f},
                            0f));
        }
        return chart;
    }
}
