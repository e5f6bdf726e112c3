package io.github.so4j.bench.optimizer;

import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.optimizers.MFac;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The optimizers that {@code ./so4j compare} knows by name, with their settings and defaults.
 *
 * <p>Defaults are tuned for the Fashion-MNIST MLP at batch 128 and are the ones the README's tables
 * use:
 *
 * <ul>
 *   <li>{@code sgd}: DJL's {@code Sgd}, learning rate 0.05, momentum 0.9 (a standard setting for
 *       this MLP; 0.1 is less stable in the first epoch).
 *   <li>{@code adam}: DJL's {@code Adam}, learning rate 0.001, betas 0.9 and 0.999 (Kingma and Ba's
 *       defaults).
 * </ul>
 */
public final class OptimizerCatalog {

    /** One optimizer: its name, its settings with defaults, and how to build it. */
    public record Entry(
            String name,
            String description,
            Map<String, String> defaults,
            Function<OptimizerSettings, Optimizer> factory) {

        /**
         * Builds the optimizer with the given overrides of its defaults.
         *
         * @param overrides the user's settings
         * @return a new optimizer
         * @throws IllegalArgumentException if a setting is unknown or invalid
         */
        public Optimizer create(Map<String, String> overrides) {
            return factory.apply(settings(overrides));
        }

        /**
         * Returns the effective settings for the given overrides.
         *
         * @param overrides the user's settings
         * @return the defaults with the overrides applied
         */
        public OptimizerSettings settings(Map<String, String> overrides) {
            return OptimizerSettings.of(name, defaults, overrides);
        }
    }

    private final Map<String, Entry> entries = new LinkedHashMap<>();

    /** Creates the catalog of every optimizer the harness knows. */
    public OptimizerCatalog() {
        add(
                new Entry(
                        "sgd",
                        "DJL Sgd with momentum",
                        defaults("lr", "0.05", "momentum", "0.9"),
                        s ->
                                Optimizer.sgd()
                                        .setLearningRateTracker(Tracker.fixed(s.getFloat("lr")))
                                        .optMomentum(s.getFloat("momentum"))
                                        .build()));
        add(
                new Entry(
                        "adam",
                        "DJL Adam",
                        defaults("lr", "0.001", "beta1", "0.9", "beta2", "0.999"),
                        s ->
                                Optimizer.adam()
                                        .optLearningRateTracker(Tracker.fixed(s.getFloat("lr")))
                                        .optBeta1(s.getFloat("beta1"))
                                        .optBeta2(s.getFloat("beta2"))
                                        .build()));
        add(
                new Entry(
                        "mfac",
                        "so4j M-FAC (sliding-window inverse Fisher)",
                        defaults(
                                "lr",
                                "0.008",
                                "window",
                                "32",
                                "damping",
                                "1e-4",
                                "momentum",
                                "0",
                                "weight_decay",
                                "0",
                                "scope",
                                "global"),
                        s ->
                                MFac.builder()
                                        .optLearningRate(s.getFloat("lr"))
                                        .optWindowSize(s.getInt("window"))
                                        .optDamping(s.getFloat("damping"))
                                        .optMomentum(s.getFloat("momentum"))
                                        .optWeightDecays(s.getFloat("weight_decay"))
                                        .optScope(scope(s))
                                        .build()));
    }

    private static MFac.Scope scope(OptimizerSettings s) {
        String value = s.get("scope");
        try {
            return MFac.Scope.valueOf(value.toUpperCase(java.util.Locale.ROOT).replace('-', '_'));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "mfac.scope must be global or per_parameter, but was '" + value + "'", e);
        }
    }

    private static Map<String, String> defaults(String... keysAndValues) {
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put(keysAndValues[i], keysAndValues[i + 1]);
        }
        return map;
    }

    private void add(Entry entry) {
        entries.put(entry.name(), entry);
    }

    /**
     * Finds an optimizer by name.
     *
     * @param name the name
     * @return its entry
     * @throws IllegalArgumentException naming the allowed names if there is none
     */
    public Entry get(String name) {
        Entry entry = entries.get(name);
        if (entry == null) {
            throw new IllegalArgumentException(
                    "unknown optimizer '" + name + "'; allowed: " + String.join(", ", names()));
        }
        return entry;
    }

    /**
     * Returns the names of all optimizers, in catalog order.
     *
     * @return the names
     */
    public List<String> names() {
        return List.copyOf(entries.keySet());
    }
}
