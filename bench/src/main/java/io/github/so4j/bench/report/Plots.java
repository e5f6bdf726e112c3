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
 * seconds, and the test loss and (for workloads with class labels) the test accuracy of the
 * evaluations against steps. Each optimizer is one line, the mean over its seeds; training losses
 * are smoothed by a running mean over the last {@value TrainingRun#TARGET_WINDOW} batches.
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
        XYChart testLoss = chart(workload + ": test loss", "step", "test loss");
        XYChart testAccuracy = chart(workload + ": test accuracy", "step", "test accuracy");
        for (OptimizerSummary s : summaries) {
            double[] steps = curve(s, r -> r.step());
            double[] seconds = curve(s, RunResult.StepRecord::seconds);
            double[] loss = smooth(curve(s, RunResult.StepRecord::trainLoss));
            add(bySteps, s.optimizer(), steps, loss);
            add(bySeconds, s.optimizer(), seconds, loss);
            if (!s.runs().get(0).evaluations().isEmpty()) {
                double[] x = evaluations(s, RunResult.EvaluationRecord::step);
                add(
                        testLoss,
                        s.optimizer(),
                        x,
                        evaluations(s, RunResult.EvaluationRecord::testLoss));
                if (classification) {
                    add(
                            testAccuracy,
                            s.optimizer(),
                            x,
                            evaluations(s, RunResult.EvaluationRecord::testAccuracy));
                }
            }
        }
        files.add(save(bySteps, directory.resolve("loss-vs-steps.png")));
        files.add(save(bySeconds, directory.resolve("loss-vs-seconds.png")));
        if (!testLoss.getSeriesMap().isEmpty()) {
            if (classification) {
                files.add(save(testAccuracy, directory.resolve("test-accuracy.png")));
            }
            files.add(save(testLoss, directory.resolve("test-loss.png")));
        }
        return files;
    }

    /** The mean over seeds of one quantity of the evaluations, evaluation by evaluation. */
    private static double[] evaluations(
            OptimizerSummary s, ToDoubleFunction<RunResult.EvaluationRecord> quantity) {
        int count = s.runs().get(0).evaluations().size();
        double[] values = new double[count];
        for (int i = 0; i < count; i++) {
            int index = i;
            values[i] =
                    s.runs().stream()
                            .mapToDouble(r -> quantity.applyAsDouble(r.evaluations().get(index)))
                            .average()
                            .orElse(Double.NaN);
        }
        return values;
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
