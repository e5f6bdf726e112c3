package io.github.so4j.bench.compare;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.so4j.bench.Main;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class CompareCommandTest {

    @TempDir Path out;

    private final StringWriter stdout = new StringWriter();
    private final StringWriter stderr = new StringWriter();

    private int run(String... args) {
        CommandLine cli = Main.commandLine();
        cli.setOut(new PrintWriter(stdout));
        cli.setErr(new PrintWriter(stderr));
        return cli.execute(args);
    }

    @Test
    void tinyComparisonWritesTableCurvesAndSummary() throws IOException {
        int code =
                run(
                        "compare",
                        "--steps",
                        "6",
                        "--subset",
                        "512",
                        "--batch",
                        "64",
                        "--optimizers",
                        "sgd,adam",
                        "--out",
                        out.toString(),
                        "--no-progress");
        assertEquals(0, code, stderr.toString());
        String table = stdout.toString();
        assertTrue(table.contains("optimizer"), table);
        assertTrue(table.lines().anyMatch(l -> l.startsWith("mlp        sgd")), table);
        assertTrue(table.lines().anyMatch(l -> l.startsWith("mlp        adam")), table);

        JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
        assertEquals(2, summary.size());
        for (JsonNode run : summary) {
            for (String field :
                    List.of(
                            "workload",
                            "optimizer",
                            "steps",
                            "seed",
                            "final_train_loss",
                            "test_accuracy",
                            "ms_per_step",
                            "peak_rss_mb")) {
                assertTrue(run.has(field), field + " missing in " + run);
            }
            assertEquals(6, run.get("steps").asInt());
            double loss = run.get("final_train_loss").asDouble();
            assertTrue(loss > 0 && loss < Math.log(10) * 2, "loss " + loss);
            double accuracy = run.get("test_accuracy").asDouble();
            assertTrue(accuracy >= 0 && accuracy <= 1, "accuracy " + accuracy);
            assertTrue(run.get("ms_per_step").asDouble() > 0);
            List<String> curve = Files.readAllLines(out.resolve(run.get("curve_csv").asText()));
            assertEquals(ResultFiles.CURVE_HEADER, curve.get(0));
            assertEquals(7, curve.size());
        }
    }

    @Test
    void sameSeedGivesTheSameCurve() throws IOException {
        Path first = out.resolve("a");
        Path second = out.resolve("b");
        for (Path dir : List.of(first, second)) {
            assertEquals(
                    0,
                    run(
                            "compare",
                            "--steps",
                            "5",
                            "--subset",
                            "256",
                            "--optimizers",
                            "adam",
                            "--seed",
                            "3",
                            "--out",
                            dir.toString(),
                            "--no-progress"),
                    stderr.toString());
        }
        assertEquals(losses(first), losses(second));
    }

    @Test
    void unknownOptimizerListsTheAllowedOnes() {
        assertEquals(2, run("compare", "--optimizers", "adam,lbfgs", "--no-progress"));
        assertTrue(
                stderr.toString().contains("unknown optimizer 'lbfgs'; allowed: sgd, adam"),
                stderr.toString());
    }

    @Test
    void unknownWorkloadListsTheAllowedOnes() {
        assertEquals(2, run("compare", "--workload", "resnet", "--no-progress"));
        assertTrue(
                stderr.toString().contains("unknown workload 'resnet'; allowed: mlp"),
                stderr.toString());
    }

    @Test
    void negativeStepCountIsRejected() {
        assertEquals(2, run("compare", "--steps", "-3", "--no-progress"));
        assertTrue(
                stderr.toString().contains("--steps must be at least 1, but was -3"),
                stderr.toString());
    }

    @Test
    void missingDataFolderIsRejected() {
        Path missing = out.resolve("nowhere");
        assertEquals(2, run("compare", "--data", missing.toString(), "--no-progress"));
        assertTrue(
                stderr.toString().contains("--data: " + missing + " is not a folder"),
                stderr.toString());
    }

    @Test
    void unknownSettingListsTheAllowedKeys() {
        assertEquals(2, run("compare", "--set", "adam.momentum=0.9", "--no-progress"));
        assertTrue(
                stderr.toString()
                        .contains("unknown setting adam.momentum; allowed: beta1, beta2, lr"),
                stderr.toString());
    }

    private static List<String> losses(Path dir) throws IOException {
        return Files.readAllLines(dir.resolve("mlp-adam-seed3.csv")).stream()
                .skip(1)
                .map(line -> line.split(",")[2])
                .toList();
    }
}
