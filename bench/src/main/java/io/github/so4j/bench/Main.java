package io.github.so4j.bench;

import io.github.so4j.bench.compare.CompareCommand;
import io.github.so4j.bench.jmh.JmhCommand;
import io.github.so4j.bench.reproduce.ReproduceCommand;
import io.github.so4j.bench.tune.TuneCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code so4j} command: second-order optimizers for DJL, compared and measured. */
@Command(
        name = "so4j",
        mixinStandardHelpOptions = true,
        version = "so4j 0.1.0-SNAPSHOT (DJL 0.36.0, PyTorch 2.7.1)",
        description =
                "Second-order optimizers for Deep Java Library: compare, reproduce, tune, measure.",
        subcommands = {
            CompareCommand.class,
            ReproduceCommand.class,
            TuneCommand.class,
            JmhCommand.class,
            CommandLine.HelpCommand.class
        })
public final class Main implements Runnable {

    private Main() {}

    /**
     * Runs the command line.
     *
     * @param args the arguments
     */
    public static void main(String[] args) {
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        System.exit(commandLine().execute(args));
    }

    /**
     * Returns the command line with all sub-commands, for {@link #main} and for tests.
     *
     * @return a new command line
     */
    public static CommandLine commandLine() {
        return new CommandLine(new Main());
    }

    /** {@inheritDoc} */
    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }
}
