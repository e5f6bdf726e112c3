package io.github.so4j.bench.compare;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.so4j.bench.Main;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.report.ResultFiles;
import io.github.so4j.bench.workload.Workload;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;
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
    void tinyComparisonWritesTableCurvesSummaryPlotsAndReport() throws IOException {
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
                        "--seeds",
                        "2",
                        "--evals",
                        "3",
                        "--warmup",
                        "2",
                        "--out",
                        out.toString(),
                        "--no-progress");
        assertEquals(0, code, stderr.toString());
        String table = stdout.toString();
        assertTrue(table.contains("optimizer"), table);
        assertTrue(table.lines().anyMatch(l -> l.matches("mlp +sgd +6 +2 .*")), table);
        assertTrue(table.lines().anyMatch(l -> l.matches("mlp +adam +6 +2 .*1\\.00x.*")), table);

        JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
        assertEquals(4, summary.size(), "two optimizers x two seeds");
        for (JsonNode run : summary) {
            for (String field :
                    List.of(
                            "workload",
                            "optimizer",
                            "settings",
                            "steps",
                            "batch_size",
                            "seed",
                            "final_train_loss",
                            "test_loss",
                            "test_accuracy",
                            "ms_per_step",
                            "train_seconds",
                            "peak_rss_mb",
                            "state_bytes",
                            "target_loss",
                            "steps_to_target",
                            "seconds_to_target",
                            "health",
                            "curve_csv",
                            "eval_csv")) {
                assertTrue(run.has(field), field + " missing in " + run);
            }
            assertEquals(6, run.get("steps").asInt());
            // the mlp's 784 x 256 + 256 x 128 + 128 x 10 weights and 256 + 128 + 10 biases,
            // float32:
            // Adam keeps two moments of each, Sgd with momentum 0.9 one buffer
            long parameterBytes = (784 * 256 + 256 * 128 + 128 * 10 + 256 + 128 + 10) * 4;
            long perParameter = run.get("optimizer").asText().equals("adam") ? 2 : 1;
            assertEquals(perParameter * parameterBytes, run.get("state_bytes").asLong(), run + "");
            double loss = run.get("final_train_loss").asDouble();
            assertTrue(loss > 0 && loss < Math.log(10) * 2, "loss " + loss);
            double accuracy = run.get("test_accuracy").asDouble();
            assertTrue(accuracy >= 0 && accuracy <= 1, "accuracy " + accuracy);
            assertTrue(run.get("ms_per_step").asDouble() > 0);
            List<String> curve = Files.readAllLines(out.resolve(run.get("curve_csv").asText()));
            assertEquals(ResultFiles.CURVE_HEADER, curve.get(0));
            assertEquals(7, curve.size());
            assertTrue(curve.get(1).matches("1,[0-9.]+,[0-9.e+-]+,[0-9.e+-]+"), curve.get(1));
            List<String> evals = Files.readAllLines(out.resolve(run.get("eval_csv").asText()));
            assertEquals(ResultFiles.EVAL_HEADER, evals.get(0));
            assertEquals(4, evals.size(), "three evaluations");
        }
        for (String plot :
                List.of(
                        "loss-vs-steps.png",
                        "loss-vs-seconds.png",
                        "test-accuracy.png",
                        "test-loss.png")) {
            assertPlotDrawn(out.resolve(plot));
        }
        String html = Files.readString(out.resolve("report.html"));
        assertTrue(html.contains("<img src=\"loss-vs-steps.png\""), html);
        assertTrue(html.contains("mlp-adam-seed1.csv"), html);
        assertTrue(html.contains("<th>vs adam</th>"), html);
        assertTrue(html.contains("<th>steps to 0.45</th>"), html);
        assertTrue(html.contains("state MiB"), html);
        assertTrue(html.contains("state 1881168 bytes"), html);
        assertTrue(table.lines().anyMatch(l -> l.matches("mlp +adam .* 1\\.79 +- *")), table);
        assertTrue(table.lines().anyMatch(l -> l.matches("mlp +sgd .* 0\\.90 +- *")), table);
    }

    /**
     * SGD without momentum at a learning rate of 30 blows the mlp's loss up within a few steps (on
     * the full set 2.4, 1e4, 8e8, ... then NaN): the command ends normally, the table and
     * summary.json say "diverged", and every plot is drawn.
     */
    @Test
    void aDivergingRunIsReportedAsDivergedAndPlotted() throws IOException {
        int code =
                run(
                        "compare",
                        "--optimizers",
                        "sgd",
                        "--set",
                        "sgd.lr=30",
                        "--set",
                        "sgd.momentum=0",
                        "--steps",
                        "30",
                        "--subset",
                        "512",
                        "--evals",
                        "2",
                        "--warmup",
                        "0",
                        "--out",
                        out.toString(),
                        "--no-progress");
        assertEquals(0, code, stderr.toString());
        String table = stdout.toString();
        assertTrue(
                table.lines().anyMatch(l -> l.matches("mlp +sgd +30 +1 +diverged +diverged .*")),
                table);
        // on 512 examples the loss may stay finite but end above where it started (5.5 against
        // 2.4 in one run): either is divergence
        assertTrue(
                table.contains("mlp sgd seed 0 diverged: batch loss ")
                        || table.contains("mlp sgd seed 0 diverged: final training loss "),
                table);
        JsonNode row = new ObjectMapper().readTree(out.resolve("summary.json").toFile()).get(0);
        assertTrue(row.get("diverged").asBoolean(), row.toString());
        for (String plot :
                List.of(
                        "loss-vs-steps.png",
                        "loss-vs-seconds.png",
                        "test-accuracy.png",
                        "test-loss.png")) {
            assertTrue(Files.size(out.resolve(plot)) > 0, plot);
        }
    }

    @Test
    void so4jRowsCountTheirHostReadsOverTheTimedSteps() throws IOException {
        int steps = 6;
        int timedSteps = steps - TrainingRun.Plan.defaultWarmup(steps);
        assertTrue(timedSteps < steps, "the run's own warm-up step is left out");
        List<String> so4j =
                List.of(
                        "mfac",
                        "kfac",
                        "shampoo",
                        "muon",
                        "soap",
                        "dct-adam",
                        "galore",
                        "osd",
                        "subspace-newton",
                        "smb");
        int code =
                run(
                        "compare",
                        "--steps",
                        Integer.toString(steps),
                        "--subset",
                        "256",
                        "--batch",
                        "32",
                        "--optimizers",
                        "adam," + String.join(",", so4j),
                        "--evals",
                        "2",
                        "--warmup",
                        "0",
                        "--out",
                        out.toString(),
                        "--no-progress");
        assertEquals(0, code, stderr.toString());
        JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
        assertEquals(1 + so4j.size(), summary.size());
        for (JsonNode run : summary) {
            String optimizer = run.get("optimizer").asText();
            assertTrue(run.has("host_reads"), "host_reads missing in " + run);
            JsonNode reads = run.get("host_reads");
            if (optimizer.equals("adam")) {
                assertTrue(reads.isNull(), "DJL's Adam counts no reads: " + reads);
                continue;
            }
            assertTrue(so4j.contains(optimizer), optimizer);
            assertTrue(reads.isObject(), optimizer + ": " + reads);
            assertEquals(2, reads.size(), optimizer + ": " + reads);
            assertTrue(reads.get("reads").isIntegralNumber(), optimizer + ": " + reads);
            assertTrue(reads.get("steps_with_reads").isIntegralNumber(), optimizer + ": " + reads);
            long n = reads.get("reads").asLong();
            long k = reads.get("steps_with_reads").asLong();
            assertTrue(k >= 0 && k <= timedSteps, optimizer + ": " + reads);
            assertTrue(n >= k, optimizer + ": a step with reads made at least one: " + reads);
            assertStateBytes(optimizer, run.get("state_bytes"));
        }
        String table = stdout.toString();
        assertTrue(table.contains("host reads"), table);
        assertTrue(table.lines().anyMatch(l -> l.matches("mlp +adam .* -")), table);
        assertTrue(table.lines().anyMatch(l -> l.matches("mlp +mfac .* \\d+ \\(\\d+\\)")), table);
    }

    @Test
    void allStepsAreTimedWithoutEvaluationsAndHostReadsCountThemAll() throws IOException {
        int steps = 4;
        assertEquals(
                0,
                run(
                        "compare",
                        "--steps",
                        Integer.toString(steps),
                        "--subset",
                        "128",
                        "--optimizers",
                        "sgd,shampoo",
                        "--evals",
                        "0",
                        "--warmup",
                        "0",
                        "--set",
                        "shampoo.precondition_frequency=2",
                        "--out",
                        out.toString(),
                        "--no-progress"),
                stderr.toString());
        JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
        assertTrue(summary.get(0).get("host_reads").isNull(), summary.get(0).toString());
        JsonNode reads = summary.get(1).get("host_reads");
        assertEquals("shampoo", summary.get(1).get("optimizer").asText());
        long k = reads.get("steps_with_reads").asLong();
        // roots refreshed every 2 steps are decided and computed on the host: those steps read
        assertTrue(k >= 1 && k <= steps, reads.toString());
        assertTrue(reads.get("reads").asLong() >= k, reads.toString());
    }

    /**
     * The state of each so4j optimizer on the mlp (784-256-128-10, d = 235146 float32 numbers).
     * Muon: a momentum buffer for the two hidden weights (784 x 256 and 256 x 128), AdamW's two
     * moments for the output weight (128 x 10) and the three biases. M-FAC (m = 32): at least the
     * window (m d numbers) and K and M (2 m^2 float64). Subspace Newton (KRYLOV) keeps nothing.
     */
    private static void assertStateBytes(String optimizer, JsonNode stateBytes) {
        assertTrue(stateBytes.isIntegralNumber(), optimizer + ": " + stateBytes);
        long bytes = stateBytes.asLong();
        long d = 784 * 256 + 256 * 128 + 128 * 10 + 256 + 128 + 10;
        switch (optimizer) {
            case "muon" ->
                    assertEquals(
                            (784 * 256 + 256 * 128 + 2 * (128 * 10 + 256 + 128 + 10)) * 4, bytes);
            case "mfac" -> assertTrue(bytes >= 32 * d * 4 + 2 * 32 * 32 * 8, "mfac: " + bytes);
            case "subspace-newton" -> assertEquals(0, bytes);
            default -> assertTrue(bytes > 0, optimizer + ": " + bytes);
        }
    }

    /** The PNG decodes, has the promised size and is not blank: several colours drawn. */
    private static void assertPlotDrawn(Path png) throws IOException {
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(800, image.getWidth(), png.toString());
        assertEquals(500, image.getHeight(), png.toString());
        Set<Integer> colours = new HashSet<>();
        for (int y = 0; y < image.getHeight(); y += 3) {
            for (int x = 0; x < image.getWidth(); x += 3) {
                colours.add(image.getRGB(x, y));
            }
        }
        assertTrue(colours.size() > 10, png + " has only " + colours.size() + " colours");
    }

    @Test
    void configFileSetsWhatTheCommandLineDoesNot() throws IOException {
        Path file = out.resolve("config.json");
        Files.writeString(
                file,
                "{\"optimizers\": [\"adam\"], \"steps\": 4, \"subset\": 256, \"evals\": 0,"
                        + " \"warmup\": 0, \"set\": {\"adam.lr\": \"0.002\"}, \"seed\": 9}");
        Path dir = out.resolve("c");
        assertEquals(
                0,
                run(
                        "compare",
                        "--config",
                        file.toString(),
                        "--steps",
                        "3",
                        "--out",
                        dir.toString(),
                        "--no-progress"),
                stderr.toString());
        JsonNode run = new ObjectMapper().readTree(dir.resolve("summary.json").toFile()).get(0);
        assertEquals("adam", run.get("optimizer").asText());
        assertEquals(3, run.get("steps").asInt(), "the command line wins");
        assertEquals(9, run.get("seed").asInt());
        assertTrue(run.get("settings").asText().contains("lr=0.002"), run.toString());
    }

    @Test
    void unknownConfigKeyListsTheAllowedOnes() throws IOException {
        Path file = out.resolve("bad.json");
        Files.writeString(file, "{\"stepz\": 4}");
        assertEquals(2, run("compare", "--config", file.toString(), "--no-progress"));
        assertTrue(
                stderr.toString().contains("--config: unknown key 'stepz'; allowed: batch,"),
                stderr.toString());
    }

    @Test
    void autoencoderWorkloadReconstructsImages() throws IOException {
        assertEquals(
                0,
                run(
                        "compare",
                        "--workload",
                        "autoencoder",
                        "--optimizers",
                        "adam",
                        "--steps",
                        "2",
                        "--subset",
                        "128",
                        "--evals",
                        "1",
                        "--warmup",
                        "0",
                        "--out",
                        out.toString(),
                        "--no-progress"),
                stderr.toString());
        JsonNode run = new ObjectMapper().readTree(out.resolve("summary.json").toFile()).get(0);
        double loss = run.get("final_train_loss").asDouble();
        assertTrue(loss > 0.2 && loss < 0.8, "pixel cross-entropy " + loss);
        assertTrue(
                run.get("test_accuracy").isNull()
                        || Double.isNaN(run.get("test_accuracy").asDouble()));
        assertPlotDrawn(out.resolve("test-loss.png"));
    }

    /** A small fortune corpus: 40 fortunes of a few English sentences, in two files. */
    private Path tinyCorpus() throws IOException {
        Path corpus = Files.createDirectories(out.resolve("fortunes"));
        String[] lines = {
            "A journey of a thousand miles begins with a single step.",
            "The early bird catches the worm, but the second mouse gets the cheese.",
            "You will be hungry again in one hour.\n\t\t-- Anonymous",
            "Never put off until tomorrow what you can do the day after tomorrow."
        };
        for (String file : List.of("sayings", "wisdom")) {
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < 20; i++) {
                text.append(lines[(i + file.length()) % lines.length]).append(" (").append(i);
                text.append(")\n%\n");
            }
            Files.writeString(corpus.resolve(file), text);
        }
        return corpus;
    }

    @Test
    void charlmTrainsEveryDefaultOptimizerAndReportsValidationNatsPerCharacter()
            throws IOException {
        Path dir = out.resolve("charlm");
        int code =
                run(
                        "compare",
                        "--workload",
                        "charlm",
                        "--data",
                        tinyCorpus().toString(),
                        "--steps",
                        "3",
                        "--evals",
                        "1",
                        "--warmup",
                        "0",
                        "--out",
                        dir.toString(),
                        "--no-progress");
        assertEquals(0, code, stderr.toString());
        String printed = stdout.toString();
        assertTrue(
                printed.contains(
                        "subspace-newton is left out of charlm unless named in --optimizers"),
                printed);
        JsonNode summary = new ObjectMapper().readTree(dir.resolve("summary.json").toFile());
        List<String> ran = new ArrayList<>();
        for (JsonNode run : summary) {
            String optimizer = run.get("optimizer").asText();
            ran.add(optimizer);
            assertEquals("charlm", run.get("workload").asText());
            assertEquals(32, run.get("batch_size").asInt(), "charlm's default batch");
            // nats per character: finite, and near ln 98 = 4.58 after three steps from N(0, 0.02²)
            double loss = run.get("test_loss").asDouble();
            assertTrue(loss > 1 && loss < 6, optimizer + ": validation loss " + loss);
            double accuracy = run.get("test_accuracy").asDouble();
            assertTrue(accuracy >= 0 && accuracy <= 1, optimizer + ": accuracy " + accuracy);
            assertTrue(Double.isFinite(run.get("final_train_loss").asDouble()), optimizer);
        }
        List<String> expected = new ArrayList<>(new OptimizerCatalog().names());
        expected.removeAll(Workload.CHARLM.defaultExclusions().keySet());
        assertEquals(
                List.of("subspace-newton"),
                List.copyOf(Workload.CHARLM.defaultExclusions().keySet()));
        assertEquals(expected, ran, "every optimizer of the catalog but subspace Newton");
        assertTrue(printed.lines().anyMatch(l -> l.matches("charlm +kfac +3 +1 .*")), printed);
        for (String plot :
                List.of(
                        "loss-vs-steps.png",
                        "loss-vs-seconds.png",
                        "test-accuracy.png",
                        "test-loss.png")) {
            assertPlotDrawn(dir.resolve(plot));
        }
    }

    @Test
    void charlmRefusesEpochsAndASubsetShorterThanOneWindow() {
        assertEquals(2, run("compare", "--workload", "charlm", "--epochs", "1", "--no-progress"));
        assertTrue(
                stderr.toString()
                        .contains("--epochs: charlm draws random windows and has no epochs"),
                stderr.toString());
        assertEquals(2, run("compare", "--workload", "charlm", "--subset", "64", "--no-progress"));
        assertTrue(
                stderr.toString().contains("--subset must be at least 65 for charlm, but was 64"),
                stderr.toString());
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
                            "adam,mfac",
                            "--seed",
                            "3",
                            "--out",
                            dir.toString(),
                            "--no-progress"),
                    stderr.toString());
        }
        assertEquals(losses(first, "adam"), losses(second, "adam"));
        assertEquals(losses(first, "mfac"), losses(second, "mfac"));
    }

    /**
     * Runs interleaved in turns (the default) give every optimizer and seed the curve, the
     * evaluations and the final losses of the same runs one after another ({@code --sequential}):
     * each run keeps its own model, optimizer and batch order, and only the times differ. 45 steps
     * make three turns of 20, the last one short; K-FAC (statistics every 10 steps) and M-FAC keep
     * state across turns.
     */
    @Test
    void interleavedRunsGiveTheCurvesOfSequentialOnes() throws IOException {
        Path sequential = out.resolve("sequential");
        Path interleaved = out.resolve("interleaved");
        for (Path dir : List.of(sequential, interleaved)) {
            List<String> args =
                    new ArrayList<>(
                            List.of(
                                    "compare",
                                    "--steps",
                                    "45",
                                    "--subset",
                                    "512",
                                    "--batch",
                                    "64",
                                    "--optimizers",
                                    "sgd,adam,kfac,mfac",
                                    "--seed",
                                    "3",
                                    "--seeds",
                                    "2",
                                    "--evals",
                                    "2",
                                    "--warmup",
                                    "0",
                                    "--out",
                                    dir.toString(),
                                    "--no-progress"));
            if (dir == sequential) {
                args.add("--sequential");
            }
            assertEquals(0, run(args.toArray(String[]::new)), stderr.toString());
            assertEquals(
                    dir == interleaved,
                    stdout.toString().contains("runs interleaved in turns of 20 steps"),
                    stdout.toString());
        }
        for (String optimizer : List.of("sgd", "adam", "kfac", "mfac")) {
            for (int seed : new int[] {3, 4}) {
                String run = "mlp-" + optimizer + "-seed" + seed;
                assertEquals(
                        column(sequential.resolve(run + ".csv"), 2),
                        column(interleaved.resolve(run + ".csv"), 2),
                        run + " training losses");
                assertEquals(
                        column(sequential.resolve(run + "-eval.csv"), 2),
                        column(interleaved.resolve(run + "-eval.csv"), 2),
                        run + " test losses");
                assertEquals(45, column(interleaved.resolve(run + ".csv"), 0).size());
            }
        }
        JsonNode a = new ObjectMapper().readTree(sequential.resolve("summary.json").toFile());
        JsonNode b = new ObjectMapper().readTree(interleaved.resolve("summary.json").toFile());
        assertEquals(8, a.size());
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            for (String field :
                    List.of("optimizer", "seed", "final_train_loss", "test_loss", "state_bytes")) {
                assertEquals(a.get(i).get(field), b.get(i).get(field), "run " + i + " " + field);
            }
        }
    }

    private static List<String> column(Path csv, int index) throws IOException {
        return Files.readAllLines(csv).stream()
                .skip(1)
                .map(line -> line.split(",")[index])
                .toList();
    }

    @Test
    void unknownOptimizerListsTheAllowedOnes() {
        assertEquals(2, run("compare", "--optimizers", "adam,lbfgs", "--no-progress"));
        assertTrue(
                stderr.toString()
                        .contains("unknown optimizer 'lbfgs'; allowed: sgd, adam, adamw, mfac"),
                stderr.toString());
    }

    @Test
    void unknownWorkloadListsTheAllowedOnes() {
        assertEquals(2, run("compare", "--workload", "resnet", "--no-progress"));
        assertTrue(
                stderr.toString()
                        .contains(
                                "unknown workload 'resnet'; allowed: mlp, cnn, autoencoder,"
                                        + " autoencoder-tanh, logreg, charlm"),
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

    private static List<String> losses(Path dir, String optimizer) throws IOException {
        return Files.readAllLines(dir.resolve("mlp-" + optimizer + "-seed3.csv")).stream()
                .skip(1)
                .map(line -> line.split(",")[2])
                .toList();
    }
}
