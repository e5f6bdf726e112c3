package io.github.so4j.bench.compare;

import java.util.List;
import java.util.Locale;

/** Formats a comparison's results as a plain-text table, one row per run. */
public final class ResultTable {

    private ResultTable() {}

    /**
     * Formats the table. The column "vs adam" is each run's ms per step divided by that of the Adam
     * run of the same workload, when there is one.
     *
     * @param results the runs
     * @return the table, lines ending in {@code \n}
     */
    public static String format(List<RunResult> results) {
        StringBuilder out = new StringBuilder();
        String header =
                String.format(
                        Locale.ROOT,
                        "%-10s %-10s %6s %11s %9s %9s %9s %8s %9s%n",
                        "workload",
                        "optimizer",
                        "steps",
                        "train loss",
                        "test loss",
                        "test acc",
                        "ms/step",
                        "vs adam",
                        "peak MiB");
        out.append(header);
        out.append("-".repeat(header.length() - 1)).append('\n');
        for (RunResult r : results) {
            double adamMs =
                    results.stream()
                            .filter(
                                    a ->
                                            a.optimizer().equals("adam")
                                                    && a.workload().equals(r.workload()))
                            .mapToDouble(RunResult::msPerStep)
                            .findFirst()
                            .orElse(Double.NaN);
            out.append(
                    String.format(
                            Locale.ROOT,
                            "%-10s %-10s %6d %11.4f %9.4f %8.2f%% %9.2f %7.2fx %9.0f%n",
                            r.workload(),
                            r.optimizer(),
                            r.steps(),
                            r.finalTrainLoss(),
                            r.testLoss(),
                            100 * r.testAccuracy(),
                            r.msPerStep(),
                            r.msPerStep() / adamMs,
                            r.peakRssMb()));
        }
        return out.toString();
    }
}
