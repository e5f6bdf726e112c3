package io.github.so4j.bench.report;

import io.github.so4j.bench.compare.RunResult;
import java.util.List;
import java.util.Locale;

/**
 * Formats a comparison as a plain-text table, one row per optimizer: means over the seeds, with the
 * standard deviation when there are several.
 */
public final class ResultTable {

    private ResultTable() {}

    /**
     * Formats the table. "vs adam" is each optimizer's mean ms per step divided by Adam's on the
     * same workload, when Adam ran ({@code -} when it did not); "to target" gives the mean steps
     * and seconds to the target loss over the seeds that reached it. "host reads" gives, for so4j's
     * optimizers, the device-to-host reads made during the timed steps and, in parentheses, on how
     * many of those steps (the mean over the seeds when they differ), such as {@code 5 (5)} or
     * {@code 0 (0)}; {@code -} for DJL's optimizers, which do not count them. "state MiB" is the
     * optimizer's state after the last step ({@code state_bytes} of {@code summary.json}) in MiB,
     * the mean over the seeds, with two decimals ({@code 0} for none, {@code <0.01} below 0.005
     * MiB, {@code -} when a run does not know it).
     *
     * @param results the runs
     * @return the table, lines ending in {@code \n}
     */
    public static String format(List<RunResult> results) {
        List<OptimizerSummary> summaries = OptimizerSummary.of(results);
        boolean spread = summaries.stream().anyMatch(s -> s.runs().size() > 1);
        StringBuilder out = new StringBuilder();
        String header =
                String.format(
                        Locale.ROOT,
                        "%-11s %-16s %6s %5s %-17s %-11s %-15s %-19s %-13s %8s %8s %9s %14s%n",
                        "workload",
                        "optimizer",
                        "steps",
                        "seeds",
                        "train loss",
                        "test loss",
                        "test acc",
                        "to target (s)",
                        "ms/step",
                        "vs adam",
                        "peak MiB",
                        "state MiB",
                        "host reads");
        out.append(header);
        out.append("-".repeat(header.length() - 1)).append('\n');
        for (OptimizerSummary s : summaries) {
            double adam = adamMs(summaries, s.workload());
            out.append(
                    String.format(
                            Locale.ROOT,
                            "%-11s %-16s %6d %5d %-17s %-11s %-15s %-19s %-13s %8s %8.0f %9s"
                                    + " %14s%n",
                            s.workload(),
                            s.optimizer(),
                            s.runs().get(0).steps(),
                            s.runs().size(),
                            value(s, RunResult::finalTrainLoss, spread, "%.4f"),
                            value(s, RunResult::testLoss, false, "%.4f"),
                            Double.isNaN(s.mean(RunResult::testAccuracy))
                                    ? "-"
                                    : value(s, r -> 100 * r.testAccuracy(), spread, "%.2f%%"),
                            target(s),
                            value(s, RunResult::msPerStep, spread, "%.2f"),
                            Double.isNaN(adam)
                                    ? "-"
                                    : String.format(
                                            Locale.ROOT,
                                            "%.2fx",
                                            s.mean(RunResult::msPerStep) / adam),
                            s.mean(RunResult::peakRssMb),
                            stateMib(s),
                            hostReads(s)));
        }
        return out.toString();
    }

    private static String value(
            OptimizerSummary s,
            java.util.function.ToDoubleFunction<RunResult> metric,
            boolean spread,
            String format) {
        String mean = String.format(Locale.ROOT, format, s.mean(metric));
        if (!spread) {
            return mean;
        }
        return mean + " ±" + String.format(Locale.ROOT, format, s.std(metric)).replace("%", "");
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
    private static String count(
            OptimizerSummary s, java.util.function.ToLongFunction<RunResult> metric) {
        long first = metric.applyAsLong(s.runs().get(0));
        if (s.runs().stream().allMatch(r -> metric.applyAsLong(r) == first)) {
            return Long.toString(first);
        }
        return String.format(Locale.ROOT, "%.1f", s.mean(r -> metric.applyAsLong(r)));
    }

    private static String target(OptimizerSummary s) {
        if (s.reachedTarget() == 0) {
            return "not reached";
        }
        String text =
                String.format(
                        Locale.ROOT,
                        "%.0f (%.1f s)",
                        s.meanStepsToTarget(),
                        s.meanSecondsToTarget());
        return s.reachedTarget() < s.runs().size()
                ? text + " " + s.reachedTarget() + "/" + s.runs().size()
                : text;
    }

    private static double adamMs(List<OptimizerSummary> summaries, String workload) {
        return summaries.stream()
                .filter(a -> a.optimizer().equals("adam") && a.workload().equals(workload))
                .mapToDouble(a -> a.mean(RunResult::msPerStep))
                .findFirst()
                .orElse(Double.NaN);
    }
}
