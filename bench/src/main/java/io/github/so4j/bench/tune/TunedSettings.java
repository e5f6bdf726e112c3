package io.github.so4j.bench.tune;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.github.so4j.bench.workload.Workload;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A settings file written by {@code ./so4j tune} and applied by {@code ./so4j compare --tuned
 * FILE}: the tuned settings of one workload, under the keys of {@code --set OPTIMIZER.KEY=VALUE},
 * and what they were tuned for.
 *
 * <pre>{@code
 * {
 *   "workload": "mlp",
 *   "batch": 128,
 *   "steps": 469,
 *   "target_loss": 0.45,
 *   "seeds": 1,
 *   "criterion": "time to the target counted in steps ...",
 *   "set": {"adam.lr": "0.002", "kfac.lr": "0.1", "kfac.damping": "0.1"},
 *   "chosen": {"adam": {"steps_to_target": 120, "seconds_to_target": 0.4,
 *                       "final_train_loss": 0.35, "points": 5}}
 * }
 * }</pre>
 *
 * <p>{@code set} is all that is applied; the other keys say what the settings were tuned for
 * ({@code chosen}: the chosen point's means over the seeds, {@code null} where not reached, and the
 * sweep's number of points), and a file of another workload is refused. The settings of the
 * workloads tuned so far ship in the jar ({@link #bundled}).
 *
 * @param workload the workload's name
 * @param batch the batch size tuned at
 * @param steps the budget in steps
 * @param targetLoss the target training loss
 * @param seeds how many seeds each point ran
 * @param criterion the criterion in words
 * @param set the settings, {@code OPTIMIZER.KEY} to value, in order
 * @param chosen per optimizer what its chosen point measured (free-form, for readers)
 */
public record TunedSettings(
        String workload,
        int batch,
        int steps,
        double targetLoss,
        int seeds,
        String criterion,
        Map<String, String> set,
        Map<String, Map<String, Object>> chosen) {

    /** Where {@link #bundled} looks in the class path: {@code tuned/<workload>.json}. */
    public static final String RESOURCE_FOLDER = "tuned/";

    private static final ObjectMapper JSON =
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * Checks and copies.
     *
     * @param workload the workload's name
     * @param batch the batch size tuned at
     * @param steps the budget in steps
     * @param targetLoss the target training loss
     * @param seeds how many seeds each point ran
     * @param criterion the criterion in words
     * @param set the settings
     * @param chosen what the chosen points measured
     * @throws IllegalArgumentException if a key of {@code set} is not {@code OPTIMIZER.KEY}
     */
    public TunedSettings {
        for (String key : set.keySet()) {
            int dot = key.indexOf('.');
            if (dot <= 0 || dot == key.length() - 1) {
                throw new IllegalArgumentException(
                        "a tuned setting's key is OPTIMIZER.KEY (e.g. adam.lr), but was '"
                                + key
                                + "'");
            }
        }
        set = Collections.unmodifiableMap(new LinkedHashMap<>(set));
        chosen = Collections.unmodifiableMap(new LinkedHashMap<>(chosen));
    }

    /**
     * Returns the settings grouped by optimizer, as {@code ./so4j compare} passes them to the
     * catalog.
     *
     * @return optimizer name to setting key to value
     */
    public Map<String, Map<String, String>> byOptimizer() {
        Map<String, Map<String, String>> grouped = new LinkedHashMap<>();
        set.forEach(
                (key, value) -> {
                    int dot = key.indexOf('.');
                    grouped.computeIfAbsent(key.substring(0, dot), k -> new LinkedHashMap<>())
                            .put(key.substring(dot + 1), value);
                });
        return grouped;
    }

    /**
     * Returns these settings with the given ones on top, as {@code --set} takes them: the command
     * line's values win over the file's.
     *
     * @param sets {@code OPTIMIZER.KEY} to value
     * @return the merged settings, the file's order first
     */
    public Map<String, String> under(Map<String, String> sets) {
        Map<String, String> merged = new LinkedHashMap<>(set);
        merged.putAll(sets);
        return merged;
    }

    /**
     * Writes the file.
     *
     * @param file where
     * @throws IOException if it cannot be written
     */
    public void write(Path file) throws IOException {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("workload", workload);
        map.put("batch", batch);
        map.put("steps", steps);
        map.put("target_loss", targetLoss);
        map.put("seeds", seeds);
        map.put("criterion", criterion);
        map.put("set", set);
        map.put("chosen", chosen);
        Path parent = file.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Files.writeString(file, JSON.writeValueAsString(map) + System.lineSeparator());
    }

    /**
     * Reads a settings file.
     *
     * @param file the file
     * @return the settings
     * @throws IOException if it cannot be read
     * @throws IllegalArgumentException naming the file and the problem if it is not a settings file
     */
    public static TunedSettings read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + " is not a file");
        }
        try (InputStream in = Files.newInputStream(file)) {
            return parse(in, file.toString());
        }
    }

    /**
     * Reads a settings file and checks that it was tuned on a workload.
     *
     * @param file the file
     * @param expected the workload it must hold
     * @return the settings
     * @throws IOException if it cannot be read
     * @throws IllegalArgumentException if it is not a settings file or holds another workload
     */
    public static TunedSettings read(Path file, Workload expected) throws IOException {
        TunedSettings settings = read(file);
        if (!settings.workload().equals(expected.id())) {
            throw new IllegalArgumentException(
                    file
                            + " holds settings tuned on "
                            + settings.workload()
                            + ", not on "
                            + expected.id());
        }
        return settings;
    }

    /**
     * Returns the tuned settings of a workload that ship with so4j ({@code tuned/<workload>.json}
     * in the class path), if there are any.
     *
     * @param workload the workload
     * @return the settings, or empty when the workload has not been tuned
     * @throws IOException if the resource cannot be read
     */
    public static Optional<TunedSettings> bundled(Workload workload) throws IOException {
        String name = RESOURCE_FOLDER + workload.id() + ".json";
        try (InputStream in = TunedSettings.class.getClassLoader().getResourceAsStream(name)) {
            return in == null ? Optional.empty() : Optional.of(parse(in, name));
        }
    }

    private static TunedSettings parse(InputStream in, String name) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(in);
        } catch (IOException e) {
            throw new IllegalArgumentException(name + " is not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(name + " must hold a JSON object");
        }
        for (String key : new String[] {"workload", "batch", "steps", "target_loss", "set"}) {
            if (!root.hasNonNull(key)) {
                throw new IllegalArgumentException(name + " has no '" + key + "'");
            }
        }
        if (!root.get("set").isObject()) {
            throw new IllegalArgumentException(
                    name + ": 'set' must be an object of OPTIMIZER.KEY: value");
        }
        Map<String, String> set = new LinkedHashMap<>();
        root.get("set").fields().forEachRemaining(e -> set.put(e.getKey(), e.getValue().asText()));
        Map<String, Map<String, Object>> chosen = new LinkedHashMap<>();
        if (root.hasNonNull("chosen")) {
            for (Iterator<Map.Entry<String, JsonNode>> it = root.get("chosen").fields();
                    it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                @SuppressWarnings("unchecked")
                Map<String, Object> values = JSON.convertValue(e.getValue(), LinkedHashMap.class);
                chosen.put(e.getKey(), values);
            }
        }
        try {
            return new TunedSettings(
                    root.get("workload").asText(),
                    root.get("batch").asInt(),
                    root.get("steps").asInt(),
                    root.get("target_loss").asDouble(),
                    root.path("seeds").asInt(1),
                    root.path("criterion").asText(""),
                    set,
                    chosen);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(name + ": " + e.getMessage(), e);
        }
    }
}
