package io.github.so4j.bench.tune;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The results of a sweep as Markdown tables (one per optimizer, a row per point, the chosen point
 * in bold) and as a {@link TunedSettings} file.
 */
public final class SweepTables {

    private SweepTables() {}

    /**
     * Chooses each optimizer's point and writes the settings file's content.
     *
     * @param setup the sweep's setup
     * @param criterion the criterion
     * @param scores per optimizer its points' scores in grid order
     * @return the settings: every tuned key of each chosen point
     */
    public static TunedSettings tuned(
            Sweep.Setup setup, Criterion criterion, Map<String, List<Score>> scores) {
        Map<String, String> set = new LinkedHashMap<>();
        Map<String, Map<String, Object>> chosen = new LinkedHashMap<>();
        scores.forEach(
                (optimizer, points) -> {
                    Score best = criterion.best(points);
                    for (Map.Entry<String, String> e : best.settings().entrySet()) {
                        set.put(optimizer + "." + e.getKey(), e.getValue());
                    }
                    Map<String, Object> measured = new LinkedHashMap<>();
                    measured.put("steps_to_target", finite(best.meanStepsToTarget()));
                    measured.put("seconds_to_target", finite(best.meanSecondsToTarget()));
                    measured.put("final_train_loss", finite(best.meanFinalLoss()));
                    measured.put("diverged", best.diverged());
                    measured.put("points", points.size());
                    chosen.put(optimizer, measured);
                });
        return new TunedSettings(
                setup.workload().id(),
                setup.batchSize(),
                setup.steps(),
                setup.targetLoss(),
                setup.seeds(),
                criterion.description(),
                set,
                chosen);
    }

    /**
     * Writes one Markdown table per optimizer: a row per point with its settings, mean steps and
     * seconds to the target ({@code not reached}; {@code lost} where a seed reached it and ended
     * above it), mean final training loss ({@code diverged} where a seed diverged) and, with
     * several seeds, each seed's final loss; the chosen row in bold.
     *
     * @param criterion the criterion
     * @param scores per optimizer its points' scores in grid order
     * @return the tables, each headed by the optimizer's name
     */
    public static String markdown(Criterion criterion, Map<String, List<Score>> scores) {
        StringBuilder out = new StringBuilder();
        scores.forEach(
                (optimizer, points) -> {
                    Score best = criterion.best(points);
                    List<String> keys = new ArrayList<>(best.settings().keySet());
                    boolean perSeed = points.get(0).trials().size() > 1;
                    out.append("### ").append(optimizer).append("\n\n|");
                    keys.forEach(k -> out.append(' ').append(k).append(" |"));
                    out.append(" steps to target | seconds to target | final train loss |");
                    if (perSeed) {
                        out.append(" per seed |");
                    }
                    out.append("\n|");
                    out.append(" --- |".repeat(keys.size() + 3 + (perSeed ? 1 : 0)));
                    out.append('\n');
                    for (Score s : points) {
                        String mark = s == best ? "**" : "";
                        out.append('|');
                        for (String k : keys) {
                            out.append(' ').append(mark).append(s.settings().get(k)).append(mark);
                            out.append(" |");
                        }
                        out.append(' ').append(cell(s, s.meanStepsToTarget(), "%.0f", mark));
                        out.append(" | ").append(cell(s, s.meanSecondsToTarget(), "%.2f", mark));
                        out.append(" | ")
                                .append(
                                        s.diverged()
                                                ? "diverged"
                                                : mark
                                                        + String.format(
                                                                Locale.ROOT,
                                                                "%.4f",
                                                                s.meanFinalLoss())
                                                        + mark);
                        out.append(" |");
                        if (perSeed) {
                            List<String> losses = new ArrayList<>();
                            for (Trial t : s.trials()) {
                                losses.add(
                                        t.diverged()
                                                ? "diverged"
                                                : String.format(
                                                        Locale.ROOT, "%.4f", t.finalTrainLoss()));
                            }
                            out.append(' ').append(String.join(" / ", losses)).append(" |");
                        }
                        out.append('\n');
                    }
                    out.append('\n');
                });
        return out.toString();
    }

    private static String cell(Score s, double value, String format, String mark) {
        if (s.diverged()) {
            return "diverged";
        }
        if (s.lostTarget()) {
            return "lost";
        }
        if (!s.reached()) {
            return "not reached";
        }
        return mark + String.format(Locale.ROOT, format, value) + mark;
    }

    private static Double finite(double value) {
        return Double.isFinite(value) ? value : null;
    }
}
