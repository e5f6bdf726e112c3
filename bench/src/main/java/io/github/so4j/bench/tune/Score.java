package io.github.so4j.bench.tune;

import java.util.List;
import java.util.Map;

/**
 * A grid point's trials over the seeds, summarised for the criterion: whether any diverged, whether
 * all reached the target, and the means over the seeds of the steps and seconds to the target and
 * of the final training loss.
 *
 * @param optimizer the optimizer's name
 * @param settings the point's tuned settings
 * @param trials one per seed
 */
public record Score(String optimizer, Map<String, String> settings, List<Trial> trials) {

    /**
     * Copies the trials.
     *
     * @param optimizer the optimizer's name
     * @param settings the point's tuned settings
     * @param trials one per seed, at least one
     */
    public Score {
        if (trials.isEmpty()) {
            throw new IllegalArgumentException("a score needs at least one trial");
        }
        settings = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(settings));
        trials = List.copyOf(trials);
    }

    /**
     * Returns whether any seed diverged.
     *
     * @return true if one did
     */
    public boolean diverged() {
        return trials.stream().anyMatch(Trial::diverged);
    }

    /**
     * Returns whether every seed reached the target and none lost it ({@link Trial#lostTarget}).
     *
     * @return true if all did
     */
    public boolean reached() {
        return trials.stream().allMatch(t -> t.reached() && !t.lostTarget());
    }

    /**
     * Returns whether a seed reached the target and lost it by the end of the budget.
     *
     * @return true if one did
     */
    public boolean lostTarget() {
        return trials.stream().anyMatch(Trial::lostTarget);
    }

    /**
     * Returns the mean steps to the target over the seeds.
     *
     * @return the mean, or NaN unless every seed reached it
     */
    public double meanStepsToTarget() {
        return reached()
                ? trials.stream().mapToInt(Trial::stepsToTarget).average().orElseThrow()
                : Double.NaN;
    }

    /**
     * Returns the mean seconds to the target over the seeds.
     *
     * @return the mean, or NaN unless every seed reached it
     */
    public double meanSecondsToTarget() {
        return reached()
                ? trials.stream().mapToDouble(Trial::secondsToTarget).average().orElseThrow()
                : Double.NaN;
    }

    /**
     * Returns the mean final training loss over the seeds.
     *
     * @return the mean (NaN if a seed's was not finite)
     */
    public double meanFinalLoss() {
        return trials.stream().mapToDouble(Trial::finalTrainLoss).average().orElseThrow();
    }
}
