package io.github.so4j.bench.tune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.workload.Workload;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LogGridTest {

    @Test
    void aroundKeepsTheCentreAndDoublesBetweenNeighbours() {
        // 0.05 * 2^k for k = -2..2: exact in three digits
        assertEquals(List.of(0.0125, 0.025, 0.05, 0.1, 0.2), LogGrid.around(0.05, 2, 5));
        // an even count puts the extra point above the centre
        assertEquals(List.of(0.5, 1.0, 2.0, 4.0), LogGrid.around(1, 2, 4));
        assertEquals(List.of(0.001), LogGrid.around(0.001, 10, 1));
    }

    @Test
    void neighboursOfAnIrrationalRatioStayLogSpacedAfterRounding() {
        double ratio = Math.sqrt(10);
        List<Double> grid = LogGrid.around(1e-3, ratio, 7);
        for (int i = 1; i < grid.size(); i++) {
            // rounding each value to three significant digits moves it by at most 0.5e-2
            // relative (half a unit in the third digit of a mantissa of at least 1.00), so a
            // ratio of two by at most about 1e-2
            double measured = grid.get(i) / grid.get(i - 1);
            assertEquals(ratio, measured, ratio * 1e-2, "ratio " + i + " of " + grid);
        }
        assertEquals(1e-3, grid.get(3), 0);
    }

    @Test
    void betweenSpansTheEndsLogarithmically() {
        // 10^(-4 + k/2), rounded to three digits
        assertEquals(List.of(1e-4, 3.16e-4, 1e-3, 3.16e-3, 1e-2), LogGrid.between(1e-4, 1e-2, 5));
        assertEquals(List.of(0.01, 0.1, 1.0), LogGrid.parse("0.01:1:3"));
        assertEquals(List.of(0.3), LogGrid.parse("0.3"));
    }

    @Test
    void formatWritesThreeDigitsWithoutExponent() {
        assertEquals("0.00316", LogGrid.format(0.0031622776601683794));
        assertEquals("3", LogGrid.format(3.0));
        assertEquals("0.00001", LogGrid.format(1e-5));
        assertEquals("0.125", LogGrid.format(0.125));
    }

    @Test
    void badGridsNameTheParameter() {
        assertTrue(
                assertThrows(IllegalArgumentException.class, () -> LogGrid.around(0, 2, 3))
                        .getMessage()
                        .startsWith("center must be a positive finite number, but was 0"));
        assertTrue(
                assertThrows(IllegalArgumentException.class, () -> LogGrid.around(1, 1, 3))
                        .getMessage()
                        .startsWith("ratio must be a finite number above 1, but was 1"));
        assertTrue(
                assertThrows(IllegalArgumentException.class, () -> LogGrid.around(1, 2, 0))
                        .getMessage()
                        .startsWith("points must be at least 1, but was 0"));
        assertTrue(
                assertThrows(IllegalArgumentException.class, () -> LogGrid.between(1, 0.5, 2))
                        .getMessage()
                        .startsWith("hi must be above lo"));
        assertTrue(
                assertThrows(IllegalArgumentException.class, () -> LogGrid.parse("1:2"))
                        .getMessage()
                        .contains("LO:HI:N"));
    }

    @Test
    void gridsTuneTheDampingWhereTheCatalogSaysAndVaryTheLearningRateSlowest() {
        OptimizerCatalog catalog = new OptimizerCatalog();
        Grid kfac = Grid.around(catalog.get("kfac"), Workload.MLP, new Grid.Layout(2, 2, 2, 10, 1));
        // the catalog's mlp defaults: lr 0.1, damping 0.1
        assertEquals(
                List.of(
                        Map.of("lr", "0.1", "damping", "0.1"),
                        Map.of("lr", "0.1", "damping", "1"),
                        Map.of("lr", "0.2", "damping", "0.1"),
                        Map.of("lr", "0.2", "damping", "1")),
                kfac.points());
        Grid adam = Grid.around(catalog.get("adam"), Workload.MLP, Grid.Layout.DEFAULT);
        assertEquals(5, adam.points().size());
        assertEquals(List.of("lr"), List.copyOf(adam.points().get(0).keySet()));
        // centred at a given value, scaled: 0.002 * 2
        Grid scaled =
                Grid.around(
                        catalog.get("adam"),
                        Workload.MLP,
                        new Grid.Layout(1, 2, 1, 10, 2),
                        Map.of("lr", "0.002"));
        assertEquals(List.of(Map.of("lr", "0.004")), scaled.points());
        assertThrows(IllegalArgumentException.class, () -> adam.with("nope", List.of(1.0)));
    }
}
