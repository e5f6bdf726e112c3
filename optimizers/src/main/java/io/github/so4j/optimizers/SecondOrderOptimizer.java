package io.github.so4j.optimizers;

import ai.djl.Device;
import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.ParameterTracker;
import ai.djl.training.tracker.Tracker;
import ai.djl.util.Pair;
import io.github.so4j.curvature.DeviceCounters;
import io.github.so4j.curvature.Finite;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The base of so4j's optimizers: DJL's per-parameter {@code update} protocol turned into whole
 * steps, with one step guard for every subclass.
 *
 * <p>DJL calls {@link #update(String, NDArray, NDArray)} once per parameter and step, in an order
 * of its choosing. Second-order methods need more: M-FAC's global window needs every gradient at
 * once, K-FAC's trust region sums over all layers. So at the first update of a step, this class
 * gathers the gradient of every trainable parameter and hands them to {@link #computeStep}
 * together. Each parameter then moves by its own direction when DJL calls {@code update} for it:
 *
 * <p>\( w \leftarrow w - \eta_t \, u \), with \( \eta_t \) from the learning-rate tracker at the
 * step's index among taken steps, and \( u \) the direction computed for \( w \).
 *
 * <p><b>Finding the parameters.</b> DJL's {@code Optimizer} protocol hands an optimizer one
 * parameter at a time and no list of them, and has no public API that lists a trainer's parameters
 * to it. This class relies on three behaviours of DJL 0.36, each pinned by {@code
 * DjlBehaviourTest}, which fails on an upgrade that changes them: (1) a block's parameters are
 * created in the manager given to {@code Block.initialize} (the model's manager), so the arrays of
 * that manager that carry a gradient ({@code BaseNDManager.getManagedArrays()}) are the trainable
 * parameters; (2) {@code ParameterStore.updateAllParameters} passes those same arrays, not copies,
 * when training on one device; (3) parameter ids are {@code uid-<time>-<counter>} with a
 * process-wide counter, which orders parameters by creation, the same on every run of the same
 * model code.
 *
 * <p><b>The step guard</b>, for every subclass alike ({@link Step}):
 *
 * <ul>
 *   <li>The decision to take a step is made on the device: every gradient must be finite, and every
 *       condition the subclass {@link Step#require requires} must hold. Every change of state (the
 *       weights, the subclass's statistics, windows, factors, inverses, moments, and the count of
 *       taken steps that drives schedules) is masked by it, so a rejected step leaves no trace, and
 *       an ordinary step makes no device-to-host read.
 *   <li>The counters (taken, skipped and why, the current streak of skips) live on the device and
 *       are read lazily: by {@link #health()}, by checkpoints, on amortized steps that read anyway,
 *       every step when the learning rate follows a schedule (DJL's trackers take the step count on
 *       the host), and once every {@code maxConsecutiveSkips} steps otherwise, so that the last
 *       rung of the failure ladder still holds: after {@code maxConsecutiveSkips} skipped steps in
 *       a row the optimizer throws an {@link IllegalStateException} that says why.
 *   <li>Every read goes through {@link HostReads}; {@link #health()} reports how many reads were
 *       made and on how many steps.
 *   <li>Problems are counted in {@link #health()} and logged at WARN when they are first seen.
 *   <li>DJL's {@code rescaleGrad} and {@code clipGrad} apply to the gradients every subclass sees.
 *       Gradients are cleared after use, as DJL's own PyTorch optimizers do.
 *   <li>An exception inside a step leaves the optimizer ready for the next one: the failed step is
 *       not counted and changes nothing.
 * </ul>
 *
 * <p><b>One optimizer, one model, one device.</b> An instance keeps the state of one model: a
 * second model's parameters, or DJL's multi-device training (which calls {@code update} once per
 * device copy of a parameter), make the first step throw with a message naming the fix. Parameters
 * that appear later (unfrozen) start moving at the step after they appear; the subclass hears of
 * every change of the parameter set through {@link #parametersChanged}.
 *
 * <p>Checkpoints: {@link #saveState} writes the optimizer's complete state, {@link #loadState}
 * restores it into a fresh optimizer built with the same settings, for the same model (see {@link
 * #saveState} for how it sits beside DJL's {@code Model.save}). Subclasses provide {@link
 * #writeState} and {@link #readState}.
 */
public abstract class SecondOrderOptimizer extends Optimizer {

    private static final Logger logger = LoggerFactory.getLogger(SecondOrderOptimizer.class);
    private static final NDIndex ALL = new NDIndex("...");
    private static final Pattern DJL_UID = Pattern.compile("uid-\\d+-(\\d+)");

    /** DJL's class for {@code Tracker.fixed}, which is not public: its values ignore the count. */
    private static final String DJL_FIXED_TRACKER = "ai.djl.training.tracker.FixedTracker";

    private static final String STEPS = "so4j/steps";
    private static final String TAKEN = "so4j/takenSteps";
    private static final String SKIPPED = "so4j/skippedSteps";
    private static final String NON_FINITE = "so4j/nonFiniteGradientSteps";
    private static final String REJECTED = "so4j/rejectedStatisticsSteps";
    private static final String STREAK = "so4j/consecutiveSkips";
    private static final String CAUSE = "so4j/lastSkipCause";
    private static final String RESTARTS = "so4j/restarts";
    private static final String HOST_READS = "so4j/hostReads";
    private static final String STEPS_WITH_READS = "so4j/stepsWithReads";
    private static final String NON_FINITE_PROBLEM =
            "a gradient has NaN or infinite entries; step skipped";
    private static final String REJECTED_PROBLEM =
            "curvature statistics were not finite; step skipped";

    /** Indices into the device counters. */
    private static final int C_TAKEN = 0;

    private static final int C_SKIPPED = 1;
    private static final int C_NON_FINITE = 2;
    private static final int C_REJECTED = 3;
    private static final int C_STREAK = 4;
    private static final int C_CAUSE = 5;
    private static final int COUNTERS = 6;

    private final ParameterTracker learningRateTracker;
    private final boolean fixedLearningRate;
    private final Map<String, String> idByUid = new HashMap<>();
    private final Map<String, String> uidByIdThisStep = new HashMap<>();
    private final Map<String, String> modelNames = new HashMap<>();
    private final Set<String> updatedThisStep = new HashSet<>();
    private final Map<String, NDArray> pending = new HashMap<>();
    private final Map<Float, NDArray> stepScalars = new HashMap<>();
    private final Map<Float, NDArray> decidedRates = new HashMap<>();
    // the parameters whose direction a rejected step scales by a zero rate
    // (Step#finiteWhenRejected)
    private final Set<String> decidedByRate = new HashSet<>();
    private NDArray decision;
    private final Map<DataType, NDArray> stepZeros = new EnumMap<>(DataType.class);
    private List<NDArray> parameters = List.of();
    private NDManager model;
    private NDManager stepManager;
    private DeviceCounters counters;

    /** The constants of {@link #count}, and the manager they were made for. */
    private NDList outcome;

    private NDManager outcomeOwner;
    private boolean rediscover = true;

    /** Host-side counts: steps begun, and what the device counters said at the last read. */
    private long steps;

    private long restarts;
    private final long[] known = new long[COUNTERS];
    private long stepsAtRead;
    private long learningRateIndex;

    private long hostReads;
    private long stepsWithReads;
    private final long maxConsecutiveSkips;
    private String lastProblem = "";

    /**
     * Initializes the shared settings.
     *
     * @param builder the builder
     * @throws IllegalArgumentException if the learning-rate tracker's first value is negative or
     *     not finite
     */
    protected SecondOrderOptimizer(BaseBuilder<?> builder) {
        super(builder);
        this.learningRateTracker = builder.learningRateTracker;
        this.fixedLearningRate =
                builder.fixedLearningRate
                        || learningRateTracker.getClass().getName().equals(DJL_FIXED_TRACKER);
        this.maxConsecutiveSkips = builder.maxConsecutiveSkips;
        checkTracker("learningRateTracker", learningRateTracker);
    }

    /**
     * Checks a tracker's first value, for builders: trackers fail at {@code build()}, not at the
     * first step.
     *
     * @param name the setting's name, for the message
     * @param tracker the tracker
     * @throws IllegalArgumentException if its value at update 0 is negative or not finite
     */
    protected static void checkTracker(String name, ParameterTracker tracker) {
        float first = tracker.getNewValue("", 0);
        if (!(first >= 0) || Float.isInfinite(first)) {
            throw new IllegalArgumentException(
                    name + " must give finite, non-negative values, but its first is " + first);
        }
    }

    /**
     * One parameter of a step, as handed to {@link #computeStep}.
     *
     * @param key a key for this parameter that is stable for the life of the weight array
     * @param id DJL's parameter id, or {@code null} while DJL has not yet updated it
     * @param weight the parameter's value. Not modified.
     * @param gradient its gradient, after DJL's {@code rescaleGrad} and {@code clipGrad}. Not
     *     modified.
     */
    protected record ParameterGradient(String key, String id, NDArray weight, NDArray gradient) {}

    /**
     * Computes the step's direction for every parameter.
     *
     * <p>Called once per step. State changes only through {@code step}: conditions for taking the
     * step with {@link Step#require}, candidate state with {@link Step#onCommit} (or a {@link
     * TransformState}); amortized host work only after {@link Step#accepted()}. Implementations
     * must combine quantities across parameters in a way that does not depend on their order in the
     * list (the order is not stable across runs before DJL has updated every parameter once), e.g.
     * with sorted sums.
     *
     * @param parameters every trainable parameter with its gradient
     * @param owner the manager that must own the returned directions
     * @param step the step's guard, index and pending state changes
     * @return the direction \( u \) of each parameter by {@link ParameterGradient#key()} (the
     *     weight moves by \( -\eta u \)), or {@code null} when the step was rejected on the host
     *     ({@link Step#accepted()} returned {@code false}); no state may then have changed
     */
    protected abstract Map<String, NDArray> computeStep(
            List<ParameterGradient> parameters, NDManager owner, Step step);

    /**
     * Hears that the set of parameters, or one of their shapes, changed; the next {@link
     * #computeStep} sees the new set.
     *
     * @param keys the keys of the new set
     * @return whether the subclass restarted its curvature state (counted in {@link #health()})
     */
    protected abstract boolean parametersChanged(List<String> keys);

    /** {@inheritDoc} */
    @Override
    public final void update(String parameterId, NDArray weight, NDArray grad) {
        String uid = weight.getUid();
        checkOneModel(parameterId, weight);
        idByUid.put(uid, parameterId);
        if (stepManager == null
                || updatedThisStep.contains(uid)
                || (pending.isEmpty() && !contains(parameters, weight) && newBackward())) {
            beginStep(weight);
        }
        updatedThisStep.add(uid);
        uidByIdThisStep.put(parameterId, uid);
        try (NDArray direction = pending.remove(uid)) {
            if (direction != null) {
                float learningRate =
                        learningRateTracker.getNewValue(
                                parameterId, (int) Math.min(learningRateIndex, Integer.MAX_VALUE));
                if (decidedByRate.contains(uid)) {
                    // finite on a rejected step, where the rate is zero; possibly state's memory
                    weight.subi(direction.mul(decidedRate(learningRate)));
                } else {
                    weight.subi(direction.muli(stepScalar(learningRate)));
                }
            } else if (!contains(parameters, weight)) {
                rediscover = true;
                logger.warn(
                        "{} (step {}): parameter {} was not trainable when the step began; it moves"
                                + " from the next step on",
                        getClass().getSimpleName(),
                        steps,
                        nameOf(uid));
            }
        } finally {
            clearGradient(
                    weight,
                    stepManager == null
                            ? null
                            : stepZeros.computeIfAbsent(
                                    weight.getDataType(), t -> stepManager.zeros(new Shape(), t)));
        }
    }

    /**
     * The learning rate as a float32 scalar on the device, made once per step and value: {@code
     * muli(float)} makes and frees the same scalar for every parameter.
     */
    private NDArray stepScalar(float value) {
        return stepScalars.computeIfAbsent(value, v -> stepManager.create(v));
    }

    /**
     * The learning rate where the step is taken and zero where not, made once per step and value.
     */
    private NDArray decidedRate(float value) {
        return decidedRates.computeIfAbsent(
                value,
                v -> {
                    NDArray rate = stepScalar(v);
                    return Step.select(decision, rate, rate.zerosLike());
                });
    }

    /**
     * Fails at once when DJL hands this optimizer the parameters of a second model, or a second
     * device's copy of a parameter in the same step.
     */
    private void checkOneModel(String parameterId, NDArray weight) {
        if (model != null && weight.getManager() != model && !contains(parameters, weight)) {
            throw new IllegalStateException(
                    getClass().getSimpleName()
                            + " already trains another model's parameters, and parameter "
                            + parameterId
                            + " "
                            + weight.getShape()
                            + " belongs to a different model: an so4j optimizer keeps the state"
                            + " of one model, so build one optimizer per trainer");
        }
        String uid = uidByIdThisStep.get(parameterId);
        if (uid != null
                && !uid.equals(weight.getUid())
                && !updatedThisStep.contains(weight.getUid())) {
            throw new IllegalStateException(
                    getClass().getSimpleName()
                            + " trains on one device, but DJL updated parameter "
                            + nameOf(uid)
                            + " twice in one step, once per device copy (optDevices with more than"
                            + " one device): train on one device, or use one of DJL's own"
                            + " optimizers for multi-device training");
        }
    }

    /**
     * Whether a backward pass has run since the parameters of the current step were updated (their
     * gradients, cleared after the update, are not all zero again). It tells a parameter that just
     * became trainable and comes first in DJL's next pass from one that comes last in this pass;
     * checked only in that rare case, with one counted host read.
     */
    private boolean newBackward() {
        NDList norms = new NDList();
        try (NDManager scope = stepManager.newSubManager()) {
            for (NDArray weight : parameters) {
                if (updatedThisStep.contains(weight.getUid()) && trainable(weight)) {
                    NDArray gradient = weight.getGradient();
                    gradient.attach(scope);
                    norms.add(gradient.abs().sum().toType(DataType.FLOAT64, false));
                }
            }
            if (norms.isEmpty()) {
                return false;
            }
            NDArray total = norms.size() == 1 ? norms.head() : NDArrays.stack(norms).sum();
            long before = HostReads.count();
            boolean fresh = HostReads.toDouble(total) != 0;
            hostReads += HostReads.count() - before;
            return fresh;
        }
    }

    private void beginStep(NDArray first) {
        closeStep();
        long readsBefore = HostReads.count();
        boolean done = false;
        steps++;
        try {
            discoverIfChanged(first);
            stepManager = first.getManager().newSubManager(first.getDevice());
            if (counters == null || !counters.isOpen()) {
                counters = new DeviceCounters(model, known);
            }
            Map<String, NDArray> directions;
            try (NDManager scope = stepManager.newSubManager()) {
                if (!fixedLearningRate) {
                    resolve(steps - 1);
                }
                learningRateIndex = known[C_TAKEN] + 1 + (steps - 1 - stepsAtRead);
                List<ParameterGradient> gradients = new ArrayList<>(parameters.size());
                List<NDArray> prepared = new ArrayList<>(parameters.size());
                for (NDArray weight : parameters) {
                    NDArray gradient = weight.getGradient();
                    gradient.attach(scope);
                    NDArray g = prepare(gradient);
                    prepared.add(g);
                    gradients.add(
                            new ParameterGradient(
                                    weight.getUid(), idByUid.get(weight.getUid()), weight, g));
                }
                NDArray gradientsFinite = Finite.ofSums(prepared);
                NDArray takenBefore = counters.array().get(C_TAKEN);
                takenBefore.attach(scope);
                Step step =
                        new Step(
                                scope,
                                gradientsFinite,
                                takenBefore,
                                known[C_TAKEN] + 1,
                                learningRateIndex,
                                new Resolver(scope, gradientsFinite));
                directions = computeStep(gradients, stepManager, step);
                NDArray accepted;
                if (directions == null) {
                    if (!Boolean.FALSE.equals(step.hostDecision())) {
                        throw new IllegalStateException(
                                getClass().getSimpleName()
                                        + ".computeStep returned null for a step that was not"
                                        + " rejected on the host");
                    }
                    accepted = scope.create(false);
                    directions = Map.of();
                } else {
                    accepted =
                            step.hostDecision() != null
                                    ? scope.create(step.hostDecision().booleanValue())
                                    : step.acceptance();
                }
                for (Step.Commit commit : step.commits()) {
                    commit.commit(accepted);
                }
                count(accepted, gradientsFinite);
                boolean surelyTaken = Boolean.TRUE.equals(step.hostDecision());
                Map<DataType, NDArray> zeros = new HashMap<>();
                // the unmasked directions are freed now, not with the step's manager at the next
                // step, so that the same arrays live after every step, refresh steps included
                Set<NDArray> replaced = Collections.newSetFromMap(new IdentityHashMap<>());
                Set<NDArray> kept = Collections.newSetFromMap(new IdentityHashMap<>());
                for (Map.Entry<String, NDArray> entry : directions.entrySet()) {
                    NDArray u = entry.getValue();
                    NDArray masked;
                    if (step.isFiniteWhenRejected(u)) {
                        // moved by a learning rate that is zero on a rejected step, unselected
                        masked = u;
                        kept.add(u);
                        decidedByRate.add(entry.getKey());
                        if (decision == null) {
                            decision = accepted.duplicate();
                            decision.attach(stepManager);
                        }
                    } else if (surelyTaken || step.isZeroWhenRejected(u)) {
                        masked = u;
                        kept.add(u);
                    } else {
                        NDArray zero =
                                zeros.computeIfAbsent(
                                        u.getDataType(), t -> scope.zeros(new Shape(), t));
                        masked = Step.select(accepted, u, zero.broadcast(u.getShape()));
                        replaced.add(u);
                    }
                    masked.attach(stepManager);
                    pending.put(entry.getKey(), masked);
                }
                replaced.removeAll(kept);
                replaced.forEach(NDArray::close);
            }
            if (known[C_STREAK] + (steps - stepsAtRead) >= maxConsecutiveSkips) {
                resolve(steps);
                if (known[C_STREAK] >= maxConsecutiveSkips) {
                    done = true;
                    closeStep();
                    throw new IllegalStateException(
                            getClass().getSimpleName()
                                    + " skipped "
                                    + known[C_STREAK]
                                    + " consecutive steps (maxConsecutiveSkips), the last because "
                                    + lastProblem
                                    + "; training has diverged or its input is broken");
                }
            }
            done = true;
        } finally {
            long reads = HostReads.count() - readsBefore;
            hostReads += reads;
            if (reads > 0) {
                stepsWithReads++;
            }
            if (!done) {
                // a failed step changes nothing and is not counted, and its gradients are
                // dropped (the engine would add the next batch's to them); the next update begins
                // afresh
                closeStep();
                for (NDArray weight : parameters) {
                    clearGradient(weight, null);
                }
                steps--;
                stepsAtRead = Math.min(stepsAtRead, steps);
            }
        }
    }

    /**
     * Adds the step's outcome to the device counters, as {@code next = old * K + C} with K and C
     * linear in a (taken) and f (gradients finite), from constants kept on the device: 10
     * operations on scalars and 6-vectors instead of one per counter.
     *
     * <p>Taken: K = (1, 1, 1, 1, 0, 1), C = (1, 0, 0, 0, 0, 0). Rejected: K = (1, 1, 1, 1, 1, 0), C
     * = (0, 1, 1 - f, f, 1, 1 + f). So K = K0 + a (K1 - K0) and C = C0 + f F + a (C1 - C0 - F),
     * with a = 1 implying f = 1.
     */
    private void count(NDArray accepted, NDArray gradientsFinite) {
        NDArray old = counters.array();
        NDArray next;
        try (Workspace ws = new Workspace(stepManager, old, outcomeConstants())) {
            NDArray a = accepted.toType(DataType.INT64, true);
            NDArray f = gradientsFinite.toType(DataType.INT64, true);
            NDList c = outcome;
            NDArray k = a.mul(c.get(1)).addi(c.get(0));
            NDArray add = f.mul(c.get(3)).addi(c.get(2)).addi(a.mul(c.get(4)));
            next = old.mul(k).addi(add);
            ws.keep(next, stepManager);
        }
        counters.replace(next);
    }

    /**
     * The constants of {@link #count}: K0, K1 - K0, C0, F, C1 - C0 - F, made once per model in its
     * manager.
     */
    private NDList outcomeConstants() {
        if (outcome == null || outcome.get(0).isReleased() || outcomeOwner != model) {
            outcomeOwner = model;
            NDManager owner = model.newSubManager();
            outcome =
                    new NDList(
                            owner.create(new long[] {1, 1, 1, 1, 1, 0}),
                            owner.create(new long[] {0, 0, 0, 0, -1, 1}),
                            owner.create(new long[] {0, 1, 1, 0, 1, 1}),
                            owner.create(new long[] {0, 0, -1, 1, 0, 1}),
                            owner.create(new long[] {1, -1, 0, -1, -1, -2}));
        }
        return outcome;
    }

    /**
     * Reads the device counters (one counted read) and reports new problems.
     *
     * @param at the number of steps begun whose outcome the counters hold
     */
    private void resolve(long at) {
        if (counters != null) {
            learn(counters.read(), counters.isOpen() ? at : steps);
        }
    }

    private void learn(long[] values, long at) {
        long newSkips = values[C_SKIPPED] - known[C_SKIPPED];
        System.arraycopy(values, 0, known, 0, COUNTERS);
        stepsAtRead = at;
        if (newSkips > 0) {
            lastProblem = values[C_CAUSE] == 1 ? NON_FINITE_PROBLEM : REJECTED_PROBLEM;
            logger.warn(
                    "{} (by step {}): {} more step(s) skipped, {} so far; the last because {}",
                    getClass().getSimpleName(),
                    at,
                    newSkips,
                    values[C_SKIPPED],
                    lastProblem);
        }
    }

    /** The base class's side of {@link Step}: reads on demand. */
    private final class Resolver implements Step.Resolver {

        private final NDManager scope;
        private final NDArray gradientsFinite;

        /** The steps taken before this one, once {@link #decide} has read them; else -1. */
        private long decidedTakenBefore = -1;

        Resolver(NDManager scope, NDArray gradientsFinite) {
            this.scope = scope;
            this.gradientsFinite = gradientsFinite;
        }

        @Override
        public long takenBefore() {
            if (decidedTakenBefore >= 0) {
                return decidedTakenBefore;
            }
            learn(counters.read(), steps - 1);
            return known[C_TAKEN];
        }

        @Override
        public boolean decide(NDArray accepted) {
            NDArray copy = counters.array().duplicate();
            copy.attach(scope);
            NDArray all =
                    copy.concat(
                            NDArrays.stack(
                                    new NDList(
                                            accepted.toType(DataType.INT64, false),
                                            gradientsFinite.toType(DataType.INT64, false))));
            long[] values = HostReads.toLongs(all);
            // the counters before this step, then this step's outcome, which count() adds on the
            // device too: the host now knows every step up to this one
            long a = values[COUNTERS];
            long f = values[COUNTERS + 1];
            long r = 1 - a;
            decidedTakenBefore = values[C_TAKEN];
            long[] after = Arrays.copyOf(values, COUNTERS);
            after[C_TAKEN] += a;
            after[C_SKIPPED] += r;
            after[C_NON_FINITE] += r * (1 - f);
            after[C_REJECTED] += r * f;
            after[C_STREAK] = r * (after[C_STREAK] + 1);
            after[C_CAUSE] = a == 1 ? after[C_CAUSE] : 1 + f;
            learn(after, steps);
            return values[COUNTERS] == 1;
        }
    }

    private void discoverIfChanged(NDArray first) {
        List<NDArray> current = parameters;
        if (rediscover
                || !contains(current, first)
                || current.stream().anyMatch(w -> !trainable(w))) {
            List<NDArray> found = discover(first);
            List<String> keys = found.stream().map(NDArray::getUid).toList();
            if (!Set.copyOf(keys).equals(uids(current))) {
                if (parametersChanged(keys) && !current.isEmpty()) {
                    restarts++;
                    lastProblem = "the trainable parameters changed; curvature state restarted";
                    logger.warn("{} (step {}): {}", getClass().getSimpleName(), steps, lastProblem);
                }
            }
            parameters = found;
            model = first.getManager();
            rediscover = false;
        }
    }

    private NDArray prepare(NDArray gradient) {
        NDArray g = gradient;
        if (rescaleGrad != 1f) {
            g = g.mul(rescaleGrad);
        }
        if (clipGrad > 0) {
            g = g.clip(-clipGrad, clipGrad);
        }
        return g;
    }

    private List<NDArray> discover(NDArray first) {
        NDManager owner = first.getManager();
        List<NDArray> found = new ArrayList<>();
        if (owner instanceof BaseNDManager) {
            for (NDArray array : ((BaseNDManager) owner).getManagedArrays()) {
                if (array.getManager() == owner && trainable(array)) {
                    found.add(array);
                }
            }
        }
        if (!contains(found, first)) {
            found.add(first);
        }
        Device device = first.getDevice();
        for (NDArray array : found) {
            if (!array.getDevice().equals(device)) {
                throw new IllegalStateException(
                        getClass().getSimpleName()
                                + " trains on one device, but found parameters on "
                                + device
                                + " and "
                                + array.getDevice());
            }
        }
        found.sort(
                Comparator.comparing((NDArray a) -> creationOrder(idByUid.get(a.getUid())))
                        .thenComparing(NDArray::getUid));
        return List.copyOf(found);
    }

    private static boolean contains(List<NDArray> arrays, NDArray array) {
        String uid = array.getUid();
        return arrays.stream().anyMatch(a -> a.getUid().equals(uid));
    }

    private static Set<String> uids(List<NDArray> arrays) {
        Set<String> uids = new HashSet<>();
        for (NDArray a : arrays) {
            uids.add(a.getUid());
        }
        return uids;
    }

    private static boolean trainable(NDArray array) {
        return !array.isReleased() && array.hasGradient();
    }

    /**
     * DJL's parameter ids are {@code uid-<nanoTime>-<counter>} with a process-wide counter, so the
     * counter orders parameters by creation, the same on every run of the same model code.
     */
    private static long creationOrder(String id) {
        if (id == null) {
            return Long.MAX_VALUE;
        }
        Matcher matcher = DJL_UID.matcher(id);
        return matcher.matches() ? Long.parseLong(matcher.group(1)) : Long.MAX_VALUE - 1;
    }

    /**
     * Zeros the gradient in place, NaN included (a rejected step may have seen NaN, and the host
     * does not know which steps were rejected): with the step's zero of the gradient's dtype when
     * there is one (no allocation), else in a scope (DJL's fill with a number allocates).
     */
    private static void clearGradient(NDArray weight, NDArray zero) {
        if (!weight.hasGradient()) {
            return;
        }
        if (zero != null) {
            try (NDArray gradient = weight.getGradient()) {
                gradient.set(ALL, zero);
            }
            return;
        }
        try (NDArray gradient = weight.getGradient();
                NDManager scope = weight.getManager().newSubManager()) {
            scope.tempAttachAll(gradient);
            gradient.set(ALL, 0);
        }
    }

    private void closeStep() {
        pending.clear();
        decidedByRate.clear();
        decision = null;
        stepScalars.clear();
        decidedRates.clear();
        stepZeros.clear();
        updatedThisStep.clear();
        uidByIdThisStep.clear();
        if (stepManager != null) {
            stepManager.close();
            stepManager = null;
        }
    }

    /**
     * Names the parameters in warnings and {@link #health()} as {@code model.getParameters()} names
     * them (such as {@code 01Conv2d_weight}). Without it, a parameter is named by DJL's name for
     * it, its shape and its id.
     *
     * @param block the block being trained
     * @return this optimizer
     */
    public SecondOrderOptimizer nameParameters(Block block) {
        for (Pair<String, Parameter> p : block.getParameters()) {
            if (p.getValue().isInitialized()) {
                modelNames.put(p.getValue().getArray().getUid(), p.getKey());
            }
        }
        return this;
    }

    /**
     * Returns the name of a parameter for messages: the model's name for it if known (see {@link
     * #nameParameters}), else DJL's name, shape and id.
     *
     * @param key the parameter's key
     * @return a name
     */
    protected String nameOf(String key) {
        String name = modelNames.get(key);
        if (name != null) {
            return name;
        }
        for (NDArray weight : parameters) {
            if (weight.getUid().equals(key)) {
                String id = idByUid.get(key);
                return (weight.getName() == null ? "parameter" : weight.getName())
                        + " "
                        + weight.getShape()
                        + (id == null ? "" : " (" + id + ")");
            }
        }
        String id = idByUid.get(key);
        return id != null ? id : key;
    }

    /**
     * Writes the optimizer's complete state, in a versioned, checksummed format: every statistic,
     * window, factor, inverse or root, momentum, counter and random state, so that training resumed
     * from it continues bit for bit as if it had not stopped (on the same machine and device).
     *
     * <p>Parameters are saved by DJL ({@code Model.save}, or {@code Block.saveParameters}); this is
     * the other half of a checkpoint. Parameters are named as {@code model.getParameters()} names
     * them, so the state can be restored into a new process's model of the same architecture. Call
     * it between steps (after {@code Trainer.step()}).
     *
     * @param out the stream to write to; not closed
     * @param model the block being trained (for the names of its parameters)
     * @throws IOException if writing fails
     * @throws IllegalStateException if called while DJL is in the middle of a step
     * @throws IllegalArgumentException if the optimizer trains an array that is not a parameter of
     *     {@code model}
     */
    public final void saveState(OutputStream out, Block model) throws IOException {
        if (!pending.isEmpty()) {
            throw new IllegalStateException(
                    "saveState must be called between steps, but DJL has not yet updated "
                            + pending.size()
                            + " parameters of step "
                            + steps);
        }
        Map<String, Parameter> trained = ModelParameters.trained(model);
        nameParameters(model);
        Map<String, String> nameByKey = new HashMap<>();
        Map<String, String> keyByName = new HashMap<>();
        Map<String, Shape> shapeByKey = new HashMap<>();
        List<CheckpointFormat.ParameterEntry> table = new ArrayList<>();
        for (Map.Entry<String, Parameter> entry : trained.entrySet()) {
            NDArray array = entry.getValue().getArray();
            nameByKey.put(array.getUid(), entry.getKey());
            keyByName.put(entry.getKey(), array.getUid());
            shapeByKey.put(array.getUid(), array.getShape());
            table.add(
                    new CheckpointFormat.ParameterEntry(
                            entry.getKey(), array.getDataType(), array.getShape()));
        }
        for (NDArray weight : parameters) {
            if (!nameByKey.containsKey(weight.getUid())) {
                throw new IllegalArgumentException(
                        getClass().getSimpleName()
                                + " trains an array of shape "
                                + weight.getShape()
                                + " that is not a trained parameter of the given model");
            }
        }
        OptimizerState state =
                new OptimizerState(
                        nameByKey,
                        keyByName,
                        shapeByKey,
                        ModelParameters.managerOf(trained, "saveState"));
        resolve(steps);
        state.putLong(STEPS, steps)
                .putLong(TAKEN, known[C_TAKEN])
                .putLong(SKIPPED, known[C_SKIPPED])
                .putLong(NON_FINITE, known[C_NON_FINITE])
                .putLong(REJECTED, known[C_REJECTED])
                .putLong(STREAK, known[C_STREAK])
                .putLong(CAUSE, known[C_CAUSE])
                .putLong(RESTARTS, restarts)
                .putLong(HOST_READS, hostReads)
                .putLong(STEPS_WITH_READS, stepsWithReads);
        writeState(state);
        CheckpointFormat.write(out, getClass().getName(), table, state);
    }

    /**
     * Restores a state written by {@link #saveState}, into this optimizer (built with the same
     * settings) for this model (whose parameters DJL has restored and whose trainer exists).
     *
     * <p>Nothing changes unless the whole checkpoint is read, verified and accepted.
     *
     * @param in the stream to read; not closed
     * @param model the block being trained
     * @throws IOException if the stream is not a checkpoint, of an unsupported version, truncated
     *     or corrupt (its checksum does not match)
     * @throws IllegalArgumentException if it was written by another optimizer, for another model
     *     (the message lists the parameters whose names, dtypes or shapes differ), or with settings
     *     this optimizer cannot take (for example another window size)
     */
    public final void loadState(InputStream in, Block model) throws IOException {
        Map<String, Parameter> trained = ModelParameters.trained(model);
        NDManager parameterManager = ModelParameters.managerOf(trained, "loadState");
        Map<String, String> nameByKey = new HashMap<>();
        Map<String, String> keyByName = new HashMap<>();
        Map<String, Shape> shapeByKey = new HashMap<>();
        for (Map.Entry<String, Parameter> entry : trained.entrySet()) {
            NDArray array = entry.getValue().getArray();
            nameByKey.put(array.getUid(), entry.getKey());
            keyByName.put(entry.getKey(), array.getUid());
            shapeByKey.put(array.getUid(), array.getShape());
        }
        try (NDManager scratch = parameterManager.newSubManager()) {
            OptimizerState state =
                    new OptimizerState(nameByKey, keyByName, shapeByKey, parameterManager);
            CheckpointFormat.Contents contents = CheckpointFormat.read(in, scratch, state);
            if (!contents.optimizer().equals(getClass().getName())) {
                throw new IllegalArgumentException(
                        "the checkpoint was written by "
                                + contents.optimizer()
                                + ", not by "
                                + getClass().getName());
            }
            ModelParameters.checkSame(contents.parameters(), trained);
            long savedSteps = state.getLong(STEPS);
            long skipped = state.getLong(SKIPPED);
            long[] values = {
                state.contains(TAKEN) ? state.getLong(TAKEN) : savedSteps - skipped,
                skipped,
                state.getLong(NON_FINITE),
                state.getLong(REJECTED),
                state.contains(STREAK) ? state.getLong(STREAK) : 0,
                state.contains(CAUSE) ? state.getLong(CAUSE) : 0
            };
            long savedRestarts = state.getLong(RESTARTS);
            long savedReads = state.contains(HOST_READS) ? state.getLong(HOST_READS) : 0;
            long savedStepsWithReads =
                    state.contains(STEPS_WITH_READS) ? state.getLong(STEPS_WITH_READS) : 0;
            readState(state);
            closeStep();
            steps = savedSteps;
            restarts = savedRestarts;
            hostReads = savedReads;
            stepsWithReads = savedStepsWithReads;
            System.arraycopy(values, 0, known, 0, COUNTERS);
            stepsAtRead = steps;
            if (counters != null) {
                counters.close();
            }
            counters = new DeviceCounters(parameterManager, values);
            NDArray first = trained.values().iterator().next().getArray();
            parameters = discover(first);
            this.model = first.getManager();
            rediscover = false;
        }
    }

    /**
     * Adds the subclass's complete state to a checkpoint: everything that the next steps depend on.
     * Arrays are stored by reference and encoded right after this returns.
     *
     * @param state the checkpoint's contents; name per-parameter entries with {@link
     *     OptimizerState#nameOf(String)}
     */
    protected abstract void writeState(OptimizerState state);

    /**
     * Replaces the subclass's state with a checkpoint's. It must check everything it needs (entries
     * present, shapes and settings consistent) before it changes anything, and throw {@link
     * IllegalArgumentException} naming what does not match.
     *
     * @param state the checkpoint's contents; copy arrays out with {@link
     *     OptimizerState#array(String, NDManager)}, translate names with {@link
     *     OptimizerState#keyOf(String)}
     */
    protected abstract void readState(OptimizerState state);

    /**
     * Returns how many bytes of optimizer state this optimizer holds now: the arrays of its own
     * state (moments, momentum buffers, windows, factors, inverses, roots, eigenbases and the
     * constants it keeps on the device for them), elements times the dtype's size, each array once.
     * Not counted: the weights, the gradients, a step's temporaries, and the six int64 step
     * counters of this base class. What an optimizer counts is what its {@link #measureState} puts:
     * by default every array of its checkpoint ({@link #writeState}); each optimizer's javadoc says
     * what that is. State allocated lazily (at a parameter's first step, at the first refresh)
     * counts once it exists: ask after the steps whose state should count.
     *
     * <p>Nothing is read from the device (sizes come from the arrays' shapes and dtypes, which the
     * host knows), nothing is copied and nothing changes.
     *
     * @return the bytes; 0 before the first step
     */
    public final long stateBytes() {
        Map<String, String> keys = new HashMap<>();
        Map<String, Shape> shapes = new HashMap<>();
        for (NDArray weight : parameters) {
            keys.put(weight.getUid(), weight.getUid());
            shapes.put(weight.getUid(), weight.getShape());
        }
        OptimizerState state = new OptimizerState(keys, keys, shapes, model);
        measureState(state);
        return state.arrayBytes();
    }

    /**
     * Puts the arrays of the subclass's state into a state that {@link #stateBytes} measures and
     * then drops: arrays are summed by shape and dtype, never read, copied or written; other
     * entries are ignored. Parameters are named by their keys.
     *
     * <p>By default {@link #writeState}, so that the checkpoint's arrays are what counts. Override
     * it when {@code writeState} reads from the device (this must not: put the same arrays from the
     * host's references to them), or when the subclass holds arrays its checkpoint leaves out
     * (state that a restore recomputes, constants kept on the device): they occupy memory, so put
     * them too.
     *
     * @param state the state to put the arrays into
     */
    protected void measureState(OptimizerState state) {
        writeState(state);
    }

    /**
     * Returns what the optimizer has done so far. Reads the step counters from the device (one
     * read, which the report's host-read count leaves out: it counts the reads of steps).
     *
     * @return a snapshot of its counters
     */
    public OptimizerHealth health() {
        resolve(steps);
        return new OptimizerHealth(
                steps,
                known[C_SKIPPED],
                known[C_NON_FINITE],
                known[C_REJECTED],
                restarts,
                lastProblem,
                new OptimizerHealth.HostReadCount(hostReads, stepsWithReads),
                curvatureHealth());
    }

    /**
     * Returns the subclass's own health counters (failed or inaccurate inversions and roots, with
     * the last residual, fallbacks taken, per block where it has blocks), for {@link #health()}.
     *
     * @return counters by name, in a stable order; empty unless overridden
     */
    protected Map<String, Object> curvatureHealth() {
        return Map.of();
    }

    /**
     * Returns the learning-rate tracker.
     *
     * @return the tracker
     */
    public ParameterTracker getLearningRateTracker() {
        return learningRateTracker;
    }

    /**
     * Returns DJL's weight decay setting ({@code optWeightDecays}).
     *
     * @return the weight decay
     */
    protected float weightDecay() {
        return getWeightDecay();
    }

    /**
     * The settings shared by every so4j optimizer, in DJL's builder idiom.
     *
     * @param <T> the concrete builder
     */
    @SuppressWarnings("rawtypes")
    public abstract static class BaseBuilder<T extends BaseBuilder<T>> extends OptimizerBuilder<T> {

        private ParameterTracker learningRateTracker;
        private boolean fixedLearningRate = true;
        private int maxConsecutiveSkips = 100;

        /**
         * Creates a builder with a default learning rate.
         *
         * @param defaultLearningRate the learning rate used unless set
         */
        protected BaseBuilder(float defaultLearningRate) {
            this.learningRateTracker = Tracker.fixed(defaultLearningRate);
            checkLearningRate(defaultLearningRate);
        }

        /**
         * Sets the learning-rate tracker (a schedule). A schedule takes the count of taken steps on
         * the host, so the optimizer then reads its step counter from the device once a step
         * (counted in {@code health().hostReads()}); a fixed rate ({@link #optLearningRate}, or
         * DJL's {@code Tracker.fixed}) reads nothing.
         *
         * @param learningRateTracker the tracker
         * @return this {@code Builder}
         */
        public T optLearningRateTracker(ParameterTracker learningRateTracker) {
            this.learningRateTracker =
                    Objects.requireNonNull(learningRateTracker, "learningRateTracker");
            this.fixedLearningRate = false;
            return self();
        }

        /**
         * Sets how many steps in a row may be skipped (for non-finite gradients or statistics)
         * before the optimizer gives up with an {@link IllegalStateException}: the last rung of the
         * failure ladder (skip the step, keep the last good state, then fail clearly).
         *
         * @param maxConsecutiveSkips at least 1; default 100
         * @return this {@code Builder}
         * @throws IllegalArgumentException if it is less than 1
         */
        public T optMaxConsecutiveSkips(int maxConsecutiveSkips) {
            if (maxConsecutiveSkips < 1) {
                throw new IllegalArgumentException(
                        "maxConsecutiveSkips must be at least 1, but was " + maxConsecutiveSkips);
            }
            this.maxConsecutiveSkips = maxConsecutiveSkips;
            return self();
        }

        /**
         * Sets a fixed learning rate.
         *
         * @param learningRate the learning rate, finite and non-negative
         * @return this {@code Builder}
         * @throws IllegalArgumentException if it is negative or not finite
         */
        public T optLearningRate(float learningRate) {
            checkLearningRate(learningRate);
            optLearningRateTracker(Tracker.fixed(learningRate));
            this.fixedLearningRate = true;
            return self();
        }

        private static void checkLearningRate(float learningRate) {
            if (!(learningRate >= 0) || Float.isInfinite(learningRate)) {
                throw new IllegalArgumentException(
                        "learningRate must be finite and non-negative, but was " + learningRate);
            }
        }
    }
}
