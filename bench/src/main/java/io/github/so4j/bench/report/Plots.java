package io.github.so4j.bench.report;

import io.github.so4j.bench.compare.RunResult;
import io.github.so4j.bench.compare.TrainingRun;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Draws a comparison's curves as PNG files with XChart: training loss against steps and against
 * seconds, and the test accuracy (or test loss) of the evaluations against steps. Each optimizer is
 * one line, the mean over its seeds; training losses are smoothed by a running mean over the last
 * {@value TrainingRun#TARGET_WINDOW} batches.
 */
public final class Plots {

    /** Width of every plot in pixels. */
    public static final int WIDTH = 800;

    /** Height of every plot in pixels. */
    public static final int HEIGHT = 500;

    private Plots() {}

    /**
     * Writes the plots of a comparison.
     *
     * @param directory the output folder
     * @param results the runs
     * @return the files written, in the order to show them
     * @throws IOException if a file cannot be written
     */
    public static List<Path> write(Path directory, List<RunResult> results) throws IOException {
        List<OptimizerSummary> summaries = OptimizerSummary.of(results);
        String workload = results.get(0).workload();
        List<Path> files = new ArrayList<>();
        XYChart bySteps =
                chart(workload + ": training loss", "step", "training loss (mean of 20 batches)");
        XYChart bySeconds =
                chart(
                        workload + ": training loss",
                        "seconds",
                        "training loss (mean of 20 batches)");
        boolean classification = !Double.isNaN(results.get(0).testAccuracy());
        XYChart evaluations =
                chart(
                        workload + (classification ? ": test accuracy" : ": test loss"),
                        "step",
                        classification ? "test accuracy" : "test loss");
        for (OptimizerSummary s : summaries) {
            double[] steps = curve(s, r -> r.step());
            double[] seconds = curve(s, RunResult.StepRecord::seconds);
            double[] loss = smooth(curve(s, RunResult.StepRecord::trainLoss));
            add(bySteps, s.optimizer(), steps, loss);
            add(bySeconds, s.optimizer(), seconds, loss);
            List<RunResult.EvaluationRecord> first = s.runs().get(0).evaluations();
            if (!first.isEmpty()) {
                double[] x = new double[first.size()];
                double[] y = new double[first.size()];
                for (int i = 0; i < first.size(); i++) {
                    x[i] = first.get(i).step();
                    int index = i;
                    y[i] =
                            s.runs().stream()
                                    .mapToDouble(
                                            r -> {
                                                RunResult.EvaluationRecord e =
                                                        r.evaluations().get(index);
                                                return classification
                                                        ? e.testAccuracy()
                                                        : e.testLoss();
                                            })
                                    .average()
                                    .orElse(Double.NaN);
                }
                add(evaluations, s.optimizer(), x, y);
            }
        }
        files.add(save(bySteps, directory.resolve("loss-vs-steps.png")));
        files.add(save(bySeconds, directory.resolve("loss-vs-seconds.png")));
        if (!evaluations.getSeriesMap().isEmpty()) {
            files.add(
                    save(
                            evaluations,
                            directory.resolve(
                                    classification ? "test-accuracy.png" : "test-loss.png")));
        }
        return files;
    }

    private static XYChart chart(String title, String x, String y) {
        XYChart chart =
                new XYChartBuilder()
                        .width(WIDTH)
                        .height(HEIGHT)
                        .title(title)
                        .xAxisTitle(x)
                        .yAxisTitle(y)
                        .build();
        chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideNE);
        chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        return chart;
    }

    private static void add(XYChart chart, String name, double[] x, double[] y) {
        XYSeries series = chart.addSeries(name, x, y);
        series.setMarker(SeriesMarkers.NONE);
    }

    private static Path save(XYChart chart, Path file) throws IOException {
        BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
        return file;
    }

    /** The mean over seeds of one quantity of the step records, step by step. */
    private static double[] curve(
            OptimizerSummary s, ToDoubleFunction<RunResult.StepRecord> quantity) {
        int steps = s.runs().get(0).curve().size();
        double[] values = new double[steps];
        for (RunResult r : s.runs()) {
            for (int i = 0; i < steps; i++) {
                values[i] += quantity.applyAsDouble(r.curve().get(i)) / s.runs().size();
            }
        }
        return values;
    }

    /** Running mean over the last TARGET_WINDOW values (fewer at the start). */
    private static double[] smooth(double[] values) {
        double[] out = new double[values.length];
        double sum = 0;
        for (int i = 0; i < values.length; i++) {
            sum += values[i];
            if (i >= TrainingRun.TARGET_WINDOW) {
                sum -= values[i - TrainingRun.TARGET_WINDOW];
            }
            out[i] = sum / Math.min(i + 1, TrainingRun.TARGET_WINDOW);
        }
        return out;
    }
}
