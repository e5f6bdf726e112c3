package io.github.so4j.bench.reproduce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.so4j.bench.compare.RunResult;
import io.github.so4j.bench.study.KroneckerApproximation;
import io.github.so4j.bench.study.ShampooApproximationStudy;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every recipe's verdict rule on synthetic measurements: reproduced, partly, not. */
class VerdictTest {

    private static final Verdict.Outcome YES = Verdict.Outcome.REPRODUCED;
    private static final Verdict.Outcome PARTLY = Verdict.Outcome.PARTLY_REPRODUCED;
    private static final Verdict.Outcome NO = Verdict.Outcome.NOT_REPRODUCED;

    @TempDir Path out;

    // ---- mfac-optimizer: test accuracy of M-FAC against the better and the other baseline

    private static RunResult run(String optimizer, long seed, double accuracy, double finalLoss) {
        List<RunResult.StepRecord> curve = new ArrayList<>();
        curve.add(new RunResult.StepRecord(1, 0.1, 2.3, 0.1));
        curve.add(new RunResult.StepRecord(2, 0.2, Double.isNaN(finalLoss) ? finalLoss : 1, 0.1));
        return new RunResult(
                "mlp",
                optimizer,
                "",
                2,
                128,
                seed,
                finalLoss,
                finalLoss,
                accuracy,
                1,
                1,
                1,
                0.45,
                -1,
                Double.NaN,
                Map.of(),
                null,
                0,
                curve,
                List.of());
    }

    /** Two seeds each; SGD at 84.0% and 84.2% (mean 84.1%), Adam at 85.2% and 85.4% (85.3%). */
    private static Verdict.Outcome mfac(double first, double second) {
        return MfacOptimizerRecipe.verdict(
                        List.of(
                                run("sgd", 0, 0.840, 0.38),
                                run("sgd", 1, 0.842, 0.38),
                                run("adam", 0, 0.852, 0.37),
                                run("adam", 1, 0.854, 0.37),
                                run("mfac", 0, first, 0.39),
                                run("mfac", 1, second, 0.39)))
                .outcome();
    }

    @Test
    void mfacOptimizerRule() {
        assertEquals(YES, mfac(0.856, 0.858), "above Adam");
        assertEquals(YES, mfac(0.850, 0.852), "85.1%: 0.2 points below Adam, within 0.25");
        assertEquals(PARTLY, mfac(0.849, 0.849), "84.9%: 0.4 below Adam, above SGD");
        assertEquals(PARTLY, mfac(0.838, 0.840), "83.9%: 0.2 below SGD, within 0.25");
        assertEquals(NO, mfac(0.836, 0.838), "83.7%: 0.4 below SGD");
        assertEquals(NO, mfac(Double.NaN, Double.NaN), "every seed diverged");
        // a diverged seed does not count: the other seed's 85.6% is the mean
        Verdict verdict =
                MfacOptimizerRecipe.verdict(
                        List.of(
                                run("sgd", 0, 0.840, 0.38),
                                run("adam", 0, 0.852, 0.37),
                                run("mfac", 0, 0.856, 0.39),
                                run("mfac", 1, 0.10, Double.NaN)));
        assertEquals(YES, verdict.outcome());
        assertTrue(
                verdict.measured().contains("M-FAC 85.60%, SGD 84.00%, Adam 85.20%"),
                verdict.measured());
    }

    // ---- mfac-pruning: the gap OBS minus magnitude in points, per sparsity

    private static Verdict.Outcome pruning(double... gapsPp) {
        double[] sparsities = new double[gapsPp.length];
        double[] magnitude = new double[gapsPp.length];
        double[] obs = new double[gapsPp.length];
        for (int i = 0; i < gapsPp.length; i++) {
            sparsities[i] = 0.5 + 0.1 * i;
            magnitude[i] = 0.8 - 0.1 * i;
            obs[i] = magnitude[i] + gapsPp[i] / 100;
        }
        return MfacPruningRecipe.verdict(sparsities, magnitude, obs).outcome();
    }

