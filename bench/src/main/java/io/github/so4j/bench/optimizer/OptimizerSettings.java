package io.github.so4j.bench.optimizer;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The settings of one optimizer: its declared defaults overridden by the user's values.
 *
 * <p>Only declared keys exist; reading one that is not declared is a programming error, and a user
 * value for an undeclared key is rejected by {@link #of} with the list of allowed keys.
 */
public final class OptimizerSettings {

    private final String optimizer;
    private final Map<String, String> values;

    private OptimizerSettings(String optimizer, Map<String, String> values) {
        this.optimizer = optimizer;
        this.values = values;
    }

    /**
     * Merges user values into the defaults.
     *
     * @param optimizer the optimizer's name, for messages
     * @param declared the declared keys (with their generic defaults)
     * @param defaults the defaults to start from (for a workload); only declared keys
     * @param overrides the user's values
     * @return the settings
     * @throws IllegalArgumentException if an override names an undeclared key
     */
    public static OptimizerSettings of(
            String optimizer,
            Map<String, String> declared,
            Map<String, String> defaults,
            Map<String, String> overrides) {
        Map<String, String> merged = new LinkedHashMap<>(defaults);
        for (Map.Entry<String, String> entry : overrides.entrySet()) {
            if (!declared.containsKey(entry.getKey())) {
                throw new IllegalArgumentException(
                        "unknown setting "
                                + optimizer
                                + "."
                                + entry.getKey()
                                + "; allowed: "
                                + String.join(", ", new TreeMap<>(declared).keySet()));
            }
            merged.put(entry.getKey(), entry.getValue());
        }
        return new OptimizerSettings(optimizer, merged);
    }

    /**
     * Returns a setting as a float.
     *
     * @param key a declared key
     * @return its value
     * @throws IllegalArgumentException if the value is not a number
     */
    public float getFloat(String key) {
        String value = get(key);
        try {
            return Float.parseFloat(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    optimizer + "." + key + " must be a number, but was '" + value + "'", e);
        }
    }

    /**
     * Returns a setting as an int.
     *
     * @param key a declared key
     * @return its value
     * @throws IllegalArgumentException if the value is not an integer
     */
    public int getInt(String key) {
        String value = get(key);
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    optimizer + "." + key + " must be an integer, but was '" + value + "'", e);
        }
    }

    /**
     * Returns a setting as a string.
     *
     * @param key a declared key
     * @return its value
     */
    public String get(String key) {
        String value = values.get(key);
        if (value == null) {
            throw new IllegalStateException(optimizer + " declares no setting " + key);
        }
        return value;
    }

    /**
     * Returns all settings, for reports.
     *
     * @return the settings in declaration order
     */
    public Map<String, String> asMap() {
        return Collections.unmodifiableMap(values);
    }
}
