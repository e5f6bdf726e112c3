package io.github.so4j.bench.report;

import io.github.so4j.bench.compare.RunResult;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The runs of one optimizer on one workload over all seeds, with means and standard deviations.
 *
 * @param workload the workload
 * @param optimizer the optimizer
 * @param runs its runs, one per seed
 */
public record OptimizerSummary(String workload, String optimizer, List<RunResult> runs) {

    /**
     * Groups runs by workload and optimizer, in the order they first appear.
     *
     * @param results all runs
     * @return one summary per workload and optimizer
     */
    public static List<OptimizerSummary> of(List<RunResult> results) {
        Map<String, List<RunResult>> groups = new LinkedHashMap<>();
        for (RunResult r : results) {
            groups.computeIfAbsent(r.workload() + "\u0000" + r.optimizer(), k -> new ArrayList<>())
                    .add(r);
        }
        List<OptimizerSummary> summaries = new ArrayList<>();
        for (List<RunResult> runs : groups.values()) {
            summaries.add(
                    new OptimizerSummary(
                            runs.get(0).workload(), runs.get(0).optimizer(), List.copyOf(runs)));
        }
        return summaries;
    }

    /**
     * Returns the mean of a measurement over the seeds.
     *
     * @param metric the measurement
     * @return the mean
     */
    public double mean(ToDoubleFunction<RunResult> metric) {
        return runs.stream().mapToDouble(metric).average().orElse(Double.NaN);
    }

    /**
     * Returns the sample standard deviation of a measurement over the seeds (0 for one seed).
     *
     * @param metric the measurement
     * @return the standard deviation
     */
    public double std(ToDoubleFunction<RunResult> metric) {
        if (runs.size() < 2) {
            return 0;
        }
        double mean = mean(metric);
        double sum = 0;
        for (RunResult r : runs) {
            double d = metric.applyAsDouble(r) - mean;
            sum += d * d;
        }
        return Math.sqrt(sum / (runs.size() - 1));
    }

    /**
     * Returns the mean steps to the target over the seeds that reached it, or NaN if none did.
     *
     * @return the mean steps
     */
    public double meanStepsToTarget() {
        return runs.stream()
                .filter(r -> r.stepsToTarget() >= 0)
                .mapToDouble(RunResult::stepsToTarget)
                .average()
                .orElse(Double.NaN);
    }

    /**
     * Returns the mean seconds to the target over the seeds that reached it, or NaN.
     *
     * @return the mean seconds
     */
    public double meanSecondsToTarget() {
        return runs.stream()
                .filter(r -> r.stepsToTarget() >= 0)
                .mapToDouble(RunResult::secondsToTarget)
                .average()
                .orElse(Double.NaN);
    }

    /**
     * Returns how many seeds reached the target.
     *
     * @return the count
     */
    public long reachedTarget() {
        return runs.stream().filter(r -> r.stepsToTarget() >= 0).count();
    }
}
