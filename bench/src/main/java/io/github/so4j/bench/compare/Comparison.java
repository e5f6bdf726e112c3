package io.github.so4j.bench.compare;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.report.HtmlReport;
import io.github.so4j.bench.report.Plots;
import io.github.so4j.bench.report.ResultFiles;
import io.github.so4j.bench.report.ResultTable;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.bench.workload.WorkloadData;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * One comparison: a workload trained with several optimizers and seeds, then written out as CSVs,
 * {@code summary.json}, plots and {@code report.html}. Used by {@code so4j compare} and by the
 * paper recipes of {@code so4j reproduce}.
 *
 * @param workload the workload
 * @param optimizers the optimizers, in order
 * @param overrides the user's settings, by optimizer name
 * @param steps optimizer steps per run
 * @param batchSize the batch size
 * @param seed the first seed
 * @param seeds how many seeds per optimizer
 * @param warmupSteps untimed steps of every optimizer before the measured runs
 * @param evaluations test-set evaluations per run
 * @param targetLoss the training loss whose first crossing is reported
 * @param dataDirectory the workload's data folder, or null for the default
 * @param subset the number of training examples (for charlm: training characters), or null for all
 * @param out the output folder
 * @param progress whether to draw progress bars
 * @param interleave whether the runs advance in turns of {@value #TURN} steps each instead of one
 *     after another: every run then meets the same drifts of the machine's speed, so that step
 *     times compare within a comparison even when the machine slows down or speeds up during it (on
 *     a shared machine a run of the same build can take 40% longer than the one before), while each
 *     run's data stays in the caches within its turn. Results are the same as without, step times
 *     aside; the peak memory is then the process's over all runs.
 */
public record Comparison(
        Workload workload,
        List<OptimizerCatalog.Entry> optimizers,
        Map<String, Map<String, String>> overrides,
        int steps,
        int batchSize,
        long seed,
        int seeds,
        int warmupSteps,
        int evaluations,
        double targetLoss,
        Path dataDirectory,
        Integer subset,
        Path out,
        boolean progress,
        boolean interleave) {

    /** Steps a run takes in a turn when runs are interleaved. */
    public static final int TURN = 20;

    /**
     * Runs every optimizer and seed, writes all files and prints the table.
     *
     * @param device the device to train on
     * @param stdout where the heading and the table go
     * @return the runs
     * @throws IOException if data cannot be read or files written
     * @throws TranslateException if batching fails
     */
    public List<RunResult> run(Device device, PrintWriter stdout)
            throws IOException, TranslateException {
        Files.createDirectories(out);
        List<RunResult> results = new ArrayList<>();
        String heading;
        try (NDManager manager = NDManager.newBaseManager(device)) {
            WorkloadData data = workload.load(manager, dataDirectory, subset, batchSize);
            heading =
                    String.format(
                            Locale.ROOT,
                            "%s (%s): %d steps of batch %d, seed%s %s, target loss %s; data %s",
                            workload.id(),
                            workload.description(),
                            steps,
                            batchSize,
                            seeds > 1 ? "s" : "",
                            seeds > 1 ? seed + ".." + (seed + seeds - 1) : Long.toString(seed),
                            targetLoss,
                            data.source());
            if (interleave) {
                heading += "; runs interleaved in turns of " + TURN + " steps";
            }
            stdout.println("so4j compare: " + heading);
            stdout.flush();
            int warmup = Math.min(warmupSteps, steps);
            if (warmup > 0) {
                for (OptimizerCatalog.Entry entry : optimizers) {
                    TrainingRun.warmUp(plan(entry, warmup, seed, 0), data.train(), device);
                }
            }
            List<TrainingRun.Plan> plans = new ArrayList<>();
            for (OptimizerCatalog.Entry entry : optimizers) {
                for (long s = seed; s < seed + seeds; s++) {
                    plans.add(plan(entry, steps, s, evaluations));
                }
            }
            if (interleave) {
                results.addAll(runInterleaved(plans, data, device));
                for (RunResult result : results) {
                    ResultFiles.writeRun(out, result);
                }
            } else {
                for (TrainingRun.Plan plan : plans) {
                    RunResult result = runOne(plan, data, device);
                    ResultFiles.writeRun(out, result);
                    results.add(result);
                }
            }
        }
        String table = ResultTable.format(results);
        ResultFiles.writeSummary(out, results);
        List<Path> plots = Plots.write(out, results);
        Path report = HtmlReport.write(out, heading, environment(device), results, plots);
        stdout.println();
        stdout.print(table);
        stdout.println();
        stdout.println("Wrote " + report + ", summary.json, the plots and the CSVs.");
        stdout.flush();
        return results;
    }

    private TrainingRun.Plan plan(
            OptimizerCatalog.Entry entry, int runSteps, long runSeed, int evals) {
        return new TrainingRun.Plan(
                workload,
                entry,
                overrides.getOrDefault(entry.name(), Map.of()),
                runSteps,
                batchSize,
                runSeed,
                evals == 0 ? 0 : TrainingRun.Plan.defaultWarmup(runSteps),
                evals,
                targetLoss);
    }

    /**
     * Runs the plans in turns of {@value #TURN} steps each until all are done; the results in the
     * plans' order. One progress bar counts the steps of all runs.
     */
    private List<RunResult> runInterleaved(
            List<TrainingRun.Plan> plans, WorkloadData data, Device device)
            throws IOException, TranslateException {
        List<TrainingRun.OpenRun> runs = new ArrayList<>();
        ProgressBar bar = null;
        try {
            if (progress) {
                bar =
                        new ProgressBarBuilder()
                                .setTaskName(
                                        String.format("%-11s %-14s", workload.id(), "interleaved"))
                                .setInitialMax((long) steps * plans.size())
                                .setStyle(ProgressBarStyle.ASCII)
                                .setUpdateIntervalMillis(250)
                                .setMaxRenderedLength(110)
                                .build();
            }
            ProgressBar shared = bar;
            for (TrainingRun.Plan plan : plans) {
                runs.add(
                        TrainingRun.open(
                                plan,
                                data,
                                device,
                                record -> {
                                    if (shared != null) {
                                        shared.step();
                                    }
                                }));
            }
            boolean running = true;
            while (running) {
                running = false;
                for (TrainingRun.OpenRun run : runs) {
                    for (int i = 0; i < TURN && !run.done(); i++) {
                        run.step();
                        running = true;
                    }
                }
            }
            List<RunResult> results = new ArrayList<>();
            for (TrainingRun.OpenRun run : runs) {
                results.add(run.finish());
            }
            return results;
        } finally {
            for (TrainingRun.OpenRun run : runs) {
                run.close();
            }
            if (bar != null) {
                bar.close();
            }
        }
    }

    private RunResult runOne(TrainingRun.Plan plan, WorkloadData data, Device device)
            throws IOException, TranslateException {
        if (!progress) {
            return TrainingRun.execute(plan, data, device, record -> {});
        }
        String name =
                seeds > 1 ? plan.optimizer().name() + " s" + plan.seed() : plan.optimizer().name();
        ProgressBarBuilder builder =
                new ProgressBarBuilder()
                        .setTaskName(String.format("%-11s %-14s", plan.workload().id(), name))
                        .setInitialMax(plan.steps())
                        .setStyle(ProgressBarStyle.ASCII)
                        .setUpdateIntervalMillis(250)
                        .setMaxRenderedLength(110);
        try (ProgressBar bar = builder.build()) {
            return TrainingRun.execute(
                    plan,
                    data,
                    device,
                    record -> {
                        bar.stepTo(record.step());
                        bar.setExtraMessage(
                                String.format(Locale.ROOT, " loss %.4f", record.trainLoss()));
                    });
        }
    }

    /**
     * Describes the machine and the versions, for reports.
     *
     * @param device the device trained on
     * @return one line
     */
    public static String environment(Device device) {
        Engine engine = Engine.getInstance();
        return String.format(
                Locale.ROOT,
                "%s %s on %s; Java %s; %d cores; %s",
                engine.getEngineName(),
                engine.getVersion(),
                device,
                System.getProperty("java.version"),
                Runtime.getRuntime().availableProcessors(),
                LocalDateTime.now().format(DateTimeFormatter.ISO_LOCAL_DATE_TIME));
    }
}
