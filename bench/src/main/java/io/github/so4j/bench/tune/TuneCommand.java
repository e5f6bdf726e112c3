package io.github.so4j.bench.tune;

import ai.djl.ndarray.NDManager;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.data.FashionMnistFiles;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.bench.workload.WorkloadData;
import io.github.so4j.curvature.Devices;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code so4j tune}: sweeps each optimizer's learning rate (and its damping where the catalog names
 * one, {@link OptimizerCatalog.Entry#tuningKnob}) on a log-spaced grid around its default, for one
 * workload, batch size and budget, over one or more seeds; chooses each optimizer's point by a
 * {@link Criterion}; writes {@code tuned.json} ({@link TunedSettings}, for {@code ./so4j compare
 * --tuned FILE}) and {@code tuning.md} (the tables). Resumes a sweep stopped part way ({@link
 * Sweep}).
 */
@Command(
        name = "tune",
        mixinStandardHelpOptions = true,
        description = {
            "Sweeps each optimizer's learning rate (and damping, for the methods that need it) on"
                    + " a log-spaced grid around its default, for one workload, batch size and"
                    + " budget, and keeps the best point of each by the criterion: time to the"
                    + " target loss, else the final training loss; a point where a seed diverged"
                    + " loses.",
            "Writes under --out one JSON file per finished run (a sweep run again into the same"
                    + " folder skips them), tuned.json for `./so4j compare --tuned FILE`, and"
                    + " tuning.md."
        })
public final class TuneCommand implements Callable<Integer> {

    @Spec private CommandSpec spec;

    @Option(
            names = "--workload",
            defaultValue = "mlp",
            description = "The workload. Default: ${DEFAULT-VALUE}.")
    private String workload;

    @Option(
            names = "--optimizers",
            split = ",",
            description =
                    "Comma-separated optimizers. Default: the workload's default list of"
                            + " `./so4j compare`.")
    private List<String> optimizers;

    @Option(
            names = "--steps",
            paramLabel = "N",
            description = "Budget in steps per run. Default: one epoch (charlm: 600).")
    private Integer steps;

    @Option(names = "--epochs", paramLabel = "N", description = "Budget in epochs per run.")
    private Integer epochs;

    @Option(
            names = "--batch",
            paramLabel = "N",
            description = "Batch size. Default: the workload's (128; charlm 32).")
    private Integer batchSize;

    @Option(
            names = "--seed",
            defaultValue = "0",
            description = "The first seed. Default: ${DEFAULT-VALUE}.")
    private long seed;

    @Option(
            names = "--seeds",
            defaultValue = "1",
            paramLabel = "N",
            description = "Seeds per point; the criterion uses their means. Default: 1.")
    private int seeds;

    @Option(
            names = "--target-loss",
            paramLabel = "X",
            description = "Target training loss. Default: the workload's (mlp 0.45).")
    private Double targetLoss;

    @Option(
            names = "--lr-points",
            defaultValue = "5",
            paramLabel = "N",
            description = "Learning rates per optimizer. Default: ${DEFAULT-VALUE}.")
    private int lrPoints;

    @Option(
            names = "--lr-ratio",
            defaultValue = "2",
            paramLabel = "R",
            description = "Factor between neighbouring learning rates. Default: ${DEFAULT-VALUE}.")
    private double lrRatio;

    @Option(
            names = "--knob-points",
            defaultValue = "3",
            paramLabel = "N",
            description =
                    "Values of the second setting (damping of kfac, mfac, subspace-newton)."
                            + " Default: ${DEFAULT-VALUE}.")
    private int knobPoints;

    @Option(
            names = "--knob-ratio",
            defaultValue = "10",
            paramLabel = "R",
            description = "Factor between its neighbouring values. Default: ${DEFAULT-VALUE}.")
    private double knobRatio;

    @Option(
            names = "--grid",
            paramLabel = "OPTIMIZER.KEY=LO:HI:N",
            description =
                    "Replaces (or adds) the grid of one setting, log-spaced from LO to HI, e.g."
                            + " --grid kfac.damping=0.01:1:3 (repeatable).")
    private Map<String, String> gridOverrides = new LinkedHashMap<>();

    @Option(
            names = "--criterion",
            defaultValue = "steps",
            description =
                    "steps: time to the target counted in steps (a step costs the same at every"
                            + " point of one optimizer's grid); seconds: measured. Default:"
                            + " ${DEFAULT-VALUE}.")
    private String criterion;

    @Option(
            names = "--out",
            paramLabel = "DIR",
            description =
                    "Output folder (resumed when it holds the same sweep). Default:"
                            + " results/tune-<workload>-b<batch>-<steps>.")
    private Path out;

    @Option(names = "--data", paramLabel = "DIR", description = "Folder of the workload's data.")
    private Path data;

    @Option(
            names = "--subset",
            paramLabel = "N",
            description = "Train on the first N training examples only, for quick checks.")
    private Integer subset;

    /** {@inheritDoc} */
    @Override
    public Integer call() throws IOException, TranslateException {
        PrintWriter stdout = spec.commandLine().getOut();
        Workload chosen;
        try {
            chosen = Workload.byId(workload);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--workload: " + e.getMessage(), e);
        }
        int batch = batchSize != null ? batchSize : chosen.defaultBatchSize();
        check(batch >= 1, "--batch must be at least 1, but was " + batch);
        check(seeds >= 1, "--seeds must be at least 1, but was " + seeds);
        check(steps == null || epochs == null, "--steps and --epochs exclude each other; give one");
        check(data == null || Files.isDirectory(data), "--data: " + data + " is not a folder");
        Criterion rule = parseCriterion();
        int trainSize =
                subset == null
                        ? FashionMnistFiles.TRAIN_SIZE
                        : Math.min(subset, FashionMnistFiles.TRAIN_SIZE);
        int budget = budget(chosen, trainSize, batch);
        double target = targetLoss != null ? targetLoss : chosen.targetLoss();
        List<Grid> grids = grids(chosen);
        Path folder =
                out != null
                        ? out
                        : Path.of("results", "tune-" + chosen.id() + "-b" + batch + "-" + budget);
        Sweep.Setup setup =
                new Sweep.Setup(chosen, batch, budget, target, seed, seeds, false, folder);
        int runs = 0;
        for (Grid grid : grids) {
            runs += grid.points().size() * seeds;
        }
        stdout.printf(
                Locale.ROOT,
                "so4j tune: %s, %d steps of batch %d, target loss %s, seed%s %s; %d runs"
                        + " into %s%nCriterion: %s%n",
                chosen.id(),
                budget,
                batch,
                target,
                seeds > 1 ? "s" : "",
                seeds > 1 ? seed + ".." + (seed + seeds - 1) : Long.toString(seed),
                runs,
                folder,
                rule.description());
        stdout.flush();
        Map<String, List<Score>> scores;
        try (NDManager manager = NDManager.newBaseManager(Devices.preferred())) {
            WorkloadData loaded = chosen.load(manager, data, subset, batch);
            try {
                scores = new Sweep(setup).run(grids, loaded, Devices.preferred(), stdout);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), "--out: " + e.getMessage(), e);
            }
        }
        TunedSettings tuned = SweepTables.tuned(setup, rule, scores);
        Path settingsFile = folder.resolve("tuned.json");
        tuned.write(settingsFile);
        String tables = SweepTables.markdown(rule, scores);
        Files.writeString(folder.resolve("tuning.md"), tables, StandardCharsets.UTF_8);
        stdout.println();
        stdout.print(tables);
        stdout.println("Chosen: " + tuned.set());
        stdout.println(
                "Wrote "
                        + settingsFile
                        + " (use: ./so4j compare --tuned "
                        + settingsFile
                        + ") and tuning.md.");
        stdout.flush();
        return 0;
    }

    private void check(boolean condition, String message) {
        if (!condition) {
            throw new ParameterException(spec.commandLine(), message);
        }
    }

    private Criterion parseCriterion() {
        try {
            return Criterion.valueOf(criterion.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new ParameterException(
                    spec.commandLine(),
                    "--criterion must be steps or seconds, but was '" + criterion + "'",
                    e);
        }
    }

    private int budget(Workload chosen, int trainSize, int batch) {
        if (steps != null) {
            check(steps >= 1, "--steps must be at least 1, but was " + steps);
            return steps;
        }
        if (epochs != null) {
            check(epochs >= 1, "--epochs must be at least 1, but was " + epochs);
            check(
                    chosen.defaultSteps().isEmpty(),
                    "--epochs: " + chosen.id() + " draws random windows and has no epochs");
            return Math.multiplyExact(epochs, (trainSize + batch - 1) / batch);
        }
        return chosen.defaultSteps().orElse((trainSize + batch - 1) / batch);
    }

    private List<Grid> grids(Workload chosen) {
        OptimizerCatalog catalog = new OptimizerCatalog();
        List<String> names = optimizers;
        if (names == null) {
            names = new ArrayList<>(catalog.names());
            names.removeAll(chosen.defaultExclusions().keySet());
        }
        Grid.Layout layout = new Grid.Layout(lrPoints, lrRatio, knobPoints, knobRatio, 1);
        Map<String, Grid> grids = new LinkedHashMap<>();
        try {
            for (String name : names) {
                OptimizerCatalog.Entry entry = catalog.get(name.trim());
                grids.put(entry.name(), Grid.around(entry, chosen, layout));
            }
            for (Map.Entry<String, String> g : gridOverrides.entrySet()) {
                String key = g.getKey();
                int dot = key.indexOf('.');
                check(
                        dot > 0 && dot < key.length() - 1,
                        "--grid takes OPTIMIZER.KEY=LO:HI:N, but was '" + key + "'");
                Grid grid = grids.get(key.substring(0, dot));
                check(
                        grid != null,
                        "--grid: " + key.substring(0, dot) + " is not among the optimizers tuned");
                grids.put(
                        grid.optimizer().name(),
                        grid.with(key.substring(dot + 1), LogGrid.parse(g.getValue())));
            }
            for (Grid grid : grids.values()) {
                // every point must build: a bad value is reported before any run
                for (Map<String, String> point : grid.points()) {
                    grid.optimizer().create(chosen, point);
                }
            }
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage(), e);
        }
        return new ArrayList<>(grids.values());
    }
}
