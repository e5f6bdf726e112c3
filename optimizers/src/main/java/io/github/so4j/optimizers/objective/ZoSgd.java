package io.github.so4j.optimizers.objective;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.subspace.Objective;
import io.github.so4j.curvature.subspace.Vectors;
import java.util.Objects;
import java.util.Random;

/**
 * Zeroth-order SGD with two-point random gradient estimates: the first-order baseline of ZO-SAH.
 *
 * <p>\( u_t \sim \mathcal{N}(0, I_d) \), \( \hat g_t = \frac{f(x_t + \mu u_t) - f(x_t)}{\mu} u_t
 * \), \( x_{t+1} = x_t - \eta \hat g_t \)
 *
 * <p>\( \hat g_t \) is an unbiased estimate of the gradient of the Gaussian smoothing \( f_\mu(x) =
 * \mathbb{E}_u f(x + \mu u) \), with second moment about \( (d + 4) \|\nabla f\|^2 \): the stepsize
 * must shrink like 1/d (Nesterov and Spokoiny prove convergence for \( \eta = 1 / (4 (d + 4) L) \)
 * for an L-smooth f), so it needs about d times more iterations than gradient descent.
 *
 * <p>Defaults: learning rate 1e-3, smoothing \( \mu = 10^{-3} \). The learning rate is
 * problem-dependent; tune it.
 *
 * <p><b>Cost</b> per step: two evaluations of f and 4d flops.
 *
 * @see <a href="https://doi.org/10.1007/s10208-015-9296-2">paper</a> (Nesterov and Spokoiny, Random
 *     gradient-free minimization of convex functions)
 */
public final class ZoSgd {

    private final double learningRate;
    private final double smoothing;

    private ZoSgd(Builder builder) {
        this.learningRate = builder.learningRate;
        this.smoothing = builder.smoothing;
    }

    /**
     * Returns a builder with the defaults.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Minimizes f from a start point within a budget.
     *
     * @param objective f
     * @param start \( x_0 \), shape (d). Not modified.
     * @param budget when to stop
     * @param random the generator of the directions
     * @return the run
     */
    public ZerothOrderRun minimize(
            Objective objective, NDArray start, Budget budget, Random random) {
        Objects.requireNonNull(random, "random");
        NDManager owner = start.getManager();
        long d = start.size();
        Trace trace = new Trace(objective, budget);
        try (Workspace ws = new Workspace(owner, start)) {
            NDArray x = start.duplicate();
            while (!trace.done(2)) {
                NDArray next;
                try (NDManager step = ws.manager().newSubManager()) {
                    step.tempAttachAll(x);
                    double value = trace.value(x);
                    trace.record(value);
                    if (trace.done(1)) {
                        break;
                    }
                    NDArray u = Vectors.gaussian(step, d, x.getDataType(), random);
                    double shifted = trace.value(x.add(u.mul(smoothing)));
                    double slope = (shifted - value) / smoothing;
                    next = x.sub(u.mul(learningRate * slope));
                    next.attach(ws.manager());
                }
                x.close();
                x = next;
            }
            return trace.finish(ws.keep(x, owner));
        }
    }

    /** Builds a {@link ZoSgd}. */
    public static final class Builder {

        private double learningRate = 1e-3;
        private double smoothing = 1e-3;

        Builder() {}

        /**
         * Sets \( \eta \).
         *
         * @param learningRate positive; default 1e-3
         * @return this {@code Builder}
         */
        public Builder optLearningRate(double learningRate) {
            this.learningRate = learningRate;
            return this;
        }

        /**
         * Sets \( \mu \), the length of the probe.
         *
         * @param smoothing positive; default 1e-3
         * @return this {@code Builder}
         */
        public Builder optSmoothing(double smoothing) {
            this.smoothing = smoothing;
            return this;
        }

        /**
         * Builds the method.
         *
         * @return the method
         * @throws IllegalArgumentException naming the setting if one is invalid
         */
        public ZoSgd build() {
            if (!(learningRate > 0) || Double.isInfinite(learningRate)) {
                throw new IllegalArgumentException(
                        "learningRate must be positive and finite, but was " + learningRate);
            }
            if (!(smoothing > 0) || Double.isInfinite(smoothing)) {
                throw new IllegalArgumentException(
                        "smoothing must be positive and finite, but was " + smoothing);
            }
            return new ZoSgd(this);
        }
    }
}
