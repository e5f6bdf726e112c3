package io.github.so4j.bench.report;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.so4j.bench.compare.RunResult;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ResultTableTest {

    private static RunResult run(String optimizer, double msPerStep) {
        return new RunResult(
                "charlm", optimizer, "", 10, 32, 0, 2.0, 2.1, 0.4, msPerStep, 1.0, 100, 2.5, 5, 0.5,
                Map.of(), null, List.of(), List.of());
    }

    /** The last-but-two column of a data row (rows are split on runs of spaces). */
    private static String vsAdam(String table, int row) {
        String[] cells = table.split("\n")[row + 2].trim().split("\\s+");
        return cells[cells.length - 3];
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
}
