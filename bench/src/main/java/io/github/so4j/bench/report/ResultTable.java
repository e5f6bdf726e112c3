package io.github.so4j.bench.report;

import io.github.so4j.bench.compare.RunResult;
import io.github.so4j.bench.compare.TrainingRun;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;
import java.util.function.ToLongFunction;

/**
 * A comparison as a table, one row per optimizer, headed by the time to the target loss: the steps
 * and the seconds of training until the mean loss of the last {@value TrainingRun#TARGET_WINDOW}
 * batches first fell to the target, which the column headers name (such as "steps to 0.45").
 *
 * <p>Columns: workload, optimizer, steps, seeds, steps to the target, seconds to the target,
 * training loss, test loss, test accuracy, ms per step, "vs adam" (the mean ms per step divided by
 * Adam's on the same workload, {@code -} when Adam did not run), peak MiB, state MiB (the
 * optimizer's state after the last step, {@code state_bytes} of {@code summary.json}, the mean over
 * the seeds with two decimals: {@code 0} for none, {@code <0.01} below 0.005 MiB, {@code -} when a
 * run does not know it) and host reads (for so4j's optimizers the device-to-host reads of the timed
 * steps and, in parentheses, on how many of those steps, the mean over the seeds when they differ;
 * {@code -} for DJL's optimizers).
 *
 * <p>With several seeds a cell reads {@code mean ±std}: the mean and the sample standard deviation
 * over the seeds. A diverged run ({@link RunResult#diverged()}) is never a number: when every seed
 * diverged the loss, accuracy and target cells read {@code diverged}, and otherwise they aggregate
 * the other seeds and say how many, such as {@code 412 ±8 (2/3)}; the notes under the table name
 * each diverged run and why. A target cell reads {@code not reached} when no seed that did not
 * diverge reached it. Step times, memory and host reads count every run.
 *
 * <p>The same rows feed the plain-text table ({@link #format}) and the HTML table of {@code
 * report.html} ({@link HtmlReport}).
 */
public final class ResultTable {

    /** Columns from this index on are numbers, right-aligned in the plain-text table. */
    private static final int FIRST_NUMBER_COLUMN = 2;

    /**
     * The cells of the table.
     *
     * @param header the column names
     * @param rows one row of cells per optimizer, as many as the header
     * @param notes sentences that explain the cells, one per line
     */
    public record Table(List<String> header, List<List<String>> rows, List<String> notes) {}

    private ResultTable() {}

    /**
     * Formats the table as plain text: the header, a rule, one line per optimizer, then the notes.
     *
     * @param results the runs
     * @return the table, lines ending in {@code \n}
     */
    public static String format(List<RunResult> results) {
        Table table = of(results);
        int columns = table.header().size();
        int[] width = new int[columns];
        for (int c = 0; c < columns; c++) {
            width[c] = table.header().get(c).length();
            for (List<String> row : table.rows()) {
                width[c] = Math.max(width[c], row.get(c).length());
            }
        }
        StringBuilder out = new StringBuilder();
        String header = line(table.header(), width);
        out.append(header).append('\n');
        out.append("-".repeat(header.length())).append('\n');
        for (List<String> row : table.rows()) {
            out.append(line(row, width)).append('\n');
        }
        for (String note : table.notes()) {
            out.append(note).append('\n');
        }
        return out.toString();
    }

    private static String line(List<String> cells, int[] width) {
        StringBuilder line = new StringBuilder();
        for (int c = 0; c < cells.size(); c++) {
            if (c > 0) {
                line.append("  ");
            }
            String cell = cells.get(c);
            String pad = " ".repeat(width[c] - cell.length());
            line.append(c < FIRST_NUMBER_COLUMN ? cell + pad : pad + cell);
        }
        return line.toString().stripTrailing();
    }

    /**
     * Builds the cells of the table.
     *
     * @param results the runs
     * @return the header, one row per workload and optimizer, and the notes
     */
    public static Table of(List<RunResult> results) {
        List<OptimizerSummary> summaries = OptimizerSummary.of(results);
        String target = targetName(results);
        List<String> header =
                List.of(
                        "workload",
                        "optimizer",
                        "steps",
                        "seeds",
                        "steps to " + target,
                        "seconds to " + target,
                        "train loss",
                        "test loss",
                        "test acc",
                        "ms/step",
                        "vs adam",
                        "peak MiB",
                        "state MiB",
                        "host reads");
        List<List<String>> rows = new ArrayList<>();
        for (OptimizerSummary s : summaries) {
            double adam = adamMs(summaries, s.workload());
            boolean classification = !Double.isNaN(s.runs().get(0).testAccuracy());
            rows.add(
                    List.of(
                            s.workload(),
                            s.optimizer(),
                            Integer.toString(s.runs().get(0).steps()),
                            Integer.toString(s.runs().size()),
                            target(s, s.stepsToTarget(), "%.0f"),
                            target(s, s.secondsToTarget(), "%.1f"),
                            loss(s, RunResult::finalTrainLoss, "%.4f", true),
                            loss(s, RunResult::testLoss, "%.4f", false),
                            classification
                                    ? loss(s, r -> 100 * r.testAccuracy(), "%.2f%%", false)
                                    : "-",
                            spread(s.all(RunResult::msPerStep), "%.2f"),
                            Double.isNaN(adam)
                                    ? "-"
                                    : String.format(
                                            Locale.ROOT,
                                            "%.2fx",
                                            s.mean(RunResult::msPerStep) / adam),
                            String.format(Locale.ROOT, "%.0f", s.mean(RunResult::peakRssMb)),
                            stateMib(s),
                            hostReads(s)));
        }
        return new Table(header, rows, notes(results, summaries, target));
    }

