package io.github.so4j.bench.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.github.so4j.bench.compare.RunResult;
import io.github.so4j.optimizers.OptimizerHealth;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes a comparison's results: per run a loss-curve CSV and an evaluation CSV, and {@code
 * summary.json} for all runs.
 *
 * <p>The names of the CSV columns and of the JSON fields are a stable interface: scripts read them.
 * {@code summary.json} is an array with one object per run holding {@code workload}, {@code
 * optimizer}, {@code settings}, {@code steps}, {@code batch_size}, {@code seed}, {@code
 * final_train_loss}, {@code test_loss}, {@code test_accuracy}, {@code ms_per_step}, {@code
 * train_seconds}, {@code peak_rss_mb}, {@code state_bytes}, {@code target_loss}, {@code
 * steps_to_target}, {@code seconds_to_target}, {@code health}, {@code host_reads}, {@code
 * curve_csv}, {@code eval_csv}, {@code diverged}, {@code divergence} and {@code across_seeds}. It
 * keeps one row per run, so with one seed one row per optimizer; every row of an optimizer carries
 * the same {@code across_seeds}, so that a script can read one row per optimizer.
 *
 * <p>{@code diverged} is true when a batch loss was NaN or infinite or the final training loss is
 * above the initial loss ({@link RunResult#diverged()}); {@code divergence} says why, or is null.
 * {@code across_seeds} holds {@code seeds}, {@code runs}, {@code diverged_runs}, {@code
 * reached_target_runs} and, for {@code final_train_loss}, {@code test_loss}, {@code test_accuracy},
 * {@code steps_to_target}, {@code seconds_to_target} and {@code ms_per_step}, an object with {@code
 * per_seed} (the values in the order of {@code seeds}: null for a diverged run's losses and
 * accuracy, and for the time to the target of a run that diverged or did not reach it) and {@code
 * count}, {@code mean}, {@code std} (the sample standard deviation, n - 1), {@code min} and {@code
 * max} over the values that are not null (null when none are). {@code ms_per_step} counts every
 * run.
 *
 * <p>{@code state_bytes} is the bytes of the optimizer's state after the last step: the arrays it
 * keeps from step to step (moments, momentum buffers, windows, factors, inverses, bases), counted
 * from their shapes and dtypes, not the weights nor the gradients ({@link
 * io.github.so4j.bench.optimizer.OptimizerStateBytes}); {@code null} for an optimizer whose state
 * the harness does not know (none of the catalog's).
 *
 * <p>{@code host_reads} is {@code {"reads": N, "steps_with_reads": K}} for so4j's optimizers: the
 * device-to-host reads the optimizer made during the timed steps (those {@code ms_per_step}
 * averages: the steps after the run's warm-up steps), and how many of those steps made at least
 * one; the reads of the harness's own {@code health()} calls are not counted. It is {@code null}
 * for DJL's optimizers (SGD, Adam, AdamW), which do not count their reads: the key is always there,
 * so that a script reads every row alike.
 */
public final class ResultFiles {

    /** The header of every loss-curve CSV. */
    public static final String CURVE_HEADER = "step,seconds,train_loss,learning_rate";

    /** The header of every evaluation CSV. */
    public static final String EVAL_HEADER = "step,seconds,test_loss,test_accuracy";

    private ResultFiles() {}

    /**
     * Returns the file name of a run's loss-curve CSV.
     *
     * @param result the run
     * @return {@code <workload>-<optimizer>-seed<seed>.csv}
     */
    public static String curveFileName(RunResult result) {
        return stem(result) + ".csv";
    }

    /**
     * Returns the file name of a run's evaluation CSV.
     *
     * @param result the run
     * @return {@code <workload>-<optimizer>-seed<seed>-eval.csv}
     */
    public static String evalFileName(RunResult result) {
        return stem(result) + "-eval.csv";
    }

    /** The JSON object of {@code host_reads}, or null. */
    private static Map<String, Object> hostReads(OptimizerHealth.HostReadCount count) {
        if (count == null) {
            return null;
        }
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("reads", count.reads());
        map.put("steps_with_reads", count.stepsWithReads());
        return map;
    }

    /** The {@code across_seeds} object of one optimizer's rows. */
    private static Map<String, Object> acrossSeeds(OptimizerSummary s) {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("seeds", s.runs().stream().map(RunResult::seed).toList());
        map.put("runs", s.runs().size());
        map.put("diverged_runs", s.divergedRuns());
        map.put("reached_target_runs", s.reached().size());
        map.put(
                "final_train_loss",
                stats(s, s.converged(RunResult::finalTrainLoss), RunResult::finalTrainLoss, true));
        map.put("test_loss", stats(s, s.converged(RunResult::testLoss), RunResult::testLoss, true));
        map.put(
                "test_accuracy",
                stats(s, s.converged(RunResult::testAccuracy), RunResult::testAccuracy, true));
        map.put(
                "steps_to_target",
                stats(s, s.stepsToTarget(), r -> reached(r) ? r.stepsToTarget() : null, false));
        map.put(
                "seconds_to_target",
                stats(s, s.secondsToTarget(), r -> reached(r) ? r.secondsToTarget() : null, false));
        map.put("ms_per_step", stats(s, s.all(RunResult::msPerStep), RunResult::msPerStep, false));
        return map;
    }

    private static boolean reached(RunResult r) {
        return !r.diverged() && r.stepsToTarget() >= 0;
    }

    /**
     * One measurement across the seeds: {@code per_seed} (in the order of {@code seeds}; null for a
     * diverged run where {@code convergedOnly}, and for a run that did not reach the target), then
     * {@code count}, {@code mean}, {@code std} (sample, n - 1), {@code min} and {@code max} over
     * the non-null values (null when there are none).
     */
    private static Map<String, Object> stats(
            OptimizerSummary s,
            OptimizerSummary.Stats stats,
            java.util.function.Function<RunResult, Object> value,
            boolean convergedOnly) {
        Map<String, Object> map = new LinkedHashMap<>();
        List<Object> perSeed = new ArrayList<>();
        for (RunResult r : s.runs()) {
            perSeed.add(convergedOnly && r.diverged() ? null : finiteOrNull(value.apply(r)));
        }
        map.put("per_seed", perSeed);
        map.put("count", stats.count());
        map.put("mean", finiteOrNull(stats.mean()));
        map.put("std", finiteOrNull(stats.std()));
        map.put("min", finiteOrNull(stats.min()));
        map.put("max", finiteOrNull(stats.max()));
        return map;
    }

    private static Object finiteOrNull(Object value) {
        return value instanceof Double d && !Double.isFinite(d) ? null : value;
    }

    private static String stem(RunResult r) {
        return r.workload() + "-" + r.optimizer() + "-seed" + r.seed();
    }

    /**
     * Writes a run's loss curve and evaluations.
     *
     * @param directory the output folder
     * @param result the run
     * @throws IOException if they cannot be written
     */
    public static void writeRun(Path directory, RunResult result) throws IOException {
        try (Writer out =
                Files.newBufferedWriter(
                        directory.resolve(curveFileName(result)), StandardCharsets.UTF_8)) {
            out.write(CURVE_HEADER + "\n");
            for (RunResult.StepRecord r : result.curve()) {
                out.write(
                        String.format(
                                Locale.ROOT,
                                "%d,%.6f,%.8g,%.8g%n",
                                r.step(),
                                r.seconds(),
                                r.trainLoss(),
                                r.learningRate()));
            }
        }
        try (Writer out =
                Files.newBufferedWriter(
                        directory.resolve(evalFileName(result)), StandardCharsets.UTF_8)) {
            out.write(EVAL_HEADER + "\n");
            for (RunResult.EvaluationRecord r : result.evaluations()) {
                out.write(
                        String.format(
                                Locale.ROOT,
                                "%d,%.6f,%.8g,%.8g%n",
                                r.step(),
                                r.seconds(),
                                r.testLoss(),
                                r.testAccuracy()));
            }
        }
    }

    /**
     * Writes {@code summary.json}.
     *
     * @param directory the output folder
     * @param results the runs
     * @return the file written
     * @throws IOException if it cannot be written
     */
    public static Path writeSummary(Path directory, List<RunResult> results) throws IOException {
        Map<String, Map<String, Object>> acrossSeeds = new LinkedHashMap<>();
        for (OptimizerSummary s : OptimizerSummary.of(results)) {
            acrossSeeds.put(s.workload() + "\u0000" + s.optimizer(), acrossSeeds(s));
        }
        List<Map<String, Object>> rows = new ArrayList<>();
        for (RunResult r : results) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("workload", r.workload());
            row.put("optimizer", r.optimizer());
            row.put("settings", r.settings());
            row.put("steps", r.steps());
            row.put("batch_size", r.batchSize());
            row.put("seed", r.seed());
            row.put("final_train_loss", r.finalTrainLoss());
            row.put("test_loss", r.testLoss());
            row.put("test_accuracy", r.testAccuracy());
            row.put("ms_per_step", r.msPerStep());
            row.put("train_seconds", r.trainSeconds());
            row.put("peak_rss_mb", r.peakRssMb());
            row.put("state_bytes", r.stateBytes() < 0 ? null : r.stateBytes());
            row.put("target_loss", r.targetLoss());
            row.put("steps_to_target", r.stepsToTarget() < 0 ? null : r.stepsToTarget());
            row.put(
                    "seconds_to_target",
                    Double.isNaN(r.secondsToTarget()) ? null : r.secondsToTarget());
            row.put("health", r.health());
            row.put("host_reads", hostReads(r.hostReads()));
            row.put("curve_csv", curveFileName(r));
            row.put("eval_csv", evalFileName(r));
            row.put("diverged", r.diverged());
            row.put("divergence", r.divergence());
            row.put("across_seeds", acrossSeeds.get(r.workload() + "\u0000" + r.optimizer()));
            rows.add(row);
        }
        Path file = directory.resolve("summary.json");
        new ObjectMapper()
                .enable(SerializationFeature.INDENT_OUTPUT)
                .writeValue(file.toFile(), rows);
        return file;
    }
}
