package io.github.so4j.bench.tune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.so4j.bench.Main;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class TuneCommandTest {

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
    void aTinySweepWritesSettingsThatCompareApplies() throws Exception {
        Path sweep = out.resolve("sweep");
        String[] tune = {
            "tune",
            "--optimizers",
            "sgd,kfac",
            "--steps",
            "3",
            "--subset",
            "256",
            "--batch",
            "64",
            "--lr-points",
            "2",
            "--knob-points",
            "1",
            "--grid",
            "sgd.lr=0.01:0.04:2",
            "--out",
            sweep.toString()
        };
        assertEquals(0, run(tune), stderr.toString());
        String printed = stdout.toString();
        assertTrue(printed.contains("4 runs"), printed);
        assertTrue(printed.contains("[4/4] kfac lr=0.2,damping=0.1 seed 0: 3 steps"), printed);
        assertTrue(printed.contains("### sgd"), printed);
        assertTrue(Files.isRegularFile(sweep.resolve("tuning.md")));
        TunedSettings tuned = TunedSettings.read(sweep.resolve("tuned.json"));
        assertEquals(64, tuned.batch());
        assertEquals(3, tuned.steps());
        assertTrue(tuned.set().get("sgd.lr").matches("0\\.01|0\\.04"), tuned.set().toString());
        assertEquals("0.1", tuned.set().get("kfac.damping"));

        // run again: every point is read back
        stdout.getBuffer().setLength(0);
        assertEquals(0, run(tune), stderr.toString());
        assertEquals(4, stdout.toString().lines().filter(l -> l.endsWith("(done before)")).count());

        Path compared = out.resolve("compare");
        int code =
                run(
                        "compare",
                        "--optimizers",
                        "sgd",
                        "--steps",
                        "2",
                        "--subset",
                        "256",
                        "--batch",
                        "64",
                        "--warmup",
                        "0",
                        "--evals",
                        "0",
                        "--no-progress",
                        "--tuned",
                        sweep.resolve("tuned.json").toString(),
                        "--out",
                        compared.toString());
        assertEquals(0, code, stderr.toString());
        JsonNode summary = new ObjectMapper().readTree(compared.resolve("summary.json").toFile());
        assertTrue(
                summary.get(0).get("settings").asText().contains("lr=" + tuned.set().get("sgd.lr")),
                summary.toString());
        // --set wins over the file
        code =
                run(
                        "compare",
                        "--optimizers",
                        "sgd",
                        "--steps",
                        "2",
                        "--subset",
                        "256",
                        "--batch",
                        "64",
                        "--warmup",
                        "0",
                        "--evals",
                        "0",
                        "--no-progress",
                        "--tuned",
                        sweep.resolve("tuned.json").toString(),
                        "--set",
                        "sgd.lr=0.5",
                        "--out",
                        compared.toString());
        assertEquals(0, code, stderr.toString());
        summary = new ObjectMapper().readTree(compared.resolve("summary.json").toFile());
        assertTrue(summary.get(0).get("settings").asText().contains("lr=0.5"), summary.toString());
    }

    @Test
    void compareRefusesSettingsOfAnotherWorkload() throws Exception {
        Path file = out.resolve("tuned.json");
        Files.writeString(
                file,
                "{\"workload\": \"cnn\", \"batch\": 128, \"steps\": 1, \"target_loss\": 1,"
                        + " \"set\": {\"sgd.lr\": \"0.1\"}}");
        assertEquals(2, run("compare", "--tuned", file.toString(), "--no-progress"));
        assertTrue(
                stderr.toString()
                        .contains("--tuned: " + file + " holds settings tuned on cnn, not on mlp"),
                stderr.toString());
    }

    @Test
    void badOptionsAreRefusedBeforeAnyRun() {
        assertEquals(2, run("tune", "--lr-ratio", "1", "--out", out.toString()));
        assertTrue(
                stderr.toString().contains("ratio must be a finite number above 1"),
                stderr.toString());
        assertEquals(2, run("tune", "--criterion", "loss", "--out", out.toString()));
        assertTrue(
                stderr.toString().contains("--criterion must be steps or seconds"),
                stderr.toString());
        assertEquals(
                2,
                run(
                        "tune",
                        "--optimizers",
                        "adam",
                        "--grid",
                        "kfac.lr=0.1",
                        "--out",
                        out.toString()));
        assertTrue(
                stderr.toString().contains("kfac is not among the optimizers tuned"),
                stderr.toString());
        assertEquals(
                2,
                run(
                        "tune",
                        "--optimizers",
                        "adam",
                        "--grid",
                        "adam.nope=0.1",
                        "--out",
                        out.toString()));
        assertTrue(stderr.toString().contains("unknown setting adam.nope"), stderr.toString());
    }
}
