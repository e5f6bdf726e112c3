package io.github.so4j.bench.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.so4j.bench.compare.RunResult;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ResultFilesTest {

    @TempDir Path out;

    /**
     * One row per run as before (a script that reads the first row of each optimizer reads what it
     * always did), each with its divergence and its optimizer's aggregates across the seeds.
     */
    @Test
    void everyRowKeepsItsFieldsAndCarriesItsOptimizersAggregates() throws IOException {
        double[] infinite = Runs.falling(60, 2.3, 0.95);
        infinite[30] = Double.POSITIVE_INFINITY;
        List<RunResult> results =
                List.of(
                        Runs.run("kfac", 0, Runs.falling(60, 2.3, 0.95), 0.25, 0.88),
                        Runs.run("kfac", 1, infinite, Double.NaN, 0.1),
                        Runs.run("kfac", 2, Runs.falling(60, 2.3, 0.94), 0.27, 0.86));
        ResultFiles.writeSummary(out, results);
        JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
        assertEquals(3, summary.size());
        JsonNode first = summary.get(0);
        assertEquals(0.25, first.get("final_train_loss").asDouble(), 0.0);
        assertEquals(results.get(0).stepsToTarget(), first.get("steps_to_target").asInt());
        assertFalse(first.get("diverged").asBoolean());
        assertTrue(first.get("divergence").isNull());
        JsonNode second = summary.get(1);
        assertTrue(second.get("diverged").asBoolean());
        assertEquals("batch loss Infinity at step 31", second.get("divergence").asText());
        JsonNode across = first.get("across_seeds");
        assertEquals(across, second.get("across_seeds"), "the same on every row of the optimizer");
        assertEquals("[0,1,2]", across.get("seeds").toString());
        assertEquals(3, across.get("runs").asInt());
        assertEquals(1, across.get("diverged_runs").asInt());
        assertEquals(2, across.get("reached_target_runs").asInt());
        JsonNode loss = across.get("final_train_loss");
        assertEquals("[0.25,null,0.27]", loss.get("per_seed").toString());
        assertEquals(2, loss.get("count").asInt());
        assertEquals(0.26, loss.get("mean").asDouble(), 1e-15);
        // sample standard deviation of 0.25 and 0.27: 0.02 / sqrt(2)
        assertEquals(0.02 / Math.sqrt(2), loss.get("std").asDouble(), 1e-15);
        assertEquals(0.25, loss.get("min").asDouble(), 0.0);
        assertEquals(0.27, loss.get("max").asDouble(), 0.0);
        JsonNode steps = across.get("steps_to_target");
        assertTrue(steps.get("per_seed").get(1).isNull(), "a diverged run has no time to target");
        assertEquals(
                Math.min(results.get(0).stepsToTarget(), results.get(2).stepsToTarget()),
                steps.get("min").asInt());
        assertEquals(3, across.get("ms_per_step").get("count").asInt(), "every run's steps count");
    }
}
