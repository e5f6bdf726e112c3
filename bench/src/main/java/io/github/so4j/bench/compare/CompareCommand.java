package io.github.so4j.bench.compare;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.training.dataset.Dataset;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.data.FashionMnistFiles;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.curvature.Devices;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code so4j compare}: trains a workload with several optimizers side by side. */
@Command(
        name = "compare",
        mixinStandardHelpOptions = true,
        description = {
            "Trains a workload on Fashion-MNIST with each optimizer in turn, from the same"
                    + " initialization and batch order, and reports losses, accuracy, time per"
                    + " step and memory.",
            "Writes under --out: one loss-curve CSV per run and summary.json."
        })
public final class CompareCommand implements Callable<Integer> {

    private static final int FASHION_MNIST_TRAIN_SIZE = FashionMnistFiles.TRAIN_SIZE;

    @Spec private CommandSpec spec;

    @Option(
            names = "--workload",
            defaultValue = "mlp",
            description = "The workload: ${COMPLETION-CANDIDATES}. Default: ${DEFAULT-VALUE}.",
            completionCandidates = WorkloadNames.class)
    private String workload;

    @Option(
            names = "--optimizers",
            split = ",",
            defaultValue = "sgd,adam",
            description =
                    "Comma-separated optimizers: ${COMPLETION-CANDIDATES}."
                            + " Default: ${DEFAULT-VALUE}.",
            completionCandidates = OptimizerNames.class)
    private List<String> optimizers;

    @ArgGroup(exclusive = true)
    private Length length;

    @Option(names = "--batch", defaultValue = "128", description = "Batch size. Default: 128.")
    private int batchSize;

    @Option(
            names = "--seed",
            defaultValue = "0",
            description = "Seed of initialization and shuffling. Default: 0.")
    private long seed;

    @Option(
            names = "--set",
            paramLabel = "OPTIMIZER.KEY=VALUE",
            description = "An optimizer setting, e.g. --set adam.lr=0.002 (repeatable).")
    private Map<String, String> sets = new LinkedHashMap<>();

    @Option(
            names = "--out",
            paramLabel = "DIR",
            description = "Output folder. Default: results/<timestamp>.")
    private Path out;

    @Option(
            names = "--data",
            paramLabel = "DIR",
            description =
                    "Folder of the Fashion-MNIST IDX files. Default: $SO4J_DATA, else"
                            + " /usr/share/datasets/fashion-mnist.")
    private Path data;

    @Option(
            names = "--subset",
            paramLabel = "N",
            description = "Train on the first N training examples only (for quick checks).")
    private Integer subset;

    @Option(
            names = "--warmup",
            paramLabel = "N",
            defaultValue = "50",
            description =
                    "Untimed steps of every optimizer before the measured runs, so that all are"
                            + " timed after the JVM has compiled their code. Default: 50.")
    private int warmupSteps;

    @Option(names = "--no-progress", description = "Do not draw progress bars.")
    private boolean noProgress;

    /** Either a number of steps or a number of epochs. */
    static final class Length {
        @Option(
                names = "--steps",
                paramLabel = "N",
                required = true,
                description = "Optimizer steps per run.")
        Integer steps;

        @Option(
                names = "--epochs",
                paramLabel = "N",
                required = true,
                description = "Epochs per run (default: 1).")
        Integer epochs;
    }

