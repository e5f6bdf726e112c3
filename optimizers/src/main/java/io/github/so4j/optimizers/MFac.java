package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.mfac.SlidingWindowFisher;
import io.github.so4j.optimizers.transform.Momentum;
import io.github.so4j.optimizers.transform.WeightDecay;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The M-FAC optimizer: gradient steps preconditioned by the inverse of a damped empirical Fisher
 * over a sliding window of the last m gradients.
 *
 * <p>Each step, the gradient (with L2 weight decay \( \omega \) added, as in the reference code)
 * enters the window, replacing the oldest, and the direction is the inverse-Fisher product with the
 * new window, followed by momentum (the suite's one meaning, {@link Momentum}):
 *
 * <p>\( g_t = \nabla L(w_t) + \omega w_t \)<br>
 * \( F_t = \lambda I + \frac{1}{m} \sum_{i=t-m+1}^{t} g_i g_i^\top \)<br>
 * \( v_t = \mu v_{t-1} + (1 - \tau) F_t^{-1} g_t \), \( u_t = v_t \) (or \( F_t^{-1} g_t + \mu v_t
 * \) with Nesterov)<br>
 * \( w_{t+1} = w_t - \eta_t u_t \)
 *
 * <p>Scopes: {@link Scope#GLOBAL} keeps one window over all trainable parameters together, which is
 * the paper's and the reference code's optimizer; {@link Scope#PER_PARAMETER} keeps one window per
 * parameter tensor (a block-diagonal Fisher, cheaper in its m x m work). In DJL, where the
 * optimizer sees one parameter at a time, the global window is filled at the first update of each
 * step with every parameter's gradient (see {@link SecondOrderOptimizer}), and every parameter then
 * moves by its slice of the same global direction. The paper's 1/m normalisation shrinks \( F \) as
 * m grows, which lengthens the direction: on the Fashion-MNIST MLP the best learning rate fell from
 * 0.008 at m = 32 to 0.004 at m = 128 ({@code docs/mfac.md}).
 *
 * <p>Every window update is a proposal ({@link SlidingWindowFisher#propose}) committed only when
 * the step is taken: a rejected step (a non-finite gradient anywhere, or a window update that is
 * not finite) leaves every window as it was. An ordinary step reads nothing from the device.
 *
 * <p>Defaults, from the reference implementation (IST-DASLab/M-FAC, {@code optim.py}): window m =
 * 1024, damping \( \lambda = 10^{-5} \), learning rate 0.001, momentum 0, weight decay 0.
 *
 * <p><b>Cost</b> per step: reads the m x d window twice and writes one row (2dm flops), plus about
 * 40m<sup>2</sup> flops on m x m float64 data (the rank-two update of the inverse and its share of
 * the refresh, see {@link SlidingWindowFisher}); memory dm in the parameters' dtype, plus d for
 * momentum and 2m<sup>2</sup> float64 per window. With {@link Scope#PER_PARAMETER} the m x m work
 * is per parameter.
 *
 * <p>{@link #stateBytes()} counts, per window, the m x d window in the parameters' dtype (its
 * chunks padded as {@link SlidingWindowFisher} lays them out), K and M (2m<sup>2</sup> float64),
 * the cursor and the count, and the constants the window keeps on the device (the zero padding of
 * each segment's last chunk, the m slot indices, the refresh offsets, m, \( m\lambda \) and \(
 * -1/\lambda \)); and the momentum buffer (d numbers) when \( \mu > 0 \).
 *
 * @see <a href="https://arxiv.org/abs/2107.03356">paper</a>
 * @see SlidingWindowFisher
 */
public final class MFac extends SecondOrderOptimizer {

    private static final String GLOBAL_KEY = "global";
    private static final String WINDOWS = "mfac/windows";
    private static final String WINDOW = "mfac/window/";
    private static final String MOMENTUM = "mfac/momentum";

    private final int windowSize;
    private final double damping;
    private final Scope scope;
    private final WeightDecay l2;
    private final Momentum momentum;

    private final Map<String, SlidingWindowFisher> windows = new HashMap<>();
    private final Map<String, List<String>> windowKeys = new HashMap<>();
    private final TransformState decay;
    private final TransformState velocities;
    private NDManager stateManager;

    /** Which gradients share a window. */
    public enum Scope {
        /** One window over all trainable parameters (the paper's optimizer). */
        GLOBAL,
        /** One window per parameter tensor. */
        PER_PARAMETER
    }

    private MFac(Builder builder) {
        super(builder);
        this.windowSize = builder.windowSize;
        this.damping = builder.damping;
        this.scope = builder.scope;
        this.l2 = WeightDecay.l2(getWeightDecay());
        this.momentum = Momentum.of(builder.momentum, builder.dampening, builder.nesterov);
        this.decay = new TransformState(l2);
        this.velocities = new TransformState(momentum);
    }

    /**
     * Returns a builder with the reference defaults.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** {@inheritDoc} */
    @Override
    protected Map<String, NDArray> computeStep(
            List<ParameterGradient> parameters, NDManager owner, Step step) {
        if (stateManager == null) {
            stateManager = parameters.get(0).weight().getManager().newSubManager();
        }
        Map<String, ParameterGradient> byKey = new LinkedHashMap<>();
        for (ParameterGradient p : parameters) {
            byKey.put(p.key(), p);
        }
        Map<String, NDArray> preconditioned = new HashMap<>();
        if (scope == Scope.GLOBAL) {
            List<String> keys =
                    windowKeys.computeIfAbsent(GLOBAL_KEY, k -> List.copyOf(byKey.keySet()));
            precondition(GLOBAL_KEY, keys, byKey, preconditioned, step);
        } else {
            for (String key : byKey.keySet()) {
                windowKeys.computeIfAbsent(key, List::of);
                precondition(key, List.of(key), byKey, preconditioned, step);
            }
        }
        Map<String, NDArray> directions = new HashMap<>();
        for (ParameterGradient p : parameters) {
            NDArray d = preconditioned.get(p.key());
            if (momentum.momentum() > 0) {
                d = velocities.apply(p.key(), d, p.gradient(), p.weight(), step);
            }
            d.attach(owner);
            directions.put(p.key(), d);
        }
        return directions;
    }

    /**
     * Proposes the gradients of {@code keys} to their window, requires the proposal to be finite,
     * commits it with the step's decision and stores \( F^{-1} g \) by key.
     */
    private void precondition(
            String windowKey,
            List<String> keys,
            Map<String, ParameterGradient> byKey,
            Map<String, NDArray> directions,
            Step step) {
        NDList gradients = new NDList(keys.size());
        Shape[] shapes = new Shape[keys.size()];
        for (int i = 0; i < keys.size(); i++) {
            ParameterGradient p = byKey.get(keys.get(i));
            gradients.add(
                    l2.decay() == 0
                            ? p.gradient()
                            : decay.apply(p.key(), p.gradient(), p.gradient(), p.weight(), step));
            shapes[i] = p.gradient().getShape();
        }
        SlidingWindowFisher window =
                windows.computeIfAbsent(
                        windowKey,
                        k ->
                                new SlidingWindowFisher(
                                        stateManager,
                                        shapes,
                                        windowSize,
                                        damping,
                                        gradients.head().getDataType()));
        SlidingWindowFisher.Proposal proposal = window.propose(gradients);
        NDList result = proposal.direction();
        NDArray finite = proposal.finite();
        result.attach(step.scope());
        finite.attach(step.scope());
        step.require(finite);
        step.onCommit(
                accepted -> {
                    try (proposal) {
                        proposal.commit(accepted);
                    }
                });
        for (int i = 0; i < keys.size(); i++) {
            directions.put(keys.get(i), result.get(i));
        }
    }

    /** {@inheritDoc} */
    @Override
    protected boolean parametersChanged(List<String> keys) {
        boolean restarted = false;
        List<String> stale = new ArrayList<>();
        for (Map.Entry<String, List<String>> entry : windowKeys.entrySet()) {
            boolean keep =
                    scope == Scope.GLOBAL
                            ? entry.getValue().equals(keys) || sameSet(entry.getValue(), keys)
                            : keys.contains(entry.getKey());
            if (!keep) {
                stale.add(entry.getKey());
            }
        }
        for (String key : stale) {
            windowKeys.remove(key);
            SlidingWindowFisher window = windows.remove(key);
            if (window != null) {
                window.close();
                restarted = true;
            }
        }
        velocities.retain(keys);
        return restarted;
    }

    /**
     * Saves every window (its chunks, Gram matrix, inverse and cursor, with the names of the
     * parameters in its segment order) and every velocity.
     */
    @Override
    protected void writeState(OptimizerState state) {
        List<String> names = new ArrayList<>();
        for (Map.Entry<String, List<String>> entry : windowKeys.entrySet()) {
            SlidingWindowFisher window = windows.get(entry.getKey());
            if (window == null) {
                continue;
            }
            String name = windowName(entry.getKey(), state);
            names.add(name);
            String prefix = WINDOW + name + "/";
            state.putStrings(
                    prefix + "segments", entry.getValue().stream().map(state::nameOf).toList());
            SlidingWindowFisher.State s = window.state();
            state.putLong(prefix + "groups", s.windows().size());
            for (int g = 0; g < s.windows().size(); g++) {
                state.put(prefix + "chunks/" + g, s.windows().get(g));
            }
            state.put(prefix + "gram", s.gram())
                    .put(prefix + "inverse", s.inverse())
                    .putLong(prefix + "next", s.next())
                    .putLong(prefix + "filled", s.filled());
        }
        state.putStrings(WINDOWS, names);
        velocities.write(state, MOMENTUM);
    }

    /**
     * Puts every window's arrays, its constants included ({@link SlidingWindowFisher#arrays()}:
     * {@link #writeState} reads the cursor from the device), and every velocity.
     */
    @Override
    protected void measureState(OptimizerState state) {
        windows.forEach(
                (key, window) -> {
                    NDList arrays = window.arrays();
                    for (int i = 0; i < arrays.size(); i++) {
                        state.put(WINDOW + key + "/" + i, arrays.get(i));
                    }
                });
        velocities.write(state, MOMENTUM);
    }

    /** {@inheritDoc} */
    @Override
    protected void readState(OptimizerState state) {
        if (stateManager == null) {
            stateManager = state.parameterManager().newSubManager();
        }
        Map<String, SlidingWindowFisher> restoredWindows = new HashMap<>();
        Map<String, List<String>> restoredKeys = new HashMap<>();
        boolean done = false;
        try (NDManager scratch = stateManager.newSubManager()) {
            for (String name : state.getStrings(WINDOWS)) {
                String windowKey = windowKey(name, state);
                String prefix = WINDOW + name + "/";
                List<String> keys =
                        state.getStrings(prefix + "segments").stream().map(state::keyOf).toList();
                NDList chunks = new NDList();
                long groups = state.getLong(prefix + "groups");
                for (int g = 0; g < groups; g++) {
                    chunks.add(state.array(prefix + "chunks/" + g, scratch));
                }
                NDArray gram = state.array(prefix + "gram", scratch);
                if (gram.getShape().get(0) != windowSize) {
                    throw new IllegalArgumentException(
                            "the checkpoint's window holds "
                                    + gram.getShape().get(0)
                                    + " gradients, but this optimizer's windowSize is "
                                    + windowSize);
                }
                Shape[] shapes = keys.stream().map(state::shapeOf).toArray(Shape[]::new);
                SlidingWindowFisher window =
                        new SlidingWindowFisher(
                                stateManager,
                                shapes,
                                windowSize,
                                damping,
                                chunks.head().getDataType());
                restoredWindows.put(windowKey, window);
                restoredKeys.put(windowKey, keys);
                window.restore(
                        new SlidingWindowFisher.State(
                                chunks,
                                gram,
                                state.array(prefix + "inverse", scratch),
                                Math.toIntExact(state.getLong(prefix + "next")),
                                Math.toIntExact(state.getLong(prefix + "filled"))));
            }
            if (momentum.momentum() > 0) {
                velocities.read(state, MOMENTUM);
            }
            done = true;
        } finally {
            if (!done) {
                restoredWindows.values().forEach(SlidingWindowFisher::close);
            }
        }
        windows.values().forEach(SlidingWindowFisher::close);
        windows.clear();
        windowKeys.clear();
        windows.putAll(restoredWindows);
        windowKeys.putAll(restoredKeys);
    }

    private String windowName(String windowKey, OptimizerState state) {
        return windowKey.equals(GLOBAL_KEY) ? GLOBAL_KEY : state.nameOf(windowKey);
    }

    private String windowKey(String name, OptimizerState state) {
        boolean global = name.equals(GLOBAL_KEY);
        if (global != (scope == Scope.GLOBAL)) {
            throw new IllegalArgumentException(
                    "the checkpoint holds "
                            + (global ? Scope.GLOBAL : Scope.PER_PARAMETER)
                            + " windows, but this optimizer's scope is "
                            + scope);
        }
        return global ? GLOBAL_KEY : state.keyOf(name);
    }

    private static boolean sameSet(List<String> a, List<String> b) {
        return a.size() == b.size() && a.containsAll(b);
    }

    /**
     * Returns m.
     *
     * @return the window size
     */
    public int getWindowSize() {
        return windowSize;
    }

    /**
     * Returns \( \lambda \).
     *
     * @return the damping
     */
    public double getDamping() {
        return damping;
    }

    /**
     * Returns \( \mu \).
     *
     * @return the momentum
     */
    public float getMomentum() {
        return momentum.momentum();
    }

    /**
     * Returns \( \tau \), the momentum's dampening.
     *
     * @return the dampening
     */
    public float getDampening() {
        return momentum.dampening();
    }

    /**
     * Returns the scope.
     *
     * @return GLOBAL or PER_PARAMETER
     */
    public Scope getScope() {
        return scope;
    }

    /** Builds {@link MFac}; every setting has the reference default. */
    public static final class Builder extends BaseBuilder<Builder> {

        private int windowSize = 1024;
        private double damping = 1e-5;
        private float momentum;
        private float dampening;
        private boolean nesterov;
        private Scope scope = Scope.GLOBAL;

        Builder() {
            super(1e-3f);
        }

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets m, the number of gradients in the window.
         *
         * @param windowSize m, at least 1; default 1024
         * @return this {@code Builder}
         */
        public Builder optWindowSize(int windowSize) {
            this.windowSize = windowSize;
            return this;
        }

        /**
         * Sets \( \lambda \), the damping added to the Fisher.
         *
         * @param damping \( \lambda \), positive and finite; default 1e-5
         * @return this {@code Builder}
         */
        public Builder optDamping(double damping) {
            this.damping = damping;
            return this;
        }

        /**
         * Sets \( \mu \), the momentum, with the meaning it has in every so4j optimizer (PyTorch's
         * SGD momentum, see {@link Momentum}).
         *
         * @param momentum \( \mu \) in [0, 1); default 0
         * @return this {@code Builder}
         */
        public Builder optMomentum(float momentum) {
            this.momentum = momentum;
            return this;
        }

        /**
         * Sets \( \tau \), the momentum's dampening. {@code optDampening(mu)} with {@code
         * optMomentum(mu)} makes the velocity an exponential average of the directions, the
         * momentum of M-FAC's reference code.
         *
         * @param dampening \( \tau \) in [0, 1]; default 0
         * @return this {@code Builder}
         */
        public Builder optDampening(float dampening) {
            this.dampening = dampening;
            return this;
        }

        /**
         * Sets whether momentum takes Nesterov's form.
         *
         * @param nesterov whether to use Nesterov momentum; default false
         * @return this {@code Builder}
         */
        public Builder optNesterov(boolean nesterov) {
            this.nesterov = nesterov;
            return this;
        }

        /**
         * Sets which gradients share a window.
         *
         * @param scope GLOBAL (default) or PER_PARAMETER
         * @return this {@code Builder}
         */
        public Builder optScope(Scope scope) {
            this.scope = scope;
            return this;
        }

        /**
         * Builds the optimizer.
         *
         * @return the optimizer
         * @throws IllegalArgumentException naming the setting and its value if one is invalid
         */
        public MFac build() {
            if (windowSize < 1) {
                throw new IllegalArgumentException(
                        "windowSize must be at least 1, but was " + windowSize);
            }
            if (!(damping > 0) || Double.isInfinite(damping)) {
                throw new IllegalArgumentException(
                        "damping must be positive and finite, but was " + damping);
            }
            if (!(momentum >= 0 && momentum < 1)) {
                throw new IllegalArgumentException(
                        "momentum must be in [0, 1), but was " + momentum);
            }
            if (!(dampening >= 0 && dampening <= 1)) {
                throw new IllegalArgumentException(
                        "dampening must be in [0, 1], but was " + dampening);
            }
            if (scope == null) {
                throw new IllegalArgumentException("scope must not be null");
            }
            return new MFac(this);
        }
    }
}
