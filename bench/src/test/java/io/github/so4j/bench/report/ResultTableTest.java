package io.github.so4j.bench.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.so4j.bench.compare.RunResult;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ResultTableTest {

    private static RunResult run(String optimizer, double msPerStep) {
        return run(optimizer, msPerStep, 0, -1);
    }

    private static RunResult run(String optimizer, double msPerStep, long seed, long stateBytes) {
        return new RunResult(
                "charlm",
                optimizer,
                "",
                10,
                32,
                seed,
                2.0,
                2.1,
                0.4,
                msPerStep,
                1.0,
                100,
                2.5,
                5,
                0.5,
                Map.of(),
                null,
                stateBytes,
                List.of(),
                List.of());
    }

    /**
     * The cell {@code fromEnd} places before the end of a data row (rows are split on runs of
     * spaces; the last cell is the host reads, a single "-" here).
     */
    private static String cell(String table, int row, int fromEnd) {
        String[] cells = table.split("\n")[row + 2].trim().split("\\s+");
        return cells[cells.length - 1 - fromEnd];
    }

    private static String vsAdam(String table, int row) {
        return cell(table, row, 3);
    }

    private static String stateMib(String table, int row) {
        return cell(table, row, 1);
    }

    @Test
    void stepTimesAreRatiosToAdamsInTheSameRun() {
        String table = ResultTable.format(List.of(run("adam", 50), run("muon", 75)));
        assertEquals("1.00x", vsAdam(table, 0));
        assertEquals("1.50x", vsAdam(table, 1));
    }

    @Test
    void withoutAdamTheRatioIsADash() {
        String table = ResultTable.format(List.of(run("adamw", 50), run("muon", 75)));
        assertEquals("-", vsAdam(table, 0));
        assertEquals("-", vsAdam(table, 1));
    }

    /**
     * State in MiB with two decimals: Adam's two float32 moments of the mlp's 235146 parameters are
     * 1881168 bytes, 1.794 MiB; none is "0", a few bytes "<0.01", an unknown state "-".
     */
    @Test
    void stateIsShownInMibBesideThePeak() {
        String table =
                ResultTable.format(
                        List.of(
                                run("adam", 50, 0, 2 * 235146 * 4),
                                run("subspace-newton", 60, 0, 0),
                                run("tiny", 70, 0, 1000),
                                run("rmsprop", 80, 0, -1)));
        String header = table.lines().findFirst().orElseThrow();
        assertTrue(header.matches(".*peak MiB +state MiB +host reads"), header);
        assertEquals("1.79", stateMib(table, 0));
        assertEquals("0", stateMib(table, 1));
        assertEquals("<0.01", stateMib(table, 2));
        assertEquals("-", stateMib(table, 3));
        assertEquals("100", cell(table, 0, 2), "the peak keeps its column");
    }

    @Test
    void theHeaderNamesTheTargetAndTimeToTheTargetComesFirst() {
        String header = ResultTable.format(List.of(run("adam", 50))).lines().findFirst().get();
        assertTrue(
                header.matches(
                        "workload +optimizer +steps +seeds +steps to 2\\.5 +seconds to 2\\.5 +train loss .*"),
                header);
    }

    /**
     * Two seeds of adam reach 0.45 and end at 0.30 and 0.28: "mean ±std" with the sample standard
     * deviation (|a - b| / sqrt 2 for two values). SGD diverges on both seeds: every loss and
     * target cell says so. K-FAC diverges on one of two seeds: its cells count the other, "(1/2)".
     */
    @Test
    void seedsShowMeanAndSpreadAndDivergedRowsAreNotNumbers() {
        double[] infinite = Runs.falling(60, 2.3, 0.95);
        infinite[30] = Double.POSITIVE_INFINITY;
        List<RunResult> results =
                List.of(
                        Runs.run("sgd", 0, infinite, Double.NaN, 0.1),
                        Runs.run("sgd", 1, infinite, Double.NaN, 0.1),
                        Runs.run("adam", 0, Runs.falling(60, 2.3, 0.95), 0.30, 0.85),
                        Runs.run("adam", 1, Runs.falling(60, 2.3, 0.95), 0.28, 0.87),
                        Runs.run("kfac", 0, Runs.falling(60, 2.3, 0.95), 0.25, 0.88),
                        Runs.run("kfac", 1, infinite, Double.NaN, 0.1));
        ResultTable.Table table = ResultTable.of(results);
        assertEquals(14, table.header().size());
        assertEquals("steps to 0.45", table.header().get(4));
        List<String> sgd = table.rows().get(0);
        for (int c = 4; c <= 8; c++) {
            assertEquals("diverged", sgd.get(c), table.header().get(c));
        }
        List<String> adam = table.rows().get(1);
        int steps = results.get(2).stepsToTarget();
        assertTrue(steps > 20, "falls to 0.45 within 60 steps at 0.95 a step");
        assertEquals(steps + " ±0", adam.get(4), "both seeds took the same steps");
        assertEquals(
                String.format(java.util.Locale.ROOT, "0.2900 ±%.4f", 0.02 / Math.sqrt(2)),
                adam.get(6));
        assertEquals("86.00% ±1.41", adam.get(8));
        List<String> kfac = table.rows().get(2);
        assertEquals(steps + " (1/2)", kfac.get(4));
        assertEquals("0.2500 (1/2)", kfac.get(6));
        String text = ResultTable.format(results);
        assertTrue(text.contains("mlp sgd seed 1 diverged: batch loss Infinity at step 31"), text);
        assertTrue(text.contains("the mean and the sample standard deviation"), text);
    }

    @Test
    void aTargetNoSeedReachedIsNotReached() {
        List<RunResult> results =
                List.of(Runs.run("smb", 0, Runs.falling(60, 2.3, 0.999), 2.0, 0.5));
        assertEquals("not reached", ResultTable.of(results).rows().get(0).get(4));
        assertEquals("not reached", ResultTable.of(results).rows().get(0).get(5));
    }

    @Test
    void stateIsTheMeanOverTheSeeds() {
        String table =
                ResultTable.format(
                        List.of(run("mfac", 50, 0, 1 << 20), run("mfac", 50, 1, 3 << 20)));
        assertEquals("2.00", stateMib(table, 0));
    }
}
