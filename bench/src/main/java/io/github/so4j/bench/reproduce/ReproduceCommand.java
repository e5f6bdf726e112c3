package io.github.so4j.bench.reproduce;

import io.github.so4j.curvature.Devices;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code so4j reproduce}: redraws a paper's figure with fixed settings. */
@Command(
        name = "reproduce",
        mixinStandardHelpOptions = true,
        description = {
            "Redraws a paper's figure at the scale of this machine and prints the numbers.",
            "Without a recipe, lists the recipes and whether they can run."
        })
public final class ReproduceCommand implements Callable<Integer> {

    @Spec private CommandSpec spec;

    private final Recipes recipes;

    @Parameters(index = "0", arity = "0..1", paramLabel = "RECIPE", description = "The recipe.")
    private String recipe;

    @Option(
            names = "--out",
            paramLabel = "DIR",
            description = "Output folder. Default: results/<recipe>.")
    private Path out;

    @Option(
            names = "--data",
            paramLabel = "DIR",
            description = "Folder of the Fashion-MNIST IDX files.")
    private Path data;

    @Option(
            names = "--full",
            description =
                    "Run the recipe's larger version where it has one (batch-scaling: more batch"
                            + " sizes, a wider grid, two seeds).")
    private boolean full;

    @Option(names = "--no-progress", description = "Do not draw progress bars.")
    private boolean noProgress;

    /** Creates the command with every recipe so4j knows. */
    public ReproduceCommand() {
        this(new Recipes());
    }

    ReproduceCommand(Recipes recipes) {
        this.recipes = recipes;
    }

    /** {@inheritDoc} */
    @Override
    public Integer call() throws Exception {
        PrintWriter stdout = spec.commandLine().getOut();
        if (recipe == null) {
            for (Recipe r : recipes.all()) {
                stdout.printf("%-22s %s%n", r.name(), r.description());
            }
            stdout.flush();
            return 0;
        }
        Recipe chosen;
        try {
            chosen = recipes.get(recipe);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage(), e);
        }
        if (data != null && !Files.isDirectory(data)) {
            throw new ParameterException(
                    spec.commandLine(), "--data: " + data + " is not a folder");
        }
        Path folder = out != null ? out : Path.of("results", chosen.name());
        Files.createDirectories(folder);
        chosen.run(new RecipeContext(folder, data, Devices.preferred(), stdout, !noProgress, full));
        return 0;
    }
}
