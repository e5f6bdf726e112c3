package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.so4j.curvature.Finite;
import io.github.so4j.curvature.shampoo.BlockLayout;
import io.github.so4j.curvature.shampoo.RootHealth;
import io.github.so4j.curvature.shampoo.ShampooConfig;
import io.github.so4j.curvature.shampoo.ShampooPreconditioner;
import io.github.so4j.curvature.shampoo.ShampooPreconditioner.Roots;
import io.github.so4j.curvature.shampoo.ShampooPreconditioner.Statistics;
import io.github.so4j.optimizers.transform.Chain;
import io.github.so4j.optimizers.transform.FirstMoment;
import io.github.so4j.optimizers.transform.Momentum;
import io.github.so4j.optimizers.transform.Transform;
import io.github.so4j.optimizers.transform.WeightDecay;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Shampoo optimizer: each matrix-shaped gradient preconditioned on both sides by inverse roots
 * of its Kronecker statistics, with the step norm grafted from a first-order method.
 *
 * <p>Every taken step t, for each parameter with gradient g (see {@link ShampooPreconditioner} for
 * the blocks and {@link Grafting} for the grafted step \( P_{graft} \)):
 *
 * <p>\( L \leftarrow \beta_2 L + w G G^\top \), \( R \leftarrow \beta_2 R + w G^\top G \) per block
 * (when \( (t - 1) \bmod \) {@code statisticsFrequency} \( = 0 \); roots recomputed at t = {@code
 * startPreconditioningStep} and at later multiples of {@code preconditionFrequency})<br>
 * \( m \leftarrow \beta_1 m + (1 - \beta_1) g \), \( \hat m = m / (1 - \beta_1^t) \)<br>
 * \( P_{sh} = \hat L^{-1/4} \hat m \hat R^{-1/4} \) per block, \( P =
 * \frac{\|P_{graft}\|}{\|P_{sh}\| + 10^{-16}} P_{sh} \) per block (\( P = P_{graft} \) before
 * {@code startPreconditioningStep} and for tensors of order &lt; 2)<br>
 * \( P \leftarrow P + \omega w_t \) (decoupled weight decay)<br>
 * \( M \leftarrow \mu M + P \), \( P \leftarrow P + \mu M \) (Nesterov) or \( P \leftarrow M \)
 * (when \( \mu &gt; 0 \))<br>
 * \( w_{t+1} = w_t - \eta_t P \)
 *
 * <p>This is the order of Meta's distributed Shampoo ({@code _compute_search_directions}): the
 * statistics see the raw gradient, Shampoo and grafting precondition the filtered one, weight decay
 * and momentum act on the grafted direction. The moments are the shared transforms ({@link
 * FirstMoment}, {@link io.github.so4j.optimizers.transform.SecondMoment}, {@link WeightDecay},
 * {@link Momentum}), bias-corrected on the device from the step's index.
 *
 * <p><b>Rejected steps and host reads.</b> Every change of state waits for the step's decision,
 * made on the device: a step whose gradients or new statistics are not finite (NaN, infinities, or
 * products that overflow) leaves L, R, the roots, the moments and the weights bit-identical, and is
 * counted in {@link #health()}. The statistics schedule is decided on the device too (with {@code
 * statisticsFrequency} above 1 the products are computed every step and kept on the scheduled
 * ones), so an ordinary step reads nothing from the device. A root refresh reads: the step's index
 * when rejected steps the host has not heard of could move the schedule, its decision (the roots
 * must not be computed for a rejected step), and whatever the root computations read ({@link
 * io.github.so4j.curvature.HostReads}: one read per host eigendecomposition, one per coupled Newton
 * step plus one). Root failures climb the preconditioner's failure ladder and are counted in {@link
 * #rootHealth()}.
 *
 * <p>Checkpoints ({@link #saveState}, {@link #loadState}) hold the complete state by name: per
 * parameter the filtered gradient, the grafted second moment and the velocity (those the settings
 * use), every block's L, R, update count, current roots and root counters, and whether Shampoo's
 * step has started.
 *
 * <p>Defaults: Meta's distributed Shampoo ({@code facebookresearch/optimizers}, commit f606606,
 * version 1.0.0): the constructor of {@code distributed_shampoo.py} for max_preconditioner_dim
 * 1024, betas[0] = 0.9, start_preconditioning_step = precondition_frequency, bias correction on,
 * decoupled weight decay 0, no momentum (its {@code ClassicMomentumConfig} is off unless given;
 * when given, Nesterov defaults to off); its README's Adam-grafting recipe ("Example 4", replacing
 * AdamW) for the learning rate 0.001 and Adam grafting with \( \beta_g = 0.999 \), \( \epsilon_g =
 * 10^{-8} \). Departures, measured on the Fashion-MNIST MLP (see {@code docs/shampoo.md}): the
 * statistics are running sums (\( \beta_2 = 1 \), Meta's constructor default; the README's 0.999
 * did no better); the ridge is relative, \( 10^{-4} \lambda_{\max} \) (it follows the scale of the
 * statistics, which Meta's absolute 1e-12 does not; scalable Shampoo's relative 1e-6 converged no
 * better, needs about 20 Newton steps instead of 14, and comes closer to the float32 rounding of
 * long sums, which perturbs eigenvalues by about \( 10^{-6} \lambda_{\max} \)); and
 * preconditionFrequency is 50 (Meta's constructor: 1, its README: 100): of 20, 50 and 100, the
 * largest that met the MLP's one-epoch target at both block sizes tried. maxPreconditionerDim stays
 * Meta's 1024, which is slow on the MLP's 784-wide layer; docs/shampoo.md recommends 128 there.
 *
 * <p><b>Cost</b> per step, for an m x n parameter in blocks of r x c: about \( 2 m n (r + c) \)
 * multiply-adds (statistics and direction) against O(mn) for Adam, plus, every {@code
 * preconditionFrequency} steps, about 80 (r<sup>3</sup> + c<sup>3</sup>) per block for the roots
 * (about 14 coupled Newton steps of 4 products at the default ridge, 20 at 1e-6). Memory: \( 2 (m r
 * + n c) \) for statistics and roots, plus m, v and the momentum buffer of size mn each when used.
 *
 * <p>{@link #stateBytes()} counts the checkpoint's arrays: per parameter the filtered gradient, the
 * grafted second moment and the velocity (those the settings use), and per block L, R, their
 * current inverse roots and the update count (an int64 scalar); tensors of order below 2 have no
 * blocks.
 *
 * @see <a href="https://arxiv.org/abs/1802.09568">paper</a>
 * @see <a href="https://arxiv.org/abs/2309.06497">paper</a> (Meta's distributed Shampoo)
 */
public final class Shampoo extends SecondOrderOptimizer {

    private static final Logger logger = LoggerFactory.getLogger(Shampoo.class);

    /** Added to Shampoo's block norm before grafting divides by it (Meta's value). */
    private static final double NORM_FLOOR = 1e-16;

    /** The stages of the update, in order, by the names of their checkpoint entries. */
    private static final String FILTER = "filter";

    private static final String GRAFTING = "grafting";
    private static final String UPDATE = "update";
    private static final String PREFIX = "shampoo/";
    private static final String BLOCKS = "shampoo/blocks";
    private static final String PRECONDITIONING = "shampoo/preconditioning";
    private static final String[] ROOT_COUNTERS = {
        "rootComputations",
        "float64Retries",
        "hostFallbacks",
        "failedRoots",
        "consecutiveRootFailures"
    };

    private final ShampooConfig config;
    private final float beta1;
    private final Grafting grafting;
    private final float graftingBeta2;
    private final float graftingEpsilon;
    private final int preconditionFrequency;
    private final int startPreconditioningStep;
    private final int statisticsFrequency;
    private final float momentum;
    private final boolean nesterov;

    /** The filter, the grafted method, and weight decay with momentum: those the settings use. */
    private final Map<String, TransformState> stages = new LinkedHashMap<>();

    /** Each preconditioned parameter's statistics and roots, by key. */
    private final Map<String, ShampooPreconditioner> preconditioners = new HashMap<>();

    private NDManager blockManager;

    /** Whether the roots were computed once (at startPreconditioningStep): Shampoo's step is on. */
    private boolean preconditioning;

    private Shampoo(Builder builder, ShampooConfig config) {
        super(builder);
        this.config = config;
        this.beta1 = builder.beta1;
        this.grafting = builder.grafting;
        this.graftingBeta2 = builder.graftingBeta2;
        this.graftingEpsilon = builder.graftingEpsilon;
        this.preconditionFrequency = builder.preconditionFrequency;
        this.startPreconditioningStep =
                builder.startPreconditioningStep == -1
                        ? builder.preconditionFrequency
                        : builder.startPreconditioningStep;
        this.statisticsFrequency = builder.statisticsFrequency;
        this.momentum = builder.momentum;
        this.nesterov = builder.nesterov;
        List<Transform> update = new ArrayList<>();
        if (weightDecay() != 0) {
            update.add(WeightDecay.decoupled(weightDecay()));
        }
        if (momentum > 0) {
            update.add(Momentum.of(momentum, 0, nesterov));
        }
        if (beta1 > 0) {
            stages.put(FILTER, new TransformState(new FirstMoment(beta1, config.biasCorrection())));
        }
        Transform graft = grafting.transform(graftingBeta2, graftingEpsilon);
        if (graft != null) {
            stages.put(GRAFTING, new TransformState(graft));
        }
        if (!update.isEmpty()) {
            stages.put(
                    UPDATE,
                    new TransformState(Chain.named(UPDATE, update.toArray(Transform[]::new))));
        }
    }

    /**
     * Returns a builder with the defaults described in the class documentation.
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
        Map<String, Statistics> statistics = stageStatistics(parameters, step);
        Map<String, Roots> roots = Map.of();
        boolean refresh = step.isDue(this::refreshDue);
        if (refresh) {
            if (!step.accepted()) {
                return null;
            }
            roots = stageRoots(statistics, step);
        }
        Map<String, NDArray> directions = new HashMap<>();
        for (ParameterGradient p : parameters) {
            NDArray filtered = apply(FILTER, p, p.gradient(), step);
            NDArray d = apply(GRAFTING, p, filtered, step);
            ShampooPreconditioner pre = preconditioners.get(p.key());
            if (pre != null && (refresh || preconditioning)) {
                d = precondition(pre, roots.getOrDefault(p.key(), pre.roots()), filtered, d);
            }
            d = apply(UPDATE, p, d, step);
            NDArray direction = d == p.gradient() ? d.duplicate() : d;
            direction.attach(owner);
            directions.put(p.key(), direction);
        }
        return directions;
    }

    /**
     * Stages every block's L and R as this step leaves them if it is taken: with the step's
     * gradient added when its index t has \( (t - 1) \bmod \) statisticsFrequency \( = 0 \)
     * (decided on the device), as they are otherwise. The new products must be finite (and, for
     * tensors Shampoo does not precondition, the squares the grafted method adds up).
     */
    private Map<String, Statistics> stageStatistics(List<ParameterGradient> parameters, Step step) {
        NDArray due =
                statisticsFrequency == 1
                        ? null
                        : step.index().sub(1).mod(statisticsFrequency).eq(0);
        Map<String, Statistics> staged = new HashMap<>();
        List<NDArray> probes = new ArrayList<>();
        for (ParameterGradient p : parameters) {
            ShampooPreconditioner pre = preconditioner(p);
            if (pre == null) {
                if (grafting.keepsSquares()) {
                    probes.add(Finite.ofSum(p.gradient().square()));
                }
                continue;
            }
            Statistics next = pre.next(pre.layout().toBlocks(p.gradient()));
            probes.add(Finite.ofSum(next.left()));
            probes.add(Finite.ofSum(next.right()));
            Statistics kept = due == null ? next : select(due, next, pre.statistics());
            staged.put(p.key(), kept);
            step.onCommit(accepted -> pre.commit(kept, (c, old) -> Step.select(accepted, c, old)));
        }
        if (!probes.isEmpty()) {
            step.require(Finite.flag(probes));
        }
        return staged;
    }

    private static Statistics select(NDArray due, Statistics next, Statistics current) {
        return new Statistics(
                Step.select(due, next.left(), current.left()),
                Step.select(due, next.right(), current.right()),
                Step.select(due, next.updates(), current.updates()));
    }

    /**
     * On an accepted refresh step: every block's new roots, of the statistics this step leaves,
     * installed with the step.
     */
    private Map<String, Roots> stageRoots(Map<String, Statistics> staged, Step step) {
        Map<String, Roots> roots = new HashMap<>();
        preconditioners.forEach(
                (key, pre) ->
                        roots.put(
                                key,
                                pre.nextRoots(
                                        staged.getOrDefault(key, pre.statistics()), step.scope())));
        step.onCommit(
                accepted -> {
                    roots.forEach((key, r) -> preconditioners.get(key).commit(r));
                    preconditioning = true;
                });
        return roots;
    }

    private boolean refreshDue(long t) {
        return t == startPreconditioningStep
                || (t > startPreconditioningStep && t % preconditionFrequency == 0);
    }

    /** Shampoo's direction, each block rescaled to the norm of the grafted direction's block. */
    private NDArray precondition(
            ShampooPreconditioner pre, Roots roots, NDArray filtered, NDArray graft) {
        BlockLayout layout = pre.layout();
        NDArray d = pre.precondition(layout.toBlocks(filtered), roots);
        if (grafting != Grafting.NONE) {
            NDArray norms = layout.toBlocks(graft).norm(new int[] {1, 2}, true);
            d.muli(norms.divi(d.norm(new int[] {1, 2}, true).addi(NORM_FLOOR)));
        }
        return layout.fromBlocks(d);
    }

    /** Runs a stage of the update, if the settings use it. */
    private NDArray apply(String stage, ParameterGradient p, NDArray direction, Step step) {
        TransformState state = stages.get(stage);
        return state == null
                ? direction
                : state.apply(p.key(), direction, p.gradient(), p.weight(), step);
    }

    /** The parameter's preconditioner, created at its first step; null below order 2. */
    private ShampooPreconditioner preconditioner(ParameterGradient p) {
        ShampooPreconditioner pre = preconditioners.get(p.key());
        if (pre == null && BlockLayout.preconditionable(p.weight().getShape())) {
            if (blockManager == null) {
                blockManager = p.weight().getManager().newSubManager();
            }
            String name = nameOf(p.key());
            pre =
                    new ShampooPreconditioner(
                            blockManager,
                            name,
                            p.weight().getShape(),
                            p.gradient().getDataType(),
                            config);
            preconditioners.put(p.key(), pre);
            logger.debug("Shampoo preconditions {} in {}", name, pre.layout());
        }
        return pre;
    }

    /** {@inheritDoc} */
    @Override
    protected boolean parametersChanged(List<String> keys) {
        stages.values().forEach(s -> s.retain(keys));
        List<String> stale =
                preconditioners.keySet().stream().filter(k -> !keys.contains(k)).toList();
        stale.forEach(key -> preconditioners.remove(key).close());
        return !stale.isEmpty();
    }

    /**
     * Saves, by name, the stages' state per parameter ({@code shampoo/<stage>/<state>/<parameter>}
     * with the list of state names as {@code shampoo/<stage>/state}), each block's statistics,
     * update count, roots and root counters ({@code shampoo/blocks/<parameter>/<entry>}), and
     * whether Shampoo's step is on (1 once the roots were computed).
     */
    @Override
    protected void writeState(OptimizerState state) {
        state.putLong(PRECONDITIONING, preconditioning ? 1 : 0);
        stages.forEach(
                (stage, s) -> {
                    state.putStrings(PREFIX + stage + "/state", s.transform().stateNames());
                    s.write(state, PREFIX + stage);
                });
        List<String> names = new ArrayList<>();
        preconditioners.forEach(
                (key, pre) -> {
                    String name = state.nameOf(key);
                    names.add(name);
                    String at = BLOCKS + "/" + name + "/";
                    ShampooPreconditioner.State s = pre.state();
                    state.put(at + "left", s.left())
                            .put(at + "right", s.right())
                            .put(at + "leftRoots", s.leftRoots())
                            .put(at + "rightRoots", s.rightRoots())
                            .put(at + "statisticsUpdates", s.statisticsUpdates())
                            .putStrings(at + "lastRootProblem", List.of(s.health().lastProblem()));
                    long[] counters = s.health().counters();
                    for (int i = 0; i < counters.length; i++) {
                        state.putLong(at + ROOT_COUNTERS[i], counters[i]);
                    }
                });
        state.putStrings(BLOCKS + "/parameters", names.stream().sorted().toList());
    }

    /**
     * {@inheritDoc}
     *
     * <p>The checkpoint must keep the same state per parameter as these settings (the same stages
     * with the same state names), and each block must have the layout these settings give it.
     */
    @Override
    protected void readState(OptimizerState state) {
        for (String stage : List.of(FILTER, GRAFTING, UPDATE)) {
            String entry = PREFIX + stage + "/state";
            List<String> saved = state.contains(entry) ? state.getStrings(entry) : List.of();
            TransformState mine = stages.get(stage);
            List<String> used = mine == null ? List.of() : mine.transform().stateNames();
            if (!saved.equals(used)) {
                throw new IllegalArgumentException(
                        "the checkpoint keeps "
                                + saved
                                + " for the "
                                + stage
                                + " of each parameter, but this optimizer's settings keep "
                                + used);
            }
        }
        boolean savedPreconditioning = state.getLong(PRECONDITIONING) != 0;
        Map<String, TransformState> restoredStages = new LinkedHashMap<>();
        Map<String, ShampooPreconditioner> restoredPreconditioners = new HashMap<>();
        NDManager manager =
                blockManager != null ? blockManager : state.parameterManager().newSubManager();
        boolean done = false;
        try (NDManager scratch = manager.newSubManager()) {
            for (Map.Entry<String, TransformState> e : stages.entrySet()) {
                TransformState fresh = new TransformState(e.getValue().transform());
                restoredStages.put(e.getKey(), fresh);
                if (!fresh.transform().stateNames().isEmpty()) {
                    fresh.read(state, PREFIX + e.getKey());
                }
            }
            for (String name : state.getStrings(BLOCKS + "/parameters")) {
                String key = state.keyOf(name);
                String at = BLOCKS + "/" + name + "/";
                NDArray left = state.array(at + "left", scratch);
                ShampooPreconditioner pre =
                        new ShampooPreconditioner(
                                manager, name, state.shapeOf(key), left.getDataType(), config);
                restoredPreconditioners.put(key, pre);
                long[] c = new long[ROOT_COUNTERS.length];
                for (int i = 0; i < c.length; i++) {
                    c[i] = state.getLong(at + ROOT_COUNTERS[i]);
                }
                RootHealth health =
                        RootHealth.of(c, state.getStrings(at + "lastRootProblem").get(0));
                pre.restore(
                        new ShampooPreconditioner.State(
                                left,
                                state.array(at + "right", scratch),
                                state.array(at + "leftRoots", scratch),
                                state.array(at + "rightRoots", scratch),
                                state.array(at + "statisticsUpdates", scratch),
                                health));
            }
            done = true;
        } finally {
            if (!done) {
                restoredStages.values().forEach(TransformState::close);
                restoredPreconditioners.values().forEach(ShampooPreconditioner::close);
                if (blockManager == null) {
                    manager.close();
                }
            }
        }
        stages.values().forEach(TransformState::close);
        stages.putAll(restoredStages);
        preconditioners.values().forEach(ShampooPreconditioner::close);
        preconditioners.clear();
        preconditioners.putAll(restoredPreconditioners);
        blockManager = manager;
        preconditioning = savedPreconditioning;
    }

    /**
     * Returns the root computations' counters for {@link #health()}: computations, float64 retries,
     * host fallbacks, failed roots (the previous root kept), the current run of failures and the
     * last problem (with its residual), summed over parameters; then {@code "parameter <name>"},
     * with the model's name for it, and the counters of each parameter whose roots needed a retry
     * or a fallback, or failed.
     *
     * @return the counters by name
     */
    @Override
    protected Map<String, Object> curvatureHealth() {
        RootHealth total = rootHealth();
        Map<String, Object> counters = new LinkedHashMap<>();
        long[] values = total.counters();
        for (int i = 0; i < values.length; i++) {
            counters.put(ROOT_COUNTERS[i], values[i]);
        }
        counters.put("lastRootProblem", total.lastProblem());
        Map<String, Object> troubled = new TreeMap<>();
        preconditioners.forEach(
                (key, pre) -> {
                    RootHealth h = pre.health();
                    if (h.failedRoots() + h.float64Retries() + h.hostFallbacks() > 0) {
                        troubled.put("parameter " + nameOf(key), h.toString());
                    }
                });
        counters.putAll(troubled);
        return counters;
    }

    /**
     * Returns what the amortized root computations of all current parameters have done.
     *
     * @return the summed counters
     */
    public RootHealth rootHealth() {
        RootHealth total = RootHealth.EMPTY;
        for (ShampooPreconditioner pre : preconditioners.values()) {
            total = total.plus(pre.health());
        }
        return total;
    }

    /**
     * Returns the settings of the Kronecker statistics and their roots.
     *
     * @return the settings
     */
    public ShampooConfig getShampooConfig() {
        return config;
    }

    /**
     * Returns \( \beta_1 \).
     *
     * @return the gradient filter's factor
     */
    public float getBeta1() {
        return beta1;
    }

    /**
     * Returns the grafting method.
     *
     * @return the grafting method
     */
    public Grafting getGrafting() {
        return grafting;
    }

    /**
     * Returns the grafted Adam's \( \beta_g \).
     *
     * @return \( \beta_g \)
     */
    public float getGraftingBeta2() {
        return graftingBeta2;
    }

    /**
     * Returns the grafted method's \( \epsilon_g \).
     *
     * @return \( \epsilon_g \)
     */
    public float getGraftingEpsilon() {
        return graftingEpsilon;
    }

    /**
     * Returns how often the roots are recomputed.
     *
     * @return the precondition frequency in steps
     */
    public int getPreconditionFrequency() {
        return preconditionFrequency;
    }

    /**
     * Returns the first step that uses Shampoo's direction.
     *
     * @return the start step (resolved: never -1)
     */
    public int getStartPreconditioningStep() {
        return startPreconditioningStep;
    }

    /**
     * Returns how often the statistics are updated.
     *
     * @return the statistics frequency in steps
     */
    public int getStatisticsFrequency() {
        return statisticsFrequency;
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
     * Returns whether the momentum is Nesterov's.
     *
     * @return whether Nesterov momentum is used
     */
    public boolean isNesterov() {
        return nesterov;
    }

    /**
     * Returns whether the filtered gradient (and exponential statistics) are bias-corrected.
     *
     * @return whether bias correction is on
     */
    public boolean isBiasCorrection() {
        return config.biasCorrection();
    }

    /**
     * Builds {@link Shampoo}; every setting has the default described on {@link Shampoo}. The
     * settings of the statistics and roots become a {@link ShampooConfig} (validated by it, with
     * their names, at {@link #build()}).
     */
    public static final class Builder extends BaseBuilder<Builder> {

        /** The changes to {@link ShampooConfig#DEFAULT}, applied in order at build(). */
        private final List<UnaryOperator<ShampooConfig>> config = new ArrayList<>();

        private float beta1 = 0.9f;
        private Grafting grafting = Grafting.ADAM;
        private float graftingBeta2 = 0.999f;
        private float graftingEpsilon = 1e-8f;
        private int preconditionFrequency = 50;
        private int startPreconditioningStep = -1;
        private int statisticsFrequency = 1;
        private float momentum;
        private boolean nesterov;

        Builder() {
            super(1e-3f);
        }

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        private Builder config(UnaryOperator<ShampooConfig> change) {
            config.add(change);
            return this;
        }

        /**
         * Sets B, the largest Kronecker factor; larger sides are split into blocks.
         *
         * @param maxPreconditionerDim B, at least 1; default 1024
         * @return this {@code Builder}
         */
        public Builder optMaxPreconditionerDim(int maxPreconditionerDim) {
            return config(c -> c.withMaxPreconditionerDim(maxPreconditionerDim));
        }

        /**
         * Sets \( \beta_1 \), the factor of the gradient's exponential average (0 uses the raw
         * gradient).
         *
         * @param beta1 \( \beta_1 \) in [0, 1); default 0.9
         * @return this {@code Builder}
         */
        public Builder optBeta1(float beta1) {
            this.beta1 = beta1;
            return this;
        }

        /**
         * Sets \( \beta_2 \) of the Kronecker statistics: 1 keeps running sums, below 1 exponential
         * averages.
         *
         * @param beta2 \( \beta_2 \) in (0, 1]; default 1
         * @return this {@code Builder}
         */
        public Builder optBeta2(double beta2) {
            return config(c -> c.withBeta2(beta2));
        }

        /**
         * Sets the relative ridge: \( \epsilon \lambda_{\max} \) is added to each factor before its
         * root is taken.
         *
         * @param epsilon \( \epsilon \), positive and finite; default 1e-4
         * @return this {@code Builder}
         */
        public Builder optEpsilon(double epsilon) {
            return config(c -> c.withRelativeEpsilon(epsilon));
        }

        /**
         * Sets the roots of the two factors, \( L^{-1/p_L} G R^{-1/p_R} \): (4, 4) is Shampoo, (2,
         * 2) "Shampoo squared".
         *
         * @param left \( p_L \), at least 1; default 4
         * @param right \( p_R \), at least 1; default 4
         * @return this {@code Builder}
         */
        public Builder optInverseRoots(int left, int right) {
            return config(c -> c.withRoots(left, right));
        }

        /**
         * Sets the size of the largest single factor whose root is computed by a host
         * eigendecomposition rather than the device iteration (a batch of b blocks' factors of size
         * n goes to the host when \( b n^3 \le \) hostRootMaxDim<sup>3</sup>).
         *
         * @param hostRootMaxDim non-negative; default 64
         * @return this {@code Builder}
         */
        public Builder optHostRootMaxDim(int hostRootMaxDim) {
            return config(c -> c.withHostRootMaxDim(hostRootMaxDim));
        }

        /**
         * Sets how many root computations in a row may fail before the optimizer throws.
         *
         * @param maxConsecutiveFailures non-negative; default 3
         * @return this {@code Builder}
         */
        public Builder optMaxConsecutiveFailures(int maxConsecutiveFailures) {
            return config(c -> c.withMaxConsecutiveFailures(maxConsecutiveFailures));
        }

        /**
         * Sets the grafting method.
         *
         * @param grafting ADAM (default), ADAGRAD, SGD or NONE
         * @return this {@code Builder}
         */
        public Builder optGrafting(Grafting grafting) {
            this.grafting = grafting;
            return this;
        }

        /**
         * Sets the grafted Adam's second-moment factor \( \beta_g \) (ADAM grafting only).
         *
         * @param graftingBeta2 \( \beta_g \) in [0, 1); default 0.999
         * @return this {@code Builder}
         */
        public Builder optGraftingBeta2(float graftingBeta2) {
            this.graftingBeta2 = graftingBeta2;
            return this;
        }

        /**
         * Sets the grafted method's \( \epsilon_g \) (ADAM and ADAGRAD grafting).
         *
         * @param graftingEpsilon \( \epsilon_g \), positive and finite; default 1e-8
         * @return this {@code Builder}
         */
        public Builder optGraftingEpsilon(float graftingEpsilon) {
            this.graftingEpsilon = graftingEpsilon;
            return this;
        }

        /**
         * Sets how often the inverse roots are recomputed.
         *
         * @param preconditionFrequency in steps, at least 1; default 50
         * @return this {@code Builder}
         */
        public Builder optPreconditionFrequency(int preconditionFrequency) {
            this.preconditionFrequency = preconditionFrequency;
            return this;
        }

        /**
         * Sets the first step that uses Shampoo's direction; earlier steps use the grafting method
         * alone (with the statistics still accumulating).
         *
         * @param startPreconditioningStep at least preconditionFrequency, or -1 for
         *     preconditionFrequency (the default)
         * @return this {@code Builder}
         */
        public Builder optStartPreconditioningStep(int startPreconditioningStep) {
            this.startPreconditioningStep = startPreconditioningStep;
            return this;
        }

        /**
         * Sets how often the Kronecker statistics are updated (1: every step). The schedule counts
         * taken steps and is decided on the device, so the statistics' products are computed every
         * step and kept on the scheduled ones.
         *
         * @param statisticsFrequency in steps, at least 1; default 1
         * @return this {@code Builder}
         */
        public Builder optStatisticsFrequency(int statisticsFrequency) {
            this.statisticsFrequency = statisticsFrequency;
            return this;
        }

        /**
         * Sets the momentum \( \mu \) applied to the grafted direction (0: none).
         *
         * @param momentum \( \mu \) in [0, 1); default 0
         * @return this {@code Builder}
         */
        public Builder optMomentum(float momentum) {
            this.momentum = momentum;
            return this;
        }

        /**
         * Sets whether the momentum is Nesterov's.
         *
         * @param nesterov whether to use Nesterov momentum; default false
         * @return this {@code Builder}
         */
        public Builder optNesterov(boolean nesterov) {
            this.nesterov = nesterov;
            return this;
        }

        /**
         * Sets whether \( \hat m \) and exponential statistics are bias-corrected.
         *
         * @param biasCorrection whether to bias-correct; default true
         * @return this {@code Builder}
         */
        public Builder optBiasCorrection(boolean biasCorrection) {
            return config(c -> c.withBiasCorrection(biasCorrection));
        }

        /**
         * Builds the optimizer.
         *
         * @return the optimizer
         * @throws IllegalArgumentException naming the setting and its value if one is invalid (the
         *     learning-rate tracker included)
         */
        public Shampoo build() {
            ShampooConfig shampoo = ShampooConfig.DEFAULT;
            for (UnaryOperator<ShampooConfig> change : config) {
                shampoo = change.apply(shampoo);
            }
            if (!(beta1 >= 0 && beta1 < 1)) {
                throw new IllegalArgumentException("beta1 must be in [0, 1), but was " + beta1);
            }
            if (grafting == null) {
                throw new IllegalArgumentException("grafting must not be null");
            }
            if (!(graftingBeta2 >= 0 && graftingBeta2 < 1)) {
                throw new IllegalArgumentException(
                        "graftingBeta2 must be in [0, 1), but was " + graftingBeta2);
            }
            if (!(graftingEpsilon > 0) || Float.isInfinite(graftingEpsilon)) {
                throw new IllegalArgumentException(
                        "graftingEpsilon must be positive and finite, but was " + graftingEpsilon);
            }
            if (preconditionFrequency < 1) {
                throw new IllegalArgumentException(
                        "preconditionFrequency must be at least 1, but was "
                                + preconditionFrequency);
            }
            if (startPreconditioningStep != -1
                    && startPreconditioningStep < preconditionFrequency) {
                throw new IllegalArgumentException(
                        "startPreconditioningStep must be -1 or at least preconditionFrequency ("
                                + preconditionFrequency
                                + "), but was "
                                + startPreconditioningStep);
            }
            if (statisticsFrequency < 1) {
                throw new IllegalArgumentException(
                        "statisticsFrequency must be at least 1, but was " + statisticsFrequency);
            }
            if (!(momentum >= 0 && momentum < 1)) {
                throw new IllegalArgumentException(
                        "momentum must be in [0, 1), but was " + momentum);
            }
            return new Shampoo(this, shampoo);
        }
    }
}