    /** {@inheritDoc} */
    @Override
    public Integer call() throws IOException, TranslateException {
        Workload chosenWorkload = parseWorkload();
        OptimizerCatalog catalog = new OptimizerCatalog();
        Map<String, Map<String, String>> overrides = parseSets(catalog);
        List<OptimizerCatalog.Entry> entries = new ArrayList<>();
        for (String name : optimizers) {
            try {
                OptimizerCatalog.Entry entry = catalog.get(name.trim());
                entry.create(overrides.getOrDefault(entry.name(), Map.of()));
                entries.add(entry);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), e.getMessage(), e);
            }
        }
        if (batchSize < 1) {
            throw new ParameterException(
                    spec.commandLine(), "--batch must be at least 1, but was " + batchSize);
        }
        if (warmupSteps < 0) {
            throw new ParameterException(
                    spec.commandLine(), "--warmup must be at least 0, but was " + warmupSteps);
        }
        if (subset != null && subset < 1) {
            throw new ParameterException(
                    spec.commandLine(), "--subset must be at least 1, but was " + subset);
        }
        if (data != null && !Files.isDirectory(data)) {
            throw new ParameterException(
                    spec.commandLine(), "--data: " + data + " is not a folder");
        }
        int trainSize =
                subset == null
                        ? FASHION_MNIST_TRAIN_SIZE
                        : Math.min(subset, FASHION_MNIST_TRAIN_SIZE);
        int steps = parseSteps(trainSize);
        Path outDirectory = out != null ? out : defaultOut();
        Files.createDirectories(outDirectory);

        PrintWriter stdout = spec.commandLine().getOut();
        Device device = Devices.preferred();
        List<RunResult> results = new ArrayList<>();
        try (NDManager manager = NDManager.newBaseManager(device)) {
            FashionMnistDataset train = load(manager, Dataset.Usage.TRAIN, chosenWorkload);
            FashionMnistDataset test = load(manager, Dataset.Usage.TEST, chosenWorkload);
            stdout.printf(
                    Locale.ROOT,
                    "so4j compare: %s (%s), %d steps of batch %d, seed %d, on %s; data %s%n",
                    chosenWorkload.id(),
                    chosenWorkload.description(),
                    steps,
                    batchSize,
                    seed,
                    device,
                    train.getDirectory());
            stdout.flush();
            if (warmupSteps > 0) {
                for (OptimizerCatalog.Entry entry : entries) {
                    TrainingRun.warmUp(
                            new TrainingRun.Plan(
                                    chosenWorkload,
                                    entry,
                                    overrides.getOrDefault(entry.name(), Map.of()),
                                    warmupSteps,
                                    batchSize,
                                    seed,
                                    0),
                            train,
                            device);
                }
            }
            for (OptimizerCatalog.Entry entry : entries) {
                TrainingRun.Plan plan =
                        new TrainingRun.Plan(
                                chosenWorkload,
                                entry,
                                overrides.getOrDefault(entry.name(), Map.of()),
                                steps,
                                batchSize,
                                seed,
                                TrainingRun.Plan.defaultWarmup(steps));
                RunResult result = runWithProgress(plan, train, test, device);
                ResultFiles.writeCurve(outDirectory, result);
                results.add(result);
            }
        }
        ResultFiles.writeSummary(outDirectory, results);
        stdout.println();
        stdout.print(ResultTable.format(results));
        stdout.println();
        stdout.println("Wrote " + outDirectory.resolve("summary.json") + " and the loss curves.");
        stdout.flush();
        return 0;
    }

    private RunResult runWithProgress(
            TrainingRun.Plan plan,
            FashionMnistDataset train,
            FashionMnistDataset test,
            Device device)
            throws IOException, TranslateException {
        if (noProgress) {
            return TrainingRun.execute(plan, train, test, device, record -> {});
        }
        ProgressBarBuilder builder =
                new ProgressBarBuilder()
                        .setTaskName(
                                String.format(
                                        "%-6s %-9s", plan.workload().id(), plan.optimizer().name()))
                        .setInitialMax(plan.steps())
                        .setStyle(ProgressBarStyle.ASCII)
                        .setUpdateIntervalMillis(250)
                        .setMaxRenderedLength(100);
        try (ProgressBar bar = builder.build()) {
            return TrainingRun.execute(
                    plan,
                    train,
                    test,
                    device,
                    record -> {
                        bar.stepTo(record.step());
                        bar.setExtraMessage(
                                String.format(Locale.ROOT, " loss %.4f", record.trainLoss()));
                    });
        }
    }

    private FashionMnistDataset load(NDManager manager, Dataset.Usage usage, Workload w)
            throws IOException, TranslateException {
        FashionMnistDataset.Builder builder =
                FashionMnistDataset.builder()
                        .setManager(manager)
                        .optDirectory(data)
                        .optUsage(usage)
                        .optFlatten(w.flatInput())
                        .setSampling(batchSize, false);
        if (usage == Dataset.Usage.TRAIN && subset != null) {
            builder.optSubset(subset);
        }
        FashionMnistDataset dataset = builder.build();
        dataset.prepare();
        return dataset;
    }

    private Workload parseWorkload() {
        try {
            return Workload.byId(workload);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--workload: " + e.getMessage(), e);
        }
    }

    private int parseSteps(int trainSize) {
        int stepsPerEpoch = (trainSize + batchSize - 1) / batchSize;
        if (length == null) {
            return stepsPerEpoch;
        }
        if (length.steps != null) {
            if (length.steps < 1) {
                throw new ParameterException(
                        spec.commandLine(), "--steps must be at least 1, but was " + length.steps);
            }
            return length.steps;
        }
        if (length.epochs < 1) {
            throw new ParameterException(
                    spec.commandLine(), "--epochs must be at least 1, but was " + length.epochs);
        }
        return Math.multiplyExact(length.epochs, stepsPerEpoch);
    }

    private Map<String, Map<String, String>> parseSets(OptimizerCatalog catalog) {
        Map<String, Map<String, String>> byOptimizer = new LinkedHashMap<>();
        for (Map.Entry<String, String> set : sets.entrySet()) {
            String key = set.getKey();
            int dot = key.indexOf('.');
            if (dot <= 0 || dot == key.length() - 1) {
                throw new ParameterException(
                        spec.commandLine(),
                        "--set takes OPTIMIZER.KEY=VALUE (e.g. adam.lr=0.002), but was '"
                                + key
                                + "="
                                + set.getValue()
                                + "'");
            }
            String optimizer = key.substring(0, dot);
            try {
                catalog.get(optimizer);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), "--set: " + e.getMessage(), e);
            }
            byOptimizer
                    .computeIfAbsent(optimizer, k -> new LinkedHashMap<>())
                    .put(key.substring(dot + 1), set.getValue());
        }
        return byOptimizer;
    }

    private static Path defaultOut() {
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        return Path.of("results", stamp);
    }

    /** The workload names, for help and completion. */
    static final class WorkloadNames extends ArrayList<String> {
        private static final long serialVersionUID = 1L;

        WorkloadNames() {
            for (Workload w : Workload.values()) {
                add(w.id());
            }
        }
    }

    /** The optimizer names, for help and completion. */
    static final class OptimizerNames extends ArrayList<String> {
        private static final long serialVersionUID = 1L;

        OptimizerNames() {
            super(new OptimizerCatalog().names());
        }
    }
}
