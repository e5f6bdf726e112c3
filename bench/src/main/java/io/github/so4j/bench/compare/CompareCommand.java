package io.github.so4j.bench.compare;

import ai.djl.translate.TranslateException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.so4j.bench.data.FashionMnistFiles;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.tune.TunedSettings;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.curvature.Devices;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

/** {@code so4j compare}: trains a workload with several optimizers side by side. */
@Command(
        name = "compare",
        mixinStandardHelpOptions = true,
        description = {
            "Trains a workload (Fashion-MNIST images, or a character language model on"
                    + " fortune cookies) with each optimizer in turn, from the same"
                    + " initialization and batch order, and reports losses, accuracy, time to a"
                    + " target loss, time per step and memory.",
            "Writes under --out: per run a loss-curve CSV and an evaluation CSV, summary.json,"
                    + " PNG plots and report.html."
        })
public final class CompareCommand implements Callable<Integer> {

    private static final Set<String> CONFIG_KEYS =
            Set.of(
                    "sequential",
                    "workload",
                    "optimizers",
                    "steps",
                    "epochs",
                    "batch",
                    "seed",
                    "seeds",
                    "set",
                    "subset",
                    "warmup",
                    "evals",
                    "target_loss");

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
            description =
                    "Comma-separated optimizers: ${COMPLETION-CANDIDATES}. Default: all (charlm:"
                            + " all but subspace-newton, whose steps take too long there).",
            completionCandidates = OptimizerNames.class)
    private List<String> optimizers;

    @Option(
            names = "--steps",
            paramLabel = "N",
            description = "Optimizer steps per run. Default: one epoch (charlm: 600).")
    private Integer steps;

    @Option(
            names = "--epochs",
            paramLabel = "N",
            description =
                    "Epochs per run, instead of --steps (not for charlm, which draws random"
                            + " windows). Default: 1.")
    private Integer epochs;

    @Option(
            names = "--batch",
            paramLabel = "N",
            description = "Batch size. Default: 128 (charlm: 32 windows of 64 characters).")
    private Integer batchSize;

    @Option(
            names = "--seed",
            defaultValue = "0",
            description =
                    "Seed of initialization and shuffling (the first, with --seeds). Default: 0.")
    private long seed;

    @Option(
            names = "--seeds",
            defaultValue = "1",
            paramLabel = "N",
            description =
                    "Repeat every run with N seeds: the table shows mean ±sample standard"
                            + " deviation, the plots the mean and a min-max band. Default: 1.")
    private int seeds;

    @Option(
            names = "--set",
            paramLabel = "OPTIMIZER.KEY=VALUE",
            description = "An optimizer setting, e.g. --set adam.lr=0.002 (repeatable).")
    private Map<String, String> sets = new LinkedHashMap<>();

    @Option(
            names = "--config",
            paramLabel = "FILE",
            description =
                    "A JSON file with any of: workload, optimizers, steps, epochs, batch, seed,"
                            + " seeds, set (an object of OPTIMIZER.KEY: value), subset, warmup,"
                            + " evals, target_loss, sequential (true or false). Options given on the"
                            + " command line win.")
    private Path config;

    @Option(
            names = "--tuned",
            paramLabel = "FILE",
            description =
                    "A settings file written by `./so4j tune` (its \"set\" object, applied as"
                            + " --set); --set and --config's set win over it. Default: the"
                            + " settings tuned for the workload that ship with so4j"
                            + " (docs/tuning.md), where there are any.")
    private Path tuned;

    @Option(
            names = "--untuned",
            description =
                    "Use the catalog's default settings instead of the tuned settings that ship"
                            + " with so4j.")
    private boolean untuned;

    @Option(
            names = "--out",
            paramLabel = "DIR",
            description = "Output folder. Default: results/<timestamp>.")
    private Path out;

    @Option(
            names = "--data",
            paramLabel = "DIR",
            description =
                    "Folder of the workload's data: the Fashion-MNIST IDX files (default:"
                            + " $SO4J_DATA, else /usr/share/datasets/fashion-mnist) or, for"
                            + " charlm, fortune files (default: /usr/share/games/fortunes).")
    private Path data;

    @Option(
            names = "--subset",
            paramLabel = "N",
            description =
                    "Train on the first N training examples only (charlm: the first N"
                            + " characters of the training text), for quick checks.")
    private Integer subset;

    @Option(
            names = "--warmup",
            paramLabel = "N",
            defaultValue = "50",
            description =
                    "Untimed steps of every optimizer before the measured runs, so that all are"
                            + " timed after the JVM has compiled their code. Default: 50.")
    private int warmupSteps;

    @Option(
            names = "--evals",
            paramLabel = "N",
            defaultValue = "10",
            description = "Test-set evaluations during each run (untimed). Default: 10.")
    private int evals;

    @Option(
            names = "--target-loss",
            paramLabel = "X",
            description =
                    "Training loss whose first crossing is reported. Default: the workload's"
                            + " (mlp 0.45, cnn 0.45, autoencoder 0.40, logreg 0.55, charlm"
                            + " 2.5).")
    private Double targetLoss;

    @Option(names = "--no-progress", description = "Do not draw progress bars.")
    private boolean noProgress;

    @Option(
            names = "--sequential",
            description =
                    "Run the optimizers one after another, with a progress bar and a peak memory"
                            + " per run, instead of in turns of "
                            + Comparison.TURN
                            + " steps (the default, in which all meet the same drifts of the"
                            + " machine's speed, so that their step times compare fairly). The"
                            + " same losses either way.")
    private boolean sequential;

    /** {@inheritDoc} */
    @Override
    public Integer call() throws IOException, TranslateException {
        if (config != null) {
            applyConfig();
        }
        Workload chosenWorkload = parseWorkload();
        check(
                tuned == null || !untuned,
                "--tuned and --untuned exclude each other, but both were given");
        if (tuned != null) {
            try {
                sets = TunedSettings.read(tuned, chosenWorkload).under(sets);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), "--tuned: " + e.getMessage(), e);
            }
        } else if (!untuned) {
            Optional<TunedSettings> shipped = TunedSettings.bundled(chosenWorkload);
            if (shipped.isPresent()) {
                TunedSettings t = shipped.get();
                sets = t.under(sets);
                spec.commandLine()
                        .getOut()
                        .printf(
                                Locale.ROOT,
                                "settings: tuned for %s at batch %d over %d steps (%s);"
                                        + " --untuned for the catalog's defaults%n",
                                t.workload(),
                                t.batch(),
                                t.steps(),
                                TunedSettings.RESOURCE_FOLDER + t.workload() + ".json");
            }
        }
        OptimizerCatalog catalog = new OptimizerCatalog();
        Map<String, Map<String, String>> overrides = parseSets(catalog);
        List<OptimizerCatalog.Entry> entries = parseOptimizers(catalog, chosenWorkload, overrides);
        int batch = batchSize != null ? batchSize : chosenWorkload.defaultBatchSize();
        check(batch >= 1, "--batch must be at least 1, but was " + batch);
        check(seeds >= 1, "--seeds must be at least 1, but was " + seeds);
        check(warmupSteps >= 0, "--warmup must be at least 0, but was " + warmupSteps);
        check(evals >= 0, "--evals must be at least 0, but was " + evals);
        check(
                subset == null || subset >= chosenWorkload.minimumSubset(),
                "--subset must be at least "
                        + chosenWorkload.minimumSubset()
                        + " for "
                        + chosenWorkload.id()
                        + ", but was "
                        + subset);
        check(data == null || Files.isDirectory(data), "--data: " + data + " is not a folder");
        check(steps == null || epochs == null, "--steps and --epochs exclude each other; give one");
        check(
                epochs == null || chosenWorkload.defaultSteps().isEmpty(),
                "--epochs: "
                        + chosenWorkload.id()
                        + " draws random windows and has no epochs; give --steps");
        int trainSize =
                subset == null
                        ? FashionMnistFiles.TRAIN_SIZE
                        : Math.min(subset, FashionMnistFiles.TRAIN_SIZE);
        int runSteps = parseSteps(chosenWorkload, trainSize, batch);
        double target = targetLoss != null ? targetLoss : chosenWorkload.targetLoss();
        Comparison comparison =
                new Comparison(
                        chosenWorkload,
                        entries,
                        overrides,
                        runSteps,
                        batch,
                        seed,
                        seeds,
                        warmupSteps,
                        evals,
                        target,
                        data,
                        subset,
                        out != null ? out : defaultOut(),
                        !noProgress,
                        !sequential);
        comparison.run(Devices.preferred(), spec.commandLine().getOut());
        return 0;
    }

    private void check(boolean condition, String message) {
        if (!condition) {
            throw new ParameterException(spec.commandLine(), message);
        }
    }

    private Workload parseWorkload() {
        try {
            return Workload.byId(workload);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--workload: " + e.getMessage(), e);
        }
    }

    private List<OptimizerCatalog.Entry> parseOptimizers(
            OptimizerCatalog catalog,
            Workload chosenWorkload,
            Map<String, Map<String, String>> overrides) {
        List<String> names = optimizers;
        if (names == null) {
            names = new ArrayList<>(catalog.names());
            Map<String, String> excluded = chosenWorkload.defaultExclusions();
            for (Map.Entry<String, String> left : new TreeMap<>(excluded).entrySet()) {
                if (names.remove(left.getKey())) {
                    spec.commandLine()
                            .getOut()
                            .println(
                                    "so4j compare: "
                                            + left.getKey()
                                            + " is left out of "
                                            + chosenWorkload.id()
                                            + " unless named in --optimizers: "
                                            + left.getValue());
                }
            }
        }
        List<OptimizerCatalog.Entry> entries = new ArrayList<>();
        for (String name : names) {
            try {
                OptimizerCatalog.Entry entry = catalog.get(name.trim());
                entry.create(chosenWorkload, overrides.getOrDefault(entry.name(), Map.of()));
                entries.add(entry);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), e.getMessage(), e);
            }
        }
        return entries;
    }

    private int parseSteps(Workload chosenWorkload, int trainSize, int batch) {
        int stepsPerEpoch = (trainSize + batch - 1) / batch;
        if (steps != null) {
            check(steps >= 1, "--steps must be at least 1, but was " + steps);
            return steps;
        }
        if (epochs != null) {
            check(epochs >= 1, "--epochs must be at least 1, but was " + epochs);
            return Math.multiplyExact(epochs, stepsPerEpoch);
        }
        return chosenWorkload.defaultSteps().orElse(stepsPerEpoch);
    }

    private Map<String, Map<String, String>> parseSets(OptimizerCatalog catalog) {
        Map<String, Map<String, String>> byOptimizer = new LinkedHashMap<>();
        for (Map.Entry<String, String> set : sets.entrySet()) {
            String key = set.getKey();
            int dot = key.indexOf('.');
            check(
                    dot > 0 && dot < key.length() - 1,
                    "--set takes OPTIMIZER.KEY=VALUE (e.g. adam.lr=0.002), but was '"
                            + key
                            + "="
                            + set.getValue()
                            + "'");
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

    /** Fills every option the command line did not give from the JSON config file. */
    private void applyConfig() throws IOException {
        check(Files.isRegularFile(config), "--config: " + config + " is not a file");
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(config.toFile());
        } catch (IOException e) {
            throw new ParameterException(
                    spec.commandLine(),
                    "--config: " + config + " is not valid JSON: " + e.getMessage(),
                    e);
        }
        check(root != null && root.isObject(), "--config: " + config + " must hold a JSON object");
        ParseResult given = spec.commandLine().getParseResult();
        for (Iterator<String> names = root.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            check(
                    CONFIG_KEYS.contains(name),
                    "--config: unknown key '"
                            + name
                            + "'; allowed: "
                            + String.join(", ", new java.util.TreeSet<>(CONFIG_KEYS)));
        }
        if (root.has("workload") && !given.hasMatchedOption("--workload")) {
            workload = root.get("workload").asText();
        }
        if (root.has("optimizers") && !given.hasMatchedOption("--optimizers")) {
            JsonNode node = root.get("optimizers");
            List<String> names = new ArrayList<>();
            if (node.isArray()) {
                node.forEach(n -> names.add(n.asText()));
            } else {
                names.addAll(List.of(node.asText().split(",")));
            }
            optimizers = names;
        }
        if (!given.hasMatchedOption("--steps") && !given.hasMatchedOption("--epochs")) {
            steps = root.has("steps") ? root.get("steps").asInt() : steps;
            epochs = root.has("epochs") ? root.get("epochs").asInt() : epochs;
        }
        if (root.has("batch") && !given.hasMatchedOption("--batch")) {
            batchSize = root.get("batch").asInt();
        }
        seeds = intValue(root, "seeds", "--seeds", seeds);
        warmupSteps = intValue(root, "warmup", "--warmup", warmupSteps);
        evals = intValue(root, "evals", "--evals", evals);
        if (root.has("seed") && !given.hasMatchedOption("--seed")) {
            seed = root.get("seed").asLong();
        }
        if (root.has("subset") && !given.hasMatchedOption("--subset")) {
            subset = root.get("subset").asInt();
        }
        if (root.has("sequential") && !given.hasMatchedOption("--sequential")) {
            check(
                    root.get("sequential").isBoolean(),
                    "--config: sequential must be true or false, but was "
                            + root.get("sequential"));
            sequential = root.get("sequential").asBoolean();
        }
        if (root.has("target_loss") && !given.hasMatchedOption("--target-loss")) {
            targetLoss = root.get("target_loss").asDouble();
        }
        if (root.has("set")) {
            Map<String, String> fromFile = new LinkedHashMap<>();
            root.get("set")
                    .fields()
                    .forEachRemaining(e -> fromFile.put(e.getKey(), e.getValue().asText()));
            fromFile.putAll(sets);
            sets = fromFile;
        }
    }

    private int intValue(JsonNode root, String key, String option, int current) {
        if (root.has(key) && !spec.commandLine().getParseResult().hasMatchedOption(option)) {
            return root.get(key).asInt();
        }
        return current;
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
