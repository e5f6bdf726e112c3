package io.github.so4j.bench.tune;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.github.so4j.bench.compare.RunResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One run of a sweep: an optimizer at one grid point with one seed, and what it measured. Written
 * to its own JSON file as soon as it ends, so that a sweep that stops resumes after the last
 * finished run.
 *
 * @param optimizer the optimizer's name
 * @param settings the tuned settings of the point (key to value), the others at their defaults
 * @param seed the seed
 * @param steps the steps taken (fewer than the budget when the run stopped at the target or at a
 *     non-finite loss)
 * @param firstLoss the loss of the first batch, before any update
 * @param finalTrainLoss the mean loss over the training set after the last step (NaN when not
 *     finite)
 * @param stepsToTarget the first step whose mean loss over the last 20 batches was at most the
 *     target, or -1
 * @param secondsToTarget the training time up to that step, or NaN
 * @param msPerStep the mean time of a step
 * @param diverged whether the run diverged: a non-finite batch or final loss, or a final training
 *     loss above the first batch's
 * @param targetLoss the run's target loss (NaN when unknown)
 */
public record Trial(
        String optimizer,
        Map<String, String> settings,
        long seed,
        int steps,
        double firstLoss,
        double finalTrainLoss,
        int stepsToTarget,
        double secondsToTarget,
        double msPerStep,
        boolean diverged,
        double targetLoss) {

    private static final ObjectMapper JSON =
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * Copies the settings.
     *
     * @param optimizer the optimizer's name
     * @param settings the tuned settings
     * @param seed the seed
     * @param steps the steps taken
     * @param firstLoss the first batch's loss
     * @param finalTrainLoss the final training loss
     * @param stepsToTarget the steps to the target, or -1
     * @param secondsToTarget the seconds to the target, or NaN
     * @param msPerStep the mean time of a step
     * @param diverged whether the run diverged
     * @param targetLoss the run's target loss
     */
    public Trial {
        settings = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(settings));
    }

    /**
     * Makes the trial of a finished run.
     *
     * @param settings the tuned settings of the point
     * @param result the run's result
     * @param nonFinite whether a batch loss was not finite (the run stopped there)
     * @return the trial
     */
    public static Trial of(Map<String, String> settings, RunResult result, boolean nonFinite) {
        double first = result.curve().isEmpty() ? Double.NaN : result.curve().get(0).trainLoss();
        double last = result.finalTrainLoss();
        boolean diverged = nonFinite || !Double.isFinite(last) || !(last <= first);
        return new Trial(
                result.optimizer(),
                settings,
                result.seed(),
                result.steps(),
                first,
                Double.isFinite(last) ? last : Double.NaN,
                result.stepsToTarget(),
                result.secondsToTarget(),
                result.msPerStep(),
                diverged,
                result.targetLoss());
    }

    /**
     * Returns whether the run reached the target.
     *
     * @return true if {@link #stepsToTarget} is set
     */
    public boolean reached() {
        return stepsToTarget >= 0;
    }

    /**
     * Returns whether the run reached the target and then lost it: it went on past the crossing and
     * its final training loss is above the target (a rate that gets there fast and then climbs, or
     * oscillates, is not a setting to keep).
     *
     * @return true if the target was reached and lost
     */
    public boolean lostTarget() {
        return reached() && steps > stepsToTarget && finalTrainLoss > targetLoss;
    }

    /**
     * Writes the trial as JSON.
     *
     * @param file the file
     * @throws IOException if it cannot be written
     */
    public void write(Path file) throws IOException {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("optimizer", optimizer);
        map.put("settings", settings);
        map.put("seed", seed);
        map.put("steps", steps);
        map.put("first_loss", finite(firstLoss));
        map.put("final_train_loss", finite(finalTrainLoss));
        map.put("steps_to_target", stepsToTarget >= 0 ? stepsToTarget : null);
        map.put("seconds_to_target", finite(secondsToTarget));
        map.put("ms_per_step", finite(msPerStep));
        map.put("diverged", diverged);
        map.put("target_loss", finite(targetLoss));
        Files.createDirectories(file.toAbsolutePath().getParent());
        Path partial = file.resolveSibling(file.getFileName() + ".part");
        JSON.writeValue(partial.toFile(), map);
        // a run interrupted while writing leaves no file that looks finished
        Files.move(
                partial,
                file,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * Reads a trial written by {@link #write}.
     *
     * @param file the file
     * @return the trial
     * @throws IOException if it cannot be read or is not a trial
     */
    public static Trial read(Path file) throws IOException {
        JsonNode node = JSON.readTree(file.toFile());
        Map<String, String> settings = new LinkedHashMap<>();
        node.get("settings")
                .fields()
                .forEachRemaining(e -> settings.put(e.getKey(), e.getValue().asText()));
        return new Trial(
                node.get("optimizer").asText(),
                settings,
                node.get("seed").asLong(),
                node.get("steps").asInt(),
                number(node, "first_loss"),
                number(node, "final_train_loss"),
                node.get("steps_to_target").isNull() ? -1 : node.get("steps_to_target").asInt(),
                number(node, "seconds_to_target"),
                number(node, "ms_per_step"),
                node.get("diverged").asBoolean(),
                number(node, "target_loss"));
    }

    private static Double finite(double value) {
        return Double.isFinite(value) ? value : null;
    }

    private static double number(JsonNode node, String key) {
        JsonNode value = node.get(key);
        return value == null || value.isNull() ? Double.NaN : value.asDouble();
    }
}
