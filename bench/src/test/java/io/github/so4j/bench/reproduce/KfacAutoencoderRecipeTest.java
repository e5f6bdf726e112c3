package io.github.so4j.bench.reproduce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.so4j.bench.compare.RunResult;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The recipe's target, steps to target and verdict, on made-up curves. */
class KfacAutoencoderRecipeTest {

    /** A run whose batch loss is {@code start - slope * step}, one second per step. */
    private static RunResult run(String name, int steps, double start, double slope) {
        List<RunResult.StepRecord> curve = new ArrayList<>();
        for (int t = 1; t <= steps; t++) {
            curve.add(new RunResult.StepRecord(t, t, start - slope * t, 0.1));
        }
        return new RunResult(
                "autoencoder-tanh",
                name,
                "",
                steps,
                10,
                0,
                start - slope * steps,
                0,
                Double.NaN,
                1000,
                steps,
                0,
                Double.NEGATIVE_INFINITY,
                -1,
                Double.NaN,
                Map.of(),
                null,
                -1,
                curve,
                List.of());
    }

    @Test
    void theFactorRankVariableIsAPositiveIntegerOrUnset() {
        assertEquals(0, KfacAutoencoderRecipe.factorRank(null));
        assertEquals(0, KfacAutoencoderRecipe.factorRank(" "));
        assertEquals(64, KfacAutoencoderRecipe.factorRank("64"));
        for (String bad : new String[] {"0", "-3", "sixty"}) {
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> KfacAutoencoderRecipe.factorRank(bad));
            assertEquals(
                    "SO4J_KFAC_AUTOENCODER_RANK must be a positive integer (the factor rank), but"
                            + " was "
                            + bad,
                    e.getMessage());
        }
    }

    @Test
    void targetIsTheMeanOfTheLastWindow() {
        assertEquals(5, KfacAutoencoderRecipe.WINDOW);
        RunResult sgd = run("sgd", 100, 200, 1);
        // the last 5 losses are 200 - 96 ... 200 - 100: mean 200 - 98
        assertEquals(102, KfacAutoencoderRecipe.finalWindowLoss(sgd), 1e-12);
        RunResult withTarget = KfacAutoencoderRecipe.withTarget(sgd, 102);
        // the 5-batch mean at step t is 200 - (t - 2): first at most 102 at t = 100
        assertEquals(100, withTarget.stepsToTarget());
        assertEquals(100, withTarget.secondsToTarget(), 0.0);
        RunResult fast = KfacAutoencoderRecipe.withTarget(run("kfac", 100, 200, 5), 102);
        // 200 - 5 (t - 2) <= 102 from t = 21.6, so step 22
        assertEquals(22, fast.stepsToTarget());
    }

    @Test
    void verdictCountsTheThreeConditions() {
        double target = 102;
        RunResult sgd = KfacAutoencoderRecipe.withTarget(run("sgd", 100, 200, 1), target);
        RunResult adam = KfacAutoencoderRecipe.withTarget(run("adam", 100, 200, 1.5), target);
        RunResult kfac = KfacAutoencoderRecipe.withTarget(run("kfac", 100, 200, 5), target);
        Verdict verdict = KfacAutoencoderRecipe.verdict(sgd, adam, kfac);
        // 22 steps > 100 / 5
        assertEquals(Verdict.Outcome.PARTLY_REPRODUCED, verdict.outcome(), verdict.text());
        RunResult faster = KfacAutoencoderRecipe.withTarget(run("kfac", 100, 200, 10), target);
        verdict = KfacAutoencoderRecipe.verdict(sgd, adam, faster);
        // step 12 <= 100 / 5, 12 s < 100 s
        assertEquals(Verdict.Outcome.REPRODUCED, verdict.outcome(), verdict.text());
        RunResult slow = KfacAutoencoderRecipe.withTarget(run("kfac", 100, 200, 0.5), target);
        verdict = KfacAutoencoderRecipe.verdict(sgd, adam, slow);
        assertEquals(Verdict.Outcome.NOT_REPRODUCED, verdict.outcome(), verdict.text());
    }
}
