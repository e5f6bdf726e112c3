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
 * curve_csv} and {@code eval_csv}.
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
            rows.add(row);
        }
        Path file = directory.resolve("summary.json");
        new ObjectMapper()
                .enable(SerializationFeature.INDENT_OUTPUT)
                .writeValue(file.toFile(), rows);
        return file;
    }
}
