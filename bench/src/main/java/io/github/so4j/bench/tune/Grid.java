package io.github.so4j.bench.tune;

import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.workload.Workload;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The grid of one optimizer's sweep: for each tuned setting (the learning rate first) its values,
 * and the points of their Cartesian product, the first setting varying slowest. Cost: the product
 * of the value counts.
 *
 * @param optimizer the optimizer's catalog entry
 * @param values the values of each tuned setting, in order (keys are the catalog's setting keys)
 */
public record Grid(OptimizerCatalog.Entry optimizer, Map<String, List<Double>> values) {

    /**
     * How a default grid is laid out: the learning rate's points and ratio, the same for the second
     * setting ({@link OptimizerCatalog.Entry#tuningKnob}), and a factor on the center of the
     * learning rate's grid.
     *
     * @param lrPoints points of the learning rate, at least 1
     * @param lrRatio factor between neighbouring learning rates, above 1
     * @param knobPoints points of the second setting, at least 1 (1: its default alone)
     * @param knobRatio factor between its neighbouring values, above 1
     * @param lrCenterScale the learning rate's grid is centred at the catalog's default times this
     */
    public record Layout(
            int lrPoints, double lrRatio, int knobPoints, double knobRatio, double lrCenterScale) {

        /** The default of {@code ./so4j tune}: 5 learning rates a factor 2 apart, 3 values 10x. */
        public static final Layout DEFAULT = new Layout(5, 2, 3, 10, 1);
    }

    /**
     * Copies the values.
     *
     * @param optimizer the optimizer's catalog entry
     * @param values the values of each tuned setting, in order
     */
    public Grid {
        if (values.isEmpty()) {
            throw new IllegalArgumentException(
                    "a grid of " + optimizer.name() + " needs at least one setting");
        }
        Map<String, List<Double>> copy = new LinkedHashMap<>();
        values.forEach((key, list) -> copy.put(key, List.copyOf(list)));
        values = java.util.Collections.unmodifiableMap(copy);
    }

    /**
     * Returns the default grid of an optimizer on a workload: the learning rate around its catalog
     * default for the workload, and the catalog's second setting (if the entry names one) around
     * its default.
     *
     * @param entry the optimizer
     * @param workload the workload (selects the defaults)
     * @param layout the points and ratios
     * @return the grid
     */
    public static Grid around(OptimizerCatalog.Entry entry, Workload workload, Layout layout) {
        return around(entry, workload, layout, Map.of());
    }

    /**
     * Returns the grid of an optimizer around given settings (such as tuned ones) rather than the
     * catalog's defaults: each tuned setting is centred at its value in {@code base}, else at the
     * catalog's default for the workload.
     *
     * @param entry the optimizer
     * @param workload the workload (selects the defaults)
     * @param layout the points and ratios
     * @param base settings that replace the defaults as centres (keys of the entry)
     * @return the grid
     */
    public static Grid around(
            OptimizerCatalog.Entry entry,
            Workload workload,
            Layout layout,
            Map<String, String> base) {
        Map<String, String> defaults = entry.settings(workload, base).asMap();
        Map<String, List<Double>> values = new LinkedHashMap<>();
        values.put(
                "lr",
                LogGrid.around(
                        Double.parseDouble(defaults.get("lr")) * layout.lrCenterScale(),
                        layout.lrRatio(),
                        layout.lrPoints()));
        entry.tuningKnob()
                .ifPresent(
                        knob ->
                                values.put(
                                        knob,
                                        LogGrid.around(
                                                Double.parseDouble(defaults.get(knob)),
                                                layout.knobRatio(),
                                                layout.knobPoints())));
        return new Grid(entry, values);
    }

    /**
     * Returns this grid with one setting's values replaced (or added).
     *
     * @param key the setting's key
     * @param replacement its values
     * @return the new grid
     * @throws IllegalArgumentException if the optimizer has no such setting
     */
    public Grid with(String key, List<Double> replacement) {
        if (!optimizer.defaults().containsKey(key)) {
            throw new IllegalArgumentException(
                    "unknown setting "
                            + optimizer.name()
                            + "."
                            + key
                            + "; allowed: "
                            + String.join(
                                    ", ", new java.util.TreeSet<>(optimizer.defaults().keySet())));
        }
        Map<String, List<Double>> copy = new LinkedHashMap<>(values);
        copy.put(key, replacement);
        return new Grid(optimizer, copy);
    }

    /**
     * Returns every point, the first setting varying slowest.
     *
     * @return the points' settings, values formatted by {@link LogGrid#format}
     */
    public List<Map<String, String>> points() {
        List<Map<String, String>> points = new ArrayList<>();
        points.add(new LinkedHashMap<>());
        for (Map.Entry<String, List<Double>> setting : values.entrySet()) {
            List<Map<String, String>> next = new ArrayList<>();
            for (Map<String, String> point : points) {
                for (double value : setting.getValue()) {
                    Map<String, String> extended = new LinkedHashMap<>(point);
                    extended.put(setting.getKey(), LogGrid.format(value));
                    next.add(extended);
                }
            }
            points = next;
        }
        return points;
    }
}
