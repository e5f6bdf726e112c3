package io.github.so4j.bench.jmh;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code so4j jmh}: runs the JMH microbenchmarks with defaults sized for a 2-core machine. */
@Command(
        name = "jmh",
        mixinStandardHelpOptions = true,
        description = {
            "Runs the JMH microbenchmarks (one fork, 3 warm-up and 5 measured iterations of 1 s;"
                    + " --quick: 1 and 3 of 0.5 s), writes jmh.json and a table with bandwidths.",
            "Example: ./so4j jmh SlidingWindowFisher -p dimension=1000000 -p window=128"
        })
public final class JmhCommand implements Callable<Integer> {

    @Spec private CommandSpec spec;

    @Parameters(
            index = "0",
            arity = "0..1",
            defaultValue = "Benchmark",
            description = "A regular expression selecting benchmarks. Default: all.")
    private String pattern;

    @Option(names = "--quick", description = "Shorter warm-up and measurement.")
    private boolean quick;

    @Option(
            names = {"-p", "--param"},
            paramLabel = "NAME=V1,V2",
            description = "Override a @Param grid, e.g. -p window=16,128 (repeatable).")
    private Map<String, String> params = Map.of();

    @Option(
            names = "--out",
            paramLabel = "DIR",
            description = "Output folder. Default: results/jmh-<timestamp>.")
    private Path out;

    /** {@inheritDoc} */
    @Override
    public Integer call() throws Exception {
        Path folder =
                out != null
                        ? out
                        : Path.of(
                                "results",
                                "jmh-"
                                        + LocalDateTime.now()
                                                .format(
                                                        DateTimeFormatter.ofPattern(
                                                                "yyyyMMdd-HHmmss")));
        Files.createDirectories(folder);
        Path json = folder.resolve("jmh.json");
        List<String> jvmArgs = new ArrayList<>();
        jvmArgs.add("-Xmx2g");
        jvmArgs.add("-XX:TieredStopAtLevel=1");
        jvmArgs.add("-Dai.djl.offline=" + System.getProperty("ai.djl.offline", "true"));
        ChainedOptionsBuilder options =
                new OptionsBuilder()
                        .include(pattern)
                        .forks(1)
                        .threads(1)
                        .jvmArgsAppend(jvmArgs.toArray(new String[0]))
                        .warmupIterations(quick ? 1 : 3)
                        .warmupTime(TimeValue.milliseconds(quick ? 500 : 1000))
                        .measurementIterations(quick ? 3 : 5)
                        .measurementTime(TimeValue.milliseconds(quick ? 500 : 1000))
                        .resultFormat(ResultFormatType.JSON)
                        .result(json.toString());
        for (Map.Entry<String, String> entry : params.entrySet()) {
            options.param(entry.getKey(), entry.getValue().split(","));
        }
        new Runner(options.build()).run();
        String table = JmhTables.format(json);
        Files.writeString(folder.resolve("jmh.md"), table);
        PrintWriter stdout = spec.commandLine().getOut();
        stdout.println();
        stdout.print(table);
        stdout.println("Wrote " + json + " and " + folder.resolve("jmh.md"));
        stdout.flush();
        return 0;
    }
}
