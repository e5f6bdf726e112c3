package io.github.so4j.bench.reproduce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.so4j.bench.tune.Score;
import io.github.so4j.bench.tune.Trial;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BatchScalingRecipeTest {

    @TempDir Path out;

    private static Score point(String optimizer, String lr, int steps) {
        return new Score(
                optimizer,
                Map.of("lr", lr),
                List.of(
                        new Trial(
                                optimizer,
                                Map.of("lr", lr),
                                0,
                                // runs stop at the target, else at the budget of 1000 steps
                                steps < 0 ? 1000 : steps,
                                2.3,
                                0.4,
                                steps,
                                steps < 0 ? Double.NaN : steps / 100.0,
                                10,
                                false,
                                0.40)));
    }

    /** sgd 400 -> 200 -> not reached; kfac 200 -> 100 -> 60; adam 300 -> 150 -> 90. */
    private static List<BatchScalingRecipe.Row> rows() {
        List<BatchScalingRecipe.Row> rows = new ArrayList<>();
        rows.add(
                BatchScalingRecipe.row(
                        "sgd",
                        128,
                        List.of(
                                point("sgd", "0.025", 500),
                                point("sgd", "0.05", 400),
                                point("sgd", "0.1", 450))));
        rows.add(
                BatchScalingRecipe.row(
                        "sgd", 512, List.of(point("sgd", "0.05", 300), point("sgd", "0.1", 200))));
        rows.add(BatchScalingRecipe.row("sgd", 1024, List.of(point("sgd", "0.1", -1))));
        rows.add(BatchScalingRecipe.row("adam", 128, List.of(point("adam", "0.001", 300))));
        rows.add(BatchScalingRecipe.row("adam", 512, List.of(point("adam", "0.002", 150))));
        rows.add(BatchScalingRecipe.row("adam", 1024, List.of(point("adam", "0.003", 90))));
        rows.add(BatchScalingRecipe.row("kfac", 128, List.of(point("kfac", "0.1", 200))));
        rows.add(BatchScalingRecipe.row("kfac", 512, List.of(point("kfac", "0.2", 100))));
        rows.add(BatchScalingRecipe.row("kfac", 1024, List.of(point("kfac", "0.3", 60))));
        return rows;
    }

    @Test
    void reproduceKnowsTheRecipe() {
        assertEquals("batch-scaling", new Recipes().get("batch-scaling").name());
    }

    @Test
    void rowsKeepTheBestPointAndMarkAGridEdge() {
        List<BatchScalingRecipe.Row> rows = rows();
        BatchScalingRecipe.Row sgd128 = rows.get(0);
        assertEquals(400, sgd128.stepsToTarget());
        assertEquals(4.0, sgd128.secondsToTarget(), 0);
        assertEquals(Map.of("lr", "0.05"), sgd128.settings());
        assertFalse(sgd128.edge(), "the middle of three");
        assertTrue(rows.get(1).edge(), "the larger of two");
        assertEquals(-1, rows.get(2).stepsToTarget());
    }

    @Test
    void theTableAndTheVerdictReadTheRows() {
        List<Integer> batches = List.of(128, 512, 1024);
        String table = BatchScalingRecipe.table(rows(), batches);
        assertTrue(
                table.contains("| sgd | 400 (lr 0.05) | 200 (lr 0.1*) | not reached (lr 0.1) |"),
                table);
        Verdict result = BatchScalingRecipe.verdict(rows(), batches);
        String verdict = result.measured();
        assertTrue(verdict.contains("adam 3.33x; kfac 3.33x;"), verdict);
        assertTrue(verdict.contains("sgd n/a (target not reached);"), verdict);
        // 200 / 400 and 100 / 200
        assertTrue(verdict.contains("batch 128 0.50; batch 512 0.50; batch 1024 n/a;"), verdict);
        assertTrue(
                verdict.contains("K-FAC needs at most half of SGD with momentum's steps: yes"),
                verdict);
        assertEquals(Verdict.Outcome.REPRODUCED, result.outcome(), verdict);
    }

    @Test
    void theVerdictJudgesScalingNotTheStepsAlone() {
        // K-FAC needs fewer steps everywhere but scales worse than SGD (2x against 4x); Adam
        // scales as SGD does: not better
        List<BatchScalingRecipe.Row> rows =
                List.of(
                        BatchScalingRecipe.row("sgd", 128, List.of(point("sgd", "0.05", 400))),
                        BatchScalingRecipe.row("sgd", 1024, List.of(point("sgd", "0.1", 100))),
                        BatchScalingRecipe.row("adam", 128, List.of(point("adam", "0.001", 300))),
                        BatchScalingRecipe.row("adam", 1024, List.of(point("adam", "0.002", 75))),
                        BatchScalingRecipe.row("kfac", 128, List.of(point("kfac", "0.1", 100))),
                        BatchScalingRecipe.row("kfac", 1024, List.of(point("kfac", "0.1", 50))));
        Verdict result = BatchScalingRecipe.verdict(rows, List.of(128, 1024));
        String verdict = result.measured();
        assertTrue(verdict.contains("sgd 4.00x; adam 4.00x; kfac 2.00x;"), verdict);
        assertTrue(
                verdict.contains("K-FAC needs at most half of SGD with momentum's steps: yes"),
                verdict);
        assertTrue(
                verdict.contains("Scales better than SGD with momentum: Adam no, K-FAC no."),
                verdict);
        assertEquals(Verdict.Outcome.NOT_REPRODUCED, result.outcome(), verdict);
        // Adam scaling by 5x: partly
        List<BatchScalingRecipe.Row> better = new java.util.ArrayList<>(rows);
        better.set(3, BatchScalingRecipe.row("adam", 1024, List.of(point("adam", "0.002", 60))));
        assertEquals(
                Verdict.Outcome.PARTLY_REPRODUCED,
                BatchScalingRecipe.verdict(better, List.of(128, 1024)).outcome());
    }

    @Test
    void summaryRowsHoldTheStepsOrNull() throws Exception {
        Path file = out.resolve("summary.json");
        BatchScalingRecipe.writeSummary(file, rows());
        JsonNode summary = new ObjectMapper().readTree(file.toFile());
        assertEquals(9, summary.size());
        JsonNode first = summary.get(0);
        assertEquals("sgd", first.get("optimizer").asText());
        assertEquals(128, first.get("batch").asInt());
        assertEquals(400, first.get("steps_to_target").asInt());
        assertEquals(4.0, first.get("seconds_to_target").asDouble(), 0);
        assertEquals("0.05", first.get("settings").get("lr").asText());
        assertTrue(summary.get(2).get("steps_to_target").isNull());
        assertTrue(summary.get(2).get("seconds_to_target").isNull());
    }

    @Test
    void aTinyStudyRunsEndToEnd() throws Exception {
        // two batch sizes, one learning rate, 25 steps; a target above any loss is reached when
        // the 20-batch window fills
        BatchScalingRecipe recipe =
                new BatchScalingRecipe(
                        new BatchScalingRecipe.Size(List.of(32, 64), 1, 1, 25, 100, 512));
        StringWriter log = new StringWriter();
        recipe.run(new RecipeContext(out, null, Device.cpu(), new PrintWriter(log), false));
        JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
        assertEquals(BatchScalingRecipe.OPTIMIZERS.size() * 2, summary.size(), summary.toString());
        for (JsonNode row : summary) {
            assertEquals(20, row.get("steps_to_target").asInt(), row.toString());
            assertTrue(row.get("settings").has("lr"), row.toString());
        }
        assertTrue(Files.size(out.resolve("batch-scaling.png")) > 1000);
        assertTrue(Files.readString(out.resolve("batch-scaling.md")).contains("## batch 64"));
        assertTrue(log.toString().contains("verdict: "), log.toString());
        assertTrue(Files.isDirectory(out.resolve("b32").resolve("kfac")));
    }
}
