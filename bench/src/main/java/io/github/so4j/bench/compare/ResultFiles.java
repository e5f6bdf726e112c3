package io.github.so4j.bench.compare;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
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
 * Writes a comparison's results: one loss-curve CSV per run and {@code summary.json}.
 *
 * <p>The names of the CSV columns and of the JSON fields are a stable interface: scripts read them.
 * {@code summary.json} is an array with one object per run holding {@code workload}, {@code
 * optimizer}, {@code settings}, {@code steps}, {@code batch_size}, {@code seed}, {@code
 * final_train_loss}, {@code test_loss}, {@code test_accuracy}, {@code ms_per_step}, {@code
 * train_seconds}, {@code peak_rss_mb} and {@code curve_csv}.
 */
public final class ResultFiles {

    /** The header of every curve CSV. */
    public static final String CURVE_HEADER = "step,seconds,train_loss,learning_rate";

    private ResultFiles() {}

    /**
     * Returns the file name of a run's curve CSV.
     *
     * @param result the run
     * @return {@code <workload>-<optimizer>-seed<seed>.csv}
     */
    public static String curveFileName(RunResult result) {
        return result.workload() + "-" + result.optimizer() + "-seed" + result.seed() + ".csv";
    }

    /**
     * Writes a run's loss curve.
     *
     * @param directory the output folder
     * @param result the run
     * @return the file written
     * @throws IOException if it cannot be written
     */
    public static Path writeCurve(Path directory, RunResult result) throws IOException {
        Path file = directory.resolve(curveFileName(result));
        try (Writer out = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            out.write(CURVE_HEADER);
            out.write('\n');
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
        return file;
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
            row.put("curve_csv", curveFileName(r));
            rows.add(row);
        }
        Path file = directory.resolve("summary.json");
        new ObjectMapper()
                .enable(SerializationFeature.INDENT_OUTPUT)
                .writeValue(file.toFile(), rows);
        return file;
    }
}
