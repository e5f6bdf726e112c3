package io.github.so4j.bench.tune;

import java.util.Comparator;
import java.util.List;

/**
 * How a sweep chooses its point. In order: a point where any seed diverged loses to every point
 * where none did; a point where every seed reached the target (and none lost it again: ended the
 * budget above it, {@link Trial#lostTarget}) beats one where some did not; among those that reached
 * it, the smaller mean steps (or seconds) to the target wins; then, and for points that did not
 * reach it, the smaller mean final training loss; a tie that remains goes to the point listed
 * first, the smaller learning rate of the grid (the less aggressive setting).
 *
 * <p>{@link #STEPS} is the default: within one optimizer's sweep a step costs the same at every
 * point of the grid (the tuned settings change no array's size), so the steps to the target rank
 * the points as the time to the target does, without the noise of a shared machine's clock. {@link
 * #SECONDS} ranks by the measured time.
 */
public enum Criterion {
    /** The mean steps to the target. */
    STEPS("time to the target counted in steps (mean over seeds), else final training loss"),
    /** The mean seconds to the target. */
    SECONDS("time to the target in seconds (mean over seeds), else final training loss");

    private final String description;

    Criterion(String description) {
        this.description = description;
    }

    /**
     * Returns the criterion in words, for the settings file and the tables.
     *
     * @return the description
     */
    public String description() {
        return description
                + "; a seed that reached the target and ended above it has not reached it; a"
                + " point where a seed diverged loses";
    }

    /**
     * Returns the order of the criterion, best first; ties keep their order (use a stable sort).
     *
     * @return the comparator
     */
    public Comparator<Score> order() {
        Comparator<Score> byTarget =
                this == STEPS
                        ? Comparator.comparingDouble(Score::meanStepsToTarget)
                        : Comparator.comparingDouble(Score::meanSecondsToTarget);
        return Comparator.comparing(Score::diverged)
                .thenComparing(s -> !s.reached())
                .thenComparing((a, b) -> a.reached() && b.reached() ? byTarget.compare(a, b) : 0)
                .thenComparingDouble(Criterion::finalLossOrInfinity);
    }

    /**
     * Returns the best point of a sweep.
     *
     * @param scores the points in grid order, at least one
     * @return the best by {@link #order}, the first of equals
     */
    public Score best(List<Score> scores) {
        if (scores.isEmpty()) {
            throw new IllegalArgumentException("no point to choose from");
        }
        Score best = scores.get(0);
        for (Score s : scores) {
            if (order().compare(s, best) < 0) {
                best = s;
            }
        }
        return best;
    }

    private static double finalLossOrInfinity(Score s) {
        double loss = s.meanFinalLoss();
        return Double.isNaN(loss) ? Double.POSITIVE_INFINITY : loss;
    }
}
