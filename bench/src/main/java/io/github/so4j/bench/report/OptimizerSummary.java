package io.github.so4j.bench.report;

import io.github.so4j.bench.compare.RunResult;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The runs of one optimizer on one workload over all seeds, with their aggregates.
 *
 * <p>Losses, accuracies and times to the target are aggregated over the runs that did not diverge
 * ({@link RunResult#diverged()}): a diverged run is reported as such, never as a number. Step
 * times, memory and state are aggregated over every run (a diverged run's steps took real time).
 * The spread is given two ways: the sample standard deviation (n - 1 in the denominator; 0 for one
 * value) and the range (min and max).
 *
 * @param workload the workload
 * @param optimizer the optimizer
 * @param runs its runs, one per seed
 */
public record OptimizerSummary(String workload, String optimizer, List<RunResult> runs) {

    /**
     * Mean, sample standard deviation, minimum and maximum of some values.
     *
     * @param count how many values
     * @param mean their mean, NaN for none
     * @param std their sample standard deviation (0 for one value, NaN for none)
     * @param min the smallest, NaN for none
     * @param max the largest, NaN for none
     */
    public record Stats(int count, double mean, double std, double min, double max) {

        /**
         * Aggregates values in two passes (the mean, then the squared deviations from it).
         *
         * @param values the values
         * @return their statistics
         */
        public static Stats of(double[] values) {
            int n = values.length;
            if (n == 0) {
                return new Stats(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
            }
            double sum = 0;
            double min = Double.POSITIVE_INFINITY;
            double max = Double.NEGATIVE_INFINITY;
            for (double v : values) {
                sum += v;
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
            double mean = sum / n;
            double squares = 0;
            for (double v : values) {
                squares += (v - mean) * (v - mean);
            }
            return new Stats(n, mean, n < 2 ? 0 : Math.sqrt(squares / (n - 1)), min, max);
        }
    }

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
     * Returns the mean of a measurement over every run, diverged or not (for step times, memory,
     * state).
     *
     * @param metric the measurement
     * @return the mean
     */
    public double mean(ToDoubleFunction<RunResult> metric) {
        return runs.stream().mapToDouble(metric).average().orElse(Double.NaN);
    }

    /**
     * Returns the statistics of a measurement over every run, diverged or not.
     *
     * @param metric the measurement
     * @return the statistics
     */
    public Stats all(ToDoubleFunction<RunResult> metric) {
        return Stats.of(runs.stream().mapToDouble(metric).toArray());
    }

    /**
     * Returns the statistics of a measurement over the runs that did not diverge.
     *
     * @param metric the measurement
     * @return the statistics (count 0 when every run diverged)
     */
    public Stats converged(ToDoubleFunction<RunResult> metric) {
        return Stats.of(runs.stream().filter(r -> !r.diverged()).mapToDouble(metric).toArray());
    }

    /**
     * Returns the statistics of the steps to the target over the runs that reached it and did not
     * diverge.
     *
     * @return the statistics (count 0 when none did)
     */
    public Stats stepsToTarget() {
        return Stats.of(reached().stream().mapToDouble(RunResult::stepsToTarget).toArray());
    }

    /**
     * Returns the statistics of the seconds to the target over the runs that reached it and did not
     * diverge.
     *
     * @return the statistics (count 0 when none did)
     */
    public Stats secondsToTarget() {
        return Stats.of(reached().stream().mapToDouble(RunResult::secondsToTarget).toArray());
    }

    /**
     * Returns the runs that reached the target and did not diverge.
     *
     * @return the runs
     */
    public List<RunResult> reached() {
        return runs.stream().filter(r -> !r.diverged() && r.stepsToTarget() >= 0).toList();
    }

    /**
     * Returns how many runs diverged.
     *
     * @return the count
     */
    public int divergedRuns() {
        return (int) runs.stream().filter(RunResult::diverged).count();
    }
}
