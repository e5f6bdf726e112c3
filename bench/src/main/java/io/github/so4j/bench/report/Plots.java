package io.github.so4j.bench.report;

import io.github.so4j.bench.compare.RunResult;
import io.github.so4j.bench.compare.TrainingRun;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Draws a comparison's curves as PNG files with XChart: training loss against steps and against
 * seconds, and the test loss and (for workloads with class labels) the test accuracy of the
 * evaluations against steps. Training losses are smoothed by a running mean over the last {@value
 * TrainingRun#TARGET_WINDOW} batches.
 *
 * <p>Each optimizer is one line, the mean over its seeds that did not diverge, and, with several
 * such seeds, a shaded band from their minimum to their maximum at every step (the range, not a
 * standard deviation: it never goes below the smallest loss, so a log axis can show it). An
 * optimizer whose every seed diverged is drawn as the mean of its seeds up to the last step before
 * any of them became non-finite or rose above twice the largest initial loss of the chart, and its
 * legend says "diverged"; one with some diverged seeds says how many. Values that are not finite
 * are never handed to XChart, so a NaN or infinite loss cannot break a plot. The training and test
 * loss axes are logarithmic when every value drawn is positive and the largest is at least {@value
 * #LOG_RATIO} times the smallest, where the end of training would otherwise be a flat line.
 */
public final class Plots {

    /** Width of every plot in pixels. */
    public static final int WIDTH = 800;

    /** Height of every plot in pixels. */
    public static final int HEIGHT = 500;

    /**
     * The ratio of the largest to the smallest loss drawn from which the loss axis is a log axis.
     */
    public static final double LOG_RATIO = 4;

    /** The opacity of a band, out of 255. */
    private static final int BAND_ALPHA = 50;

    private Plots() {}

    /**
     * One line and its band, ready to draw: {@code x}, {@code mean}, {@code min} and {@code max}
     * are as long as each other and finite.
     *
     * @param name the legend's text
     * @param x the abscissae
     * @param mean the mean over the seeds drawn
     * @param min the smallest over those seeds
     * @param max the largest over those seeds
     * @param band whether to draw the band (several seeds drawn)
     */
    record Line(String name, double[] x, double[] mean, double[] min, double[] max, boolean band) {}

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
        boolean classification = !Double.isNaN(results.get(0).testAccuracy());
        double cap = 2 * initialLoss(results);
        List<Line> bySteps = new ArrayList<>();
        List<Line> bySeconds = new ArrayList<>();
        List<Line> testLoss = new ArrayList<>();
        List<Line> testAccuracy = new ArrayList<>();
        for (OptimizerSummary s : summaries) {
            List<RunResult> drawn = drawn(s);
            String name = legend(s);
            List<double[]> losses = new ArrayList<>();
            for (RunResult r : drawn) {
                losses.add(smooth(values(r.curve(), RunResult.StepRecord::trainLoss)));
            }
            bySteps.add(
                    line(name, mean(drawn, r -> values(r.curve(), t -> t.step())), losses, cap));
            bySeconds.add(
                    line(
                            name,
                            mean(drawn, r -> values(r.curve(), RunResult.StepRecord::seconds)),
                            losses,
                            cap));
            if (!drawn.get(0).evaluations().isEmpty()) {
                double[] x = mean(drawn, r -> values(r.evaluations(), e -> e.step()));
                List<double[]> tl = new ArrayList<>();
                List<double[]> ta = new ArrayList<>();
                for (RunResult r : drawn) {
                    tl.add(values(r.evaluations(), RunResult.EvaluationRecord::testLoss));
                    ta.add(values(r.evaluations(), RunResult.EvaluationRecord::testAccuracy));
                }
                testLoss.add(line(name, x, tl, cap));
                if (classification) {
                    testAccuracy.add(line(name, x, ta, Double.POSITIVE_INFINITY));
                }
            }
        }
        String smoothed = "training loss (mean of " + TrainingRun.TARGET_WINDOW + " batches)";
        List<Path> files = new ArrayList<>();
        files.add(
                save(
                        chart(workload + ": training loss", "step", smoothed, bySteps, true),
                        directory.resolve("loss-vs-steps.png")));
        files.add(
                save(
                        chart(workload + ": training loss", "seconds", smoothed, bySeconds, true),
                        directory.resolve("loss-vs-seconds.png")));
        if (!testLoss.isEmpty()) {
            if (classification) {
                files.add(
                        save(
                                chart(
                                        workload + ": test accuracy",
                                        "step",
                                        "test accuracy",
                                        testAccuracy,
                                        false),
                                directory.resolve("test-accuracy.png")));
            }
            files.add(
                    save(
                            chart(workload + ": test loss", "step", "test loss", testLoss, true),
                            directory.resolve("test-loss.png")));
        }
        return files;
    }

    /** The largest first batch loss of the runs that has a finite value (1 if none has). */
    private static double initialLoss(List<RunResult> results) {
        double largest = Double.NaN;
        for (RunResult r : results) {
            if (!r.curve().isEmpty()) {
                double first = r.curve().get(0).trainLoss();
                if (Double.isFinite(first) && !(first <= largest)) {
                    largest = first;
                }
            }
        }
        return Double.isNaN(largest) ? 1 : Math.abs(largest);
    }

    /** The runs an optimizer's line is drawn from: those that did not diverge, else all. */
    private static List<RunResult> drawn(OptimizerSummary s) {
        List<RunResult> converged = s.runs().stream().filter(r -> !r.diverged()).toList();
        return converged.isEmpty() ? s.runs() : converged;
    }

    private static String legend(OptimizerSummary s) {
        int diverged = s.divergedRuns();
        if (diverged == 0) {
            return s.optimizer();
        }
        if (diverged == s.runs().size()) {
            return s.optimizer() + " (diverged)";
        }
        return s.optimizer() + " (" + diverged + "/" + s.runs().size() + " diverged)";
    }

    /**
     * Builds a line from the seeds' curves: the mean, minimum and maximum at every index, up to the
     * first index at which a seed's value is not finite or above {@code cap}.
     *
     * @param name the legend
     * @param x the abscissae
     * @param curves one curve per seed, each as long as {@code x}
     * @param cap the largest value drawn
     * @return the line, possibly empty
     */
    static Line line(String name, double[] x, List<double[]> curves, double cap) {
        int length = x.length;
        for (double[] curve : curves) {
            length = Math.min(length, curve.length);
            for (int i = 0; i < length; i++) {
                if (!Double.isFinite(curve[i]) || curve[i] > cap || !Double.isFinite(x[i])) {
                    length = i;
                    break;
                }
            }
        }
        double[] mean = new double[length];
        double[] min = new double[length];
        double[] max = new double[length];
        for (int i = 0; i < length; i++) {
            min[i] = Double.POSITIVE_INFINITY;
            max[i] = Double.NEGATIVE_INFINITY;
            for (double[] curve : curves) {
                mean[i] += curve[i] / curves.size();
                min[i] = Math.min(min[i], curve[i]);
                max[i] = Math.max(max[i], curve[i]);
            }
        }
        return new Line(
                name, java.util.Arrays.copyOf(x, length), mean, min, max, curves.size() > 1);
    }

    /**
     * Draws lines on one chart: for each line its band (a translucent polygon from the minimum to
     * the maximum) under it, in the line's colour. An empty line keeps its legend entry with one
     * point hidden at the chart's first abscissa, so that a run diverged at its first step is still
     * named.
     *
     * @param title the title
     * @param x the abscissa's name
     * @param y the ordinate's name
     * @param lines the lines
     * @param logWhenSpread whether to use a log ordinate when the values span {@value #LOG_RATIO}
     *     times or more
     * @return the chart
     */
    static XYChart chart(
            String title, String x, String y, List<Line> lines, boolean logWhenSpread) {
        XYChart chart =
                new XYChartBuilder()
                        .width(WIDTH)
                        .height(HEIGHT)
                        .title(title)
                        .xAxisTitle(x)
                        .yAxisTitle(y)
                        .build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        double smallest = Double.POSITIVE_INFINITY;
        double largest = Double.NEGATIVE_INFINITY;
        for (Line line : lines) {
            for (int i = 0; i < line.x().length; i++) {
                smallest = Math.min(smallest, line.min()[i]);
                largest = Math.max(largest, line.max()[i]);
            }
        }
        boolean any = smallest <= largest;
        boolean log = logWhenSpread && any && smallest > 0 && largest >= LOG_RATIO * smallest;
        chart.getStyler().setYAxisLogarithmic(log);
        if (log) {
            chart.setYAxisTitle(y + ", log scale");
            // a label at 0.2, 0.3, ... too: a loss spans one or two decades, and decade labels
            // alone would give it one or two numbers
            chart.getStyler().setYAxisLogarithmicDecadeOnly(false);
            chart.getStyler().setYAxisDecimalPattern("0.0##");
        }
        if (any && !log && smallest == largest) {
            // one value (a run that diverged after its first step): a readable range around it
            double half = smallest == 0 ? 1 : 0.1 * Math.abs(smallest);
            chart.getStyler().setYAxisMin(smallest - half);
            chart.getStyler().setYAxisMax(smallest + half);
            chart.getStyler().setYAxisDecimalPattern("0.0##");
        }
        Color[] palette = chart.getStyler().getSeriesColors();
        for (int k = 0; k < lines.size(); k++) {
            Line line = lines.get(k);
            Color colour = palette[k % palette.length];
            if (line.band() && line.x().length > 1) {
                int n = line.x().length;
                double[] px = new double[2 * n];
                double[] py = new double[2 * n];
                for (int i = 0; i < n; i++) {
                    px[i] = line.x()[i];
                    py[i] = line.max()[i];
                    px[2 * n - 1 - i] = line.x()[i];
                    py[2 * n - 1 - i] = line.min()[i];
                }
                XYSeries band = chart.addSeries(line.name() + " range", px, py);
                band.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.PolygonArea);
                Color fill =
                        new Color(colour.getRed(), colour.getGreen(), colour.getBlue(), BAND_ALPHA);
                band.setFillColor(fill);
                band.setLineColor(fill);
                band.setMarker(SeriesMarkers.NONE);
                band.setShowInLegend(false);
            }
            XYSeries series;
            if (line.x().length > 0) {
                series = chart.addSeries(line.name(), line.x(), line.mean());
            } else {
                // nothing finite to draw: a hidden point keeps the name in the legend
                double at = any ? smallest : 1;
                series = chart.addSeries(line.name(), new double[] {0}, new double[] {at});
                series.setLineStyle(new java.awt.BasicStroke(0f));
            }
            series.setLineColor(colour);
            series.setMarker(SeriesMarkers.NONE);
        }
        return chart;
    }

    private static Path save(XYChart chart, Path file) throws IOException {
        BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
        return file;
    }

    /** One quantity of a list of records. */
    private static <T> double[] values(List<T> records, ToDoubleFunction<T> quantity) {
        double[] values = new double[records.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = quantity.applyAsDouble(records.get(i));
        }
        return values;
    }

    /** The mean over runs of one array per run, index by index (the shortest length). */
    private static double[] mean(
            List<RunResult> runs, java.util.function.Function<RunResult, double[]> quantity) {
        List<double[]> arrays = runs.stream().map(quantity).toList();
        int length = arrays.stream().mapToInt(a -> a.length).min().orElse(0);
        double[] mean = new double[length];
        for (double[] a : arrays) {
            for (int i = 0; i < length; i++) {
                mean[i] += a[i] / arrays.size();
            }
        }
        return mean;
    }

    /** Running mean over the last TARGET_WINDOW values (fewer at the start). */
    private static double[] smooth(double[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            // summed afresh: a running sum would keep the rounding error of a huge value
            double sum = 0;
            int from = Math.max(0, i - TrainingRun.TARGET_WINDOW + 1);
            for (int j = from; j <= i; j++) {
                sum += values[j];
            }
            out[i] = sum / (i - from + 1);
        }
        return out;
    }
}
