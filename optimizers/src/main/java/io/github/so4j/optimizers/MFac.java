package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.mfac.SlidingWindowFisher;
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
 * new window; momentum \( \mu \) is an exponential average of those directions:
 *
 * <p>\( g_t = \nabla L(w_t) + \omega w_t \)<br>
 * \( F_t = \lambda I + \frac{1}{m} \sum_{i=t-m+1}^{t} g_i g_i^\top \)<br>
 * \( v_t = \mu v_{t-1} + (1 - \mu) F_t^{-1} g_t \) (or \( F_t^{-1} g_t \) when \( \mu = 0 \))<br>
 * \( w_{t+1} = w_t - \eta_t v_t \)
 *
 * <p>Scopes: {@link Scope#GLOBAL} keeps one window over all trainable parameters together, which is
 * the paper's and the reference code's optimizer; {@link Scope#PER_PARAMETER} keeps one window per
 * parameter tensor (a block-diagonal Fisher, cheaper in its m x m work). In DJL, where the
 * optimizer sees one parameter at a time, the global window is filled at the first update of each
 * step with every parameter's gradient (see {@link SecondOrderOptimizer}), and every parameter then
 * moves by its slice of the same global direction. Because the paper's 1/m normalisation shrinks \(
 * F \) as m grows, the learning rate that works scales roughly with m.
 *
 * <p>Defaults, from the reference implementation (IST-DASLab/M-FAC, {@code optim.py}): window m =
 * 1024, damping \( \lambda = 10^{-5} \), learning rate 0.001, momentum 0, weight decay 0.
 *
 * <p><b>Cost</b> per step: reads the m x d window twice (2dm flops) plus about 2m<sup>3</sup> flops
 * on m x m float64 data; memory dm in the parameters' dtype, plus d for momentum and 2m<sup>2</sup>
 * float64 per window. With {@link Scope#PER_PARAMETER} the m x m work is per parameter.
 *
 * @see <a href="https://arxiv.org/abs/2107.03356">paper</a>
 * @see SlidingWindowFisher
 */
public final class MFac extends SecondOrderOptimizer {

    private static final String GLOBAL_KEY = "global";
    private static final String WINDOWS = "mfac/windows";
    private static final String WINDOW = "mfac/window/";
    private static final String VELOCITIES = "mfac/velocities";
    private static final String VELOCITY = "mfac/velocity/";

    private final int windowSize;
    private final double damping;
    private final float momentum;
    private final Scope scope;

    private final Map<String, SlidingWindowFisher> windows = new HashMap<>();
    private final Map<String, List<String>> windowKeys = new HashMap<>();
    private final Map<String, NDArray> velocities = new HashMap<>();
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
        this.momentum = builder.momentum;
        this.scope = builder.scope;
    }

    /**
     * Returns a builder with the reference defaults.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns {@code false}: a NaN or infinite gradient makes the window's coefficients non-finite,
     * which rejects the step anyway, so the extra check is not needed on the hot path.
     *
     * @return {@code false}
     */
    @Override
    protected boolean checksGradientsFirst() {
        return false;
    }

    /** {@inheritDoc} */
    @Override
    protected Map<String, NDArray> computeStep(
            List<ParameterGradient> parameters, NDManager owner) {
        if (stateManager == null) {
            stateManager = parameters.get(0).weight().getManager().newSubManager();
        }
        Map<String, ParameterGradient> byKey = new LinkedHashMap<>();
        for (ParameterGradient p : parameters) {
            byKey.put(p.key(), p);
        }
        Map<String, NDArray> directions = new HashMap<>();
        try (Workspace ws = new Workspace(owner)) {
            if (scope == Scope.GLOBAL) {
                List<String> keys =
                        windowKeys.computeIfAbsent(GLOBAL_KEY, k -> List.copyOf(byKey.keySet()));
                if (!precondition(GLOBAL_KEY, keys, byKey, directions)) {
                    return null;
                }
            } else {
                for (String key : byKey.keySet()) {
                    windowKeys.computeIfAbsent(key, List::of);
                    if (!precondition(key, List.of(key), byKey, directions)) {
                        return null;
                    }
                }
            }
            for (Map.Entry<String, NDArray> entry : directions.entrySet()) {
                entry.setValue(ws.keep(smooth(entry.getKey(), entry.getValue()), owner));
            }
        }
        return directions;
    }

    /** Adds the gradients of {@code keys} to their window and stores F^{-1} g by key. */
    private boolean precondition(
            String windowKey,
            List<String> keys,
            Map<String, ParameterGradient> byKey,
            Map<String, NDArray> directions) {
        NDList gradients = new NDList(keys.size());
        Shape[] shapes = new Shape[keys.size()];
        for (int i = 0; i < keys.size(); i++) {
            ParameterGradient p = byKey.get(keys.get(i));
            gradients.add(withWeightDecay(p));
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
        NDList result = window.addAndInverseTimes(gradients);
        if (result == null) {
            return false;
        }
        for (int i = 0; i < keys.size(); i++) {
            directions.put(keys.get(i), result.get(i));
        }
        return true;
    }

    private NDArray withWeightDecay(ParameterGradient p) {
        float decay = weightDecay();
        return decay == 0 ? p.gradient() : p.gradient().add(p.weight().mul(decay));
    }

    /**
     * \( v \leftarrow \mu v + (1 - \mu) d \); returns a copy of v, owned like {@code direction} (or
     * d itself when \( \mu = 0 \)).
     */
    private NDArray smooth(String key, NDArray direction) {
        if (momentum == 0) {
            return direction;
        }
        NDArray previous = velocities.get(key);
        NDManager caller = direction.getManager();
        try (Workspace ws = new Workspace(stateManager, previous, direction)) {
            NDArray scaled = direction.mul(1 - momentum);
            NDArray next = previous == null ? scaled : previous.mul(momentum).add(scaled);
            velocities.put(key, ws.keep(next, stateManager));
            ws.closeAfterwards(previous);
            return ws.keep(next.duplicate(), caller);
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
        velocities
                .keySet()
                .removeIf(
                        key -> {
                            if (!keys.contains(key)) {
                                velocities.get(key).close();
                                return true;
                            }
                            return false;
                        });
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
        List<String> moving = new ArrayList<>();
        for (Map.Entry<String, NDArray> entry : velocities.entrySet()) {
            String name = state.nameOf(entry.getKey());
            moving.add(name);
            state.put(VELOCITY + name, entry.getValue());
        }
        state.putStrings(VELOCITIES, moving);
    }

    /** {@inheritDoc} */
    @Override
    protected void readState(OptimizerState state) {
        if (stateManager == null) {
            stateManager = state.parameterManager().newSubManager();
        }
        Map<String, SlidingWindowFisher> restoredWindows = new HashMap<>();
        Map<String, List<String>> restoredKeys = new HashMap<>();
        Map<String, NDArray> restoredVelocities = new HashMap<>();
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
            for (String name : state.getStrings(VELOCITIES)) {
                String key = state.keyOf(name);
                NDArray velocity = state.array(VELOCITY + name, stateManager);
                restoredVelocities.put(key, velocity);
                if (!velocity.getShape().equals(state.shapeOf(key))) {
                    throw new IllegalArgumentException(
                            "the saved velocity of '"
                                    + name
                                    + "' has shape "
                                    + velocity.getShape()
                                    + ", but the parameter has "
                                    + state.shapeOf(key));
                }
            }
            done = true;
        } finally {
            if (!done) {
                restoredWindows.values().forEach(SlidingWindowFisher::close);
                restoredVelocities.values().forEach(NDArray::close);
            }
        }
        windows.values().forEach(SlidingWindowFisher::close);
        velocities.values().forEach(NDArray::close);
        windows.clear();
        windowKeys.clear();
        velocities.clear();
        windows.putAll(restoredWindows);
        windowKeys.putAll(restoredKeys);
        velocities.putAll(restoredVelocities);
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
        return momentum;
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
         * Sets \( \mu \), the weight of the previous velocity in the exponential average.
         *
         * @param momentum \( \mu \) in [0, 1); default 0
         * @return this {@code Builder}
         */
        public Builder optMomentum(float momentum) {
            this.momentum = momentum;
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
            if (scope == null) {
                throw new IllegalArgumentException("scope must not be null");
            }
            return new MFac(this);
        }
    }
}