    private static List<String> notes(
            List<RunResult> results, List<OptimizerSummary> summaries, String target) {
        List<String> notes = new ArrayList<>();
        notes.add(
                "steps/seconds to "
                        + target
                        + ": the first step at which the mean training loss of the last "
                        + TrainingRun.TARGET_WINDOW
                        + " batches was at most "
                        + target
                        + ", and the training seconds up to it; not reached: not within the run's "
                        + results.get(0).steps()
                        + " steps.");
        if (summaries.stream().anyMatch(s -> s.runs().size() > 1)) {
            notes.add(
                    "a ±b: the mean and the sample standard deviation over the seeds; (k/n): only"
                            + " k of the n seeds count (the others did not reach the target or"
                            + " diverged).");
        }
        List<RunResult> diverged = results.stream().filter(RunResult::diverged).toList();
        if (!diverged.isEmpty()) {
            notes.add(
                    "diverged: a batch loss was NaN or infinite, or the final training loss was"
                            + " above the initial loss; such a run gives no loss, accuracy or"
                            + " time to the target.");
            for (RunResult r : diverged) {
                notes.add(
                        r.workload()
                                + " "
                                + r.optimizer()
                                + " seed "
                                + r.seed()
                                + " diverged: "
                                + r.divergence());
            }
        }
        return notes;
    }

    /**
     * Names the target in the headers: the value when every run had the same, else "target".
     *
     * @param results the runs
     * @return such as {@code 0.45}
     */
    static String targetName(List<RunResult> results) {
        double first = results.get(0).targetLoss();
        if (results.stream().allMatch(r -> r.targetLoss() == first) && Double.isFinite(first)) {
            return BigDecimal.valueOf(first).stripTrailingZeros().toPlainString();
        }
        return "target";
    }

    /** A time to the target: "diverged", "not reached", or the statistics of those that reached. */
    private static String target(OptimizerSummary s, OptimizerSummary.Stats stats, String format) {
        int n = s.runs().size();
        if (s.divergedRuns() == n) {
            return "diverged";
        }
        if (stats.count() == 0) {
            return "not reached";
        }
        return spread(stats, format)
                + (stats.count() < n ? " (" + stats.count() + "/" + n + ")" : "");
    }

    /** A loss or accuracy over the runs that did not diverge, or "diverged". */
    private static String loss(
            OptimizerSummary s, ToDoubleFunction<RunResult> metric, String format, boolean count) {
        OptimizerSummary.Stats stats = s.converged(metric);
        if (stats.count() == 0) {
            return "diverged";
        }
        int n = s.runs().size();
        return spread(stats, format)
                + (count && stats.count() < n ? " (" + stats.count() + "/" + n + ")" : "");
    }

    /** "mean" for one value, "mean ±std" for several. */
    private static String spread(OptimizerSummary.Stats stats, String format) {
        String mean = String.format(Locale.ROOT, format, stats.mean());
        if (stats.count() < 2) {
            return mean;
        }
        return mean + " ±" + String.format(Locale.ROOT, format, stats.std()).replace("%", "");
    }

    /** The mean state over the seeds in MiB, or "-" when a run does not know it. */
    private static String stateMib(OptimizerSummary s) {
        if (s.runs().stream().anyMatch(r -> r.stateBytes() < 0)) {
            return "-";
        }
        double mib = s.mean(RunResult::stateBytes) / (1 << 20);
        if (mib == 0) {
            return "0";
        }
        return mib < 0.005 ? "<0.01" : String.format(Locale.ROOT, "%.2f", mib);
    }

    /** "reads (steps with reads)" over the timed steps, or "-" when a run did not count them. */
    private static String hostReads(OptimizerSummary s) {
        if (s.runs().stream().anyMatch(r -> r.hostReads() == null)) {
            return "-";
        }
        return count(s, r -> r.hostReads().reads())
                + " ("
                + count(s, r -> r.hostReads().stepsWithReads())
                + ")";
    }

    /** The value if every seed gave the same, else the mean with one decimal. */
    private static String count(OptimizerSummary s, ToLongFunction<RunResult> metric) {
        long first = metric.applyAsLong(s.runs().get(0));
        if (s.runs().stream().allMatch(r -> metric.applyAsLong(r) == first)) {
            return Long.toString(first);
        }
        return String.format(Locale.ROOT, "%.1f", s.mean(r -> metric.applyAsLong(r)));
    }

    private static double adamMs(List<OptimizerSummary> summaries, String workload) {
        return summaries.stream()
                .filter(a -> a.optimizer().equals("adam") && a.workload().equals(workload))
                .mapToDouble(a -> a.mean(RunResult::msPerStep))
                .findFirst()
                .orElse(Double.NaN);
    }
}
