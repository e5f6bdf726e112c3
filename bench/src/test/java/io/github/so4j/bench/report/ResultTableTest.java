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
    void stateIsTheMeanOverTheSeeds() {
        String table =
                ResultTable.format(
                        List.of(run("mfac", 50, 0, 1 << 20), run("mfac", 50, 1, 3 << 20)));
        assertEquals("2.00", stateMib(table, 0));
    }
}