    @Test
    void mfacPruningRule() {
        assertEquals(YES, pruning(0, 0.5, 2, 10), "ahead by 10 points at the highest sparsity");
        assertEquals(YES, pruning(-0.4, 0, 1.2), "a 0.4-point lag counts as even");
        assertEquals(PARTLY, pruning(-0.6, 0, 3), "a 0.6-point lag at 50%");
        assertEquals(PARTLY, pruning(0, 2, 0.5), "ahead at 60% only");
        assertEquals(NO, pruning(0.2, 0.5, 0.9), "never a full point ahead");
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        MfacPruningRecipe.verdict(
                                new double[] {0.5}, new double[0], new double[] {1}));
    }

    // ---- shampoo-approximation: cosines of the last reported step, per layer

    private static ShampooApproximationStudy.Row row(
            int step, String layer, double shampoo, double optimal, double oneStep) {
        return new ShampooApproximationStudy.Row(
                step, layer, 0.5, new KroneckerApproximation.Cosines(shampoo, optimal, oneStep, 5));
    }

    @Test
    void shampooApproximationRule() {
        // the paper's table at step 500 (docs/shampoo-approximation.md), with a bad earlier step
        // that the rule must ignore
        List<ShampooApproximationStudy.Row> measured =
                List.of(
                        row(50, "layer 2", 0.69, 0.81, 0.70),
                        row(500, "layer 2", 0.8851, 0.9915, 0.9900),
                        row(500, "layer 3", 0.8233, 0.9746, 0.9606));
        assertEquals(YES, ShampooApproximationRecipe.verdict(measured).outcome());
        assertEquals(
                PARTLY,
                ShampooApproximationRecipe.verdict(
                                List.of(
                                        row(9, "a", 0.90, 0.99, 0.96),
                                        row(9, "b", 0.80, 0.99, 0.98)))
                        .outcome(),
                "layer a's one-step is 0.03 below the optimum");
        assertEquals(
                PARTLY,
                ShampooApproximationRecipe.verdict(List.of(row(9, "a", 0.96, 0.99, 0.98)))
                        .outcome(),
                "only 0.02 above Shampoo's");
        assertEquals(
                NO,
                ShampooApproximationRecipe.verdict(
                                List.of(
                                        row(9, "a", 0.90, 0.99, 0.98),
                                        row(9, "b", 0.95, 0.99, 0.94)))
                        .outcome(),
                "layer b's one-step is below Shampoo's");
    }

    // ---- hessian-spectrum: bulk mass near zero and the top eigenvalue against the mean one

    /** A density on [-10, 110] in steps of 0.5: a bump at zero and a small one at 100. */
    private static Verdict.Outcome spectrum(double bulkHeight, double outlierHeight, double trace) {
        int n = 241;
        double[] grid = new double[n];
        double[] density = new double[n];
        for (int i = 0; i < n; i++) {
            grid[i] = -10 + 0.5 * i;
            density[i] =
                    bulkHeight * Math.exp(-grid[i] * grid[i])
                            + outlierHeight * Math.exp(-(grid[i] - 100) * (grid[i] - 100));
        }
        return HessianSpectrumRecipe.verdict(100, trace, 100_000, grid, density).outcome();
    }

    @Test
    void hessianSpectrumRule() {
        // the bump at zero lies within 0.05 x 100 = 5 of zero; λ1 = 100 against a mean
        // eigenvalue of trace / 1e5
        assertEquals(YES, spectrum(1, 0.01, 1000), "99% of the mass at zero; 1e4 times the mean");
        assertEquals(PARTLY, spectrum(1, 1, 1000), "half the mass at 100: no bulk");
        assertEquals(PARTLY, spectrum(1, 0.01, 1e6), "λ1 only 10 times the mean eigenvalue");
        assertEquals(NO, spectrum(1, 1, 1e6));
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        HessianSpectrumRecipe.verdict(
                                1, 1, 1, new double[] {0, 1}, new double[] {1}));
    }

    // ---- zo-sah: evaluations to the target

    @Test
    void zoSahRule() {
        assertEquals(YES, ZoSahRecipe.verdict(1057, 2755).outcome(), "2.6 times fewer");
        assertEquals(YES, ZoSahRecipe.verdict(1000, 1500).outcome(), "exactly 1.5 times");
        assertEquals(YES, ZoSahRecipe.verdict(1000, -1).outcome(), "ZO-SGD never reaches it");
        assertEquals(PARTLY, ZoSahRecipe.verdict(1000, 1400).outcome());
        assertEquals(NO, ZoSahRecipe.verdict(1000, 1000).outcome());
        assertEquals(NO, ZoSahRecipe.verdict(-1, 2755).outcome());
        assertEquals(NO, ZoSahRecipe.verdict(-1, -1).outcome());
    }

    // ---- the type itself

    @Test
    void theVerdictIsPrintedAndWrittenWithClaimMeasuredAndRule() throws IOException {
        Verdict verdict = new Verdict("a | claim", "x = 1", PARTLY, "rule <b>");
        StringWriter printed = new StringWriter();
        verdict.report(new RecipeContext(out, null, null, new PrintWriter(printed), false));
        assertTrue(
                printed.toString()
                        .contains(
                                "verdict: partly reproduced\nclaim: a | claim\nmeasured: x = 1\n"
                                        + "rule: rule <b>\n"),
                printed.toString());
        String markdown = Files.readString(out.resolve("verdict.md"));
        assertTrue(markdown.startsWith("## Verdict: partly reproduced\n"), markdown);
        assertTrue(markdown.contains("| claim | a \\| claim |"), markdown);
        assertTrue(verdict.html().contains("rule &lt;b&gt;"), verdict.html());
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> new Verdict(" ", "m", YES, "r"));
        assertEquals("claim must be a sentence, but was blank", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Verdict("c", "m", null, "r"));
    }
}
