package io.github.so4j.bench.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.so4j.bench.compare.RunResult;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;

class PlotsTest {

    @TempDir Path out;

    /** SGD at a learning rate of 30: the loss explodes to infinity, then NaN. */
    private static double[] exploding() {
        double[] losses = new double[40];
        losses[0] = 2.43;
        losses[1] = 11896;
        losses[2] = 8.3e8;
        losses[3] = Double.POSITIVE_INFINITY;
        for (int i = 4; i < losses.length; i++) {
            losses[i] = Double.NaN;
        }
        return losses;
    }

    @Test
    void infiniteAndNanLossesDrawEveryPlotAndNameTheDivergedOptimizer() throws IOException {
        double[] firstStepInfinite = Runs.falling(40, 2.3, 0.95);
        firstStepInfinite[0] = Double.POSITIVE_INFINITY;
        List<RunResult> results =
                List.of(
                        Runs.run("sgd", 0, exploding(), Double.NaN, 0.1),
                        Runs.run("sgd", 1, exploding(), Double.POSITIVE_INFINITY, 0.1),
                        Runs.run("adam", 0, Runs.falling(40, 2.3, 0.95), 0.3, 0.85),
                        Runs.run("adam", 1, Runs.falling(40, 2.3, 0.94), 0.28, 0.86),
                        Runs.run("kfac", 0, firstStepInfinite, Double.NaN, Double.NaN));
        List<Path> files = Plots.write(out, results);
        assertEquals(4, files.size());
        for (Path file : files) {
            assertDrawn(file);
        }
    }

    @Test
    void aRunWhoseEveryValueIsNanStillDraws() throws IOException {
        double[] nan = new double[30];
        java.util.Arrays.fill(nan, Double.NaN);
        List<Path> files =
                Plots.write(out, List.of(Runs.run("sgd", 0, nan, Double.NaN, Double.NaN)));
        for (Path file : files) {
            assertDrawn(file);
        }
    }

    /**
     * The line is the mean of the seeds and the band their range, step by step, cut before the
     * first value that is not finite or above the cap.
     */
    @Test
    void lineIsTheMeanAndTheBandTheRangeUpToTheFirstBadValue() {
        double[] x = {1, 2, 3, 4};
        Plots.Line line =
                Plots.line(
                        "sgd",
                        x,
                        List.of(new double[] {1, 2, 3, Double.NaN}, new double[] {3, 4, 9, 1}),
                        5);
        assertEquals(2, line.x().length, "9 > cap 5 at the third step");
        assertEquals(2.0, line.mean()[0], 0.0);
        assertEquals(3.0, line.mean()[1], 0.0);
        assertEquals(1.0, line.min()[0], 0.0);
        assertEquals(4.0, line.max()[1], 0.0);
        assertTrue(line.band());
    }

    @Test
    void logAxisWhenTheLossesSpanAFactorOfFourWithABandPerSeveralSeeds() {
        double[] x = {1, 2, 3};
        Plots.Line wide =
                Plots.line(
                        "adam",
                        x,
                        List.of(new double[] {2.3, 1, 0.5}, new double[] {2.3, 0.9, 0.45}),
                        10);
        XYChart log = Plots.chart("t", "step", "loss", List.of(wide), true);
        assertTrue(log.getStyler().isYAxisLogarithmic());
        XYSeries band = log.getSeriesMap().get("adam range");
        assertEquals(XYSeries.XYSeriesRenderStyle.PolygonArea, band.getXYSeriesRenderStyle());
        assertFalse(band.isShowInLegend());
        Plots.Line narrow = Plots.line("adam", x, List.of(new double[] {2.3, 1, 0.6}), 10);
        XYChart linear = Plots.chart("t", "step", "loss", List.of(narrow), true);
        assertFalse(linear.getStyler().isYAxisLogarithmic(), "2.3 / 0.6 < 4");
        assertEquals(1, linear.getSeriesMap().size(), "one seed: no band");
        assertFalse(
                Plots.chart("t", "step", "acc", List.of(wide), false)
                        .getStyler()
                        .isYAxisLogarithmic());
    }

    /** The PNG decodes, has the promised size and is not blank: several colours drawn. */
    private static void assertDrawn(Path png) throws IOException {
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(Plots.WIDTH, image.getWidth(), png.toString());
        assertEquals(Plots.HEIGHT, image.getHeight(), png.toString());
        Set<Integer> colours = new HashSet<>();
        for (int y = 0; y < image.getHeight(); y += 3) {
            for (int x = 0; x < image.getWidth(); x += 3) {
                colours.add(image.getRGB(x, y));
            }
        }
        assertTrue(colours.size() > 10, png + " has only " + colours.size() + " colours");
    }
}
