package io.github.so4j.optimizers.objective;

import ai.djl.ndarray.NDArray;
import io.github.so4j.curvature.subspace.Objective;
import java.util.Arrays;

/** Counts evaluations of an objective and records the loss at each iterate of a run. */
final class Trace {

    private final Objective objective;
    private final Budget budget;
    private long evaluations;
    private long[] at = new long[16];
    private double[] values = new double[16];
    private int recorded;
    private boolean reached;

    Trace(Objective objective, Budget budget) {
        this.objective = objective;
        this.budget = budget;
    }

    /** Evaluates f, counting it. */
    double value(NDArray x) {
        evaluations++;
        return objective.value(x);
    }

    /** Records \( f(x_t) \) (already evaluated) for the current iterate. */
    void record(double value) {
        if (recorded == values.length) {
            at = Arrays.copyOf(at, 2 * recorded);
            values = Arrays.copyOf(values, 2 * recorded);
        }
        at[recorded] = evaluations;
        values[recorded] = value;
        recorded++;
        reached |= value <= budget.target();
    }

    /** Whether the run must stop before spending {@code next} more evaluations. */
    boolean done(long next) {
        return reached || evaluations + next > budget.maxEvaluations();
    }

    ZerothOrderRun finish(NDArray solution) {
        return new ZerothOrderRun(
                solution, Arrays.copyOf(at, recorded), Arrays.copyOf(values, recorded), reached);
    }
}
