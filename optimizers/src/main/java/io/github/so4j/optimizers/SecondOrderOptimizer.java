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
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
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
 * steps, with the guards that second-order methods need.
 *
 * <p>DJL calls {@link #update(String, NDArray, NDArray)} once per parameter and step, in an order
 * of its choosing. Second-order methods need more: M-FAC's global window needs every gradient at
 * once, K-FAC's trust region sums over all layers. So at the first update of a step, this class
 * gathers the gradient of every trainable parameter (the arrays that carry a gradient in the
 * manager that owns the first updated weight, which is the model's manager: the same arrays DJL's
 * {@code ParameterStore} updates) and hands them to {@link #computeStep} together. Each parameter
 * then moves by its own direction when DJL calls {@code update} for it:
 *
 * <p>\( w \leftarrow w - \eta_t \, u \), with \( \eta_t \) from the learning-rate tracker and \( u
 * \) the direction computed for \( w \).
 *
 * <p>Guards, for every subclass alike:
 *
 * <ul>
 *   <li>A NaN or infinite gradient skips the whole step: no weight and no optimizer state changes
 *       (one device reduction and one host synchronisation per step decide it).
 *   <li>A subclass may reject its statistics (returning {@code null} from {@link #computeStep});
 *       the step is skipped the same way. Subclasses keep their last good preconditioner when a
 *       refresh fails, and retry in float64 where that applies.
 *   <li>After {@code maxConsecutiveSkips} skipped steps in a row (default 100) the optimizer throws
 *       an {@link IllegalStateException} that says why: the run has diverged.
 *   <li>Problems are counted in {@link #health()} and logged once at WARN when they start, not
 *       every step.
 *   <li>Gradients are cleared after use, as DJL's own PyTorch optimizers do (the engine accumulates
 *       gradients across backward passes otherwise).
 * </ul>
 *
 * <p>Checkpoints: {@link #saveState} writes the optimizer's complete state, {@link #loadState}
 * restores it into a fresh optimizer built with the same settings, for the same model (see {@link
 * #saveState} for how it sits beside DJL's {@code Model.save}). Subclasses provide {@link
 * #writeState} and {@link #readState}.
 *
 * <p>Training must run on one device. Parameters that appear later (unfrozen) start moving at the
 * step after they appear; the subclass hears of every change of the parameter set through {@link
 * #parametersChanged}.
 */
public abstract class SecondOrderOptimizer extends Optimizer {

    private static final Logger logger = LoggerFactory.getLogger(SecondOrderOptimizer.class);
    private static final Pattern DJL_UID = Pattern.compile("uid-\\d+-(\\d+)");
    private static final String STEPS = "so4j/steps";
    private static final String SKIPPED = "so4j/skippedSteps";
    private static final String NON_FINITE = "so4j/nonFiniteGradientSteps";
    private static final String REJECTED = "so4j/rejectedStatisticsSteps";
    private static final String RESTARTS = "so4j/restarts";

    private final ParameterTracker learningRateTracker;
    private final Map<String, String> idByUid = new HashMap<>();
    private final Set<String> updatedThisStep = new HashSet<>();
    private final Map<String, NDArray> pending = new HashMap<>();
    private List<NDArray> parameters = List.of();
    private NDManager stepManager;
    private boolean rediscover = true;
    private boolean inProblem;
    private boolean stepSkipped;

    private long steps;
    private long skippedSteps;
    private long nonFiniteGradientSteps;
    private long rejectedStatisticsSteps;
    private long restarts;
    private long consecutiveSkips;
    private final long maxConsecutiveSkips;
    private String lastProblem = "";

    /**
     * Initializes the shared settings.
     *
     * @param builder the builder
     */
    protected SecondOrderOptimizer(BaseBuilder<?> builder) {
        super(builder);
        this.learningRateTracker = builder.learningRateTracker;
        this.maxConsecutiveSkips = builder.maxConsecutiveSkips;
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
     * <p>Called once per step, with finite gradients. Implementations must combine quantities
     * across parameters in a way that does not depend on their order in the list (the order is not
     * stable across runs before DJL has updated every parameter once), e.g. with sorted sums.
     *
     * @param parameters every trainable parameter with its gradient
     * @param owner the manager that must own the returned directions
     * @return the direction \( u \) of each parameter by {@link ParameterGradient#key()} (the
     *     weight moves by \( -\eta u \)), or {@code null} to reject the step's statistics and skip
     *     it; in that case no state may have changed
     */
    protected abstract Map<String, NDArray> computeStep(
            List<ParameterGradient> parameters, NDManager owner);

    /**
     * Whether {@link #update} checks the gradients for NaN and infinities before {@link
     * #computeStep} (one extra reduction per parameter and a host synchronisation per step). A
     * subclass whose statistics turn any non-finite gradient into a rejection may return {@code
     * false}; the gradients are then checked only when it rejects, to report the cause.
     *
     * @return {@code true} unless overridden
     */
    protected boolean checksGradientsFirst() {
        return true;
    }

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
        idByUid.put(uid, parameterId);
        if (stepManager == null
                || updatedThisStep.contains(uid)
                || (pending.isEmpty() && !contains(parameters, weight) && newBackward())) {
            beginStep(weight);
        }
        updatedThisStep.add(uid);
        int count = (int) Math.min(steps, Integer.MAX_VALUE);
        try (NDArray direction = pending.remove(uid)) {
            if (direction != null) {
                float learningRate = learningRateTracker.getNewValue(parameterId, count);
                applyDirection(weight, direction, learningRate);
            } else if (!contains(parameters, weight)) {
                rediscover = true;
                problem(
                        "parameter "
                                + parameterId
                                + " was not trainable when the step began; it moves from the"
                                + " next step on",
                        false);
            }
        } finally {
            clearGradient(weight, stepSkipped);
        }
    }

    /**
     * Whether a backward pass has run since the parameters of the current step were updated (their
     * gradients, cleared after the update, are not all zero again). It tells a parameter that just
     * became trainable and comes first in DJL's next pass from one that comes last in this pass;
     * checked only in that rare case, with one host synchronisation.
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
            return total.getDouble() != 0;
        }
    }

    /**
     * Moves a weight along its direction: \( w \leftarrow w - \eta u \). Subclasses may override it
     * to add decoupled weight decay.
     *
     * @param weight the weight. Modified.
     * @param direction \( u \), owned by this step. May be modified.
     * @param learningRate \( \eta \)
     */
    protected void applyDirection(NDArray weight, NDArray direction, float learningRate) {
        weight.subi(direction.muli(learningRate));
    }

    private void beginStep(NDArray first) {
        closeStep();
        steps++;
        List<NDArray> current = parameters;
        if (rediscover
                || !contains(current, first)
                || current.stream().anyMatch(w -> !trainable(w))) {
            List<NDArray> found = discover(first);
            List<String> keys = found.stream().map(NDArray::getUid).toList();
            if (!Set.copyOf(keys).equals(uids(current))) {
                if (parametersChanged(keys) && !current.isEmpty()) {
                    restarts++;
                    problem("the trainable parameters changed; curvature state restarted", false);
                }
            }
            parameters = found;
            rediscover = false;
        }
        stepManager = first.getManager().newSubManager(first.getDevice());
        Map<String, NDArray> directions;
        try (NDManager scope = stepManager.newSubManager()) {
            List<ParameterGradient> gradients = new ArrayList<>(parameters.size());
            for (NDArray weight : parameters) {
                NDArray gradient = weight.getGradient();
                gradient.attach(scope);
                gradients.add(
                        new ParameterGradient(
                                weight.getUid(),
                                idByUid.get(weight.getUid()),
                                weight,
                                prepare(gradient)));
            }
            if (checksGradientsFirst() && !allFinite(gradients)) {
                skip(true);
                return;
            }
            directions = computeStep(gradients, stepManager);
            if (directions == null) {
                skip(!checksGradientsFirst() && !allFinite(gradients));
                return;
            }
        }
        pending.putAll(directions);
        consecutiveSkips = 0;
        stepSkipped = false;
        inProblem = false;
    }

    private void skip(boolean nonFiniteGradient) {
        stepSkipped = true;
        skippedSteps++;
        consecutiveSkips++;
        if (nonFiniteGradient) {
            nonFiniteGradientSteps++;
            problem("a gradient has NaN or infinite entries; step skipped", true);
        } else {
            rejectedStatisticsSteps++;
            problem("curvature statistics were not finite; step skipped", true);
        }
        if (consecutiveSkips >= maxConsecutiveSkips) {
            throw new IllegalStateException(
                    getClass().getSimpleName()
                            + " skipped "
                            + consecutiveSkips
                            + " consecutive steps (maxConsecutiveSkips), the last because "
                            + lastProblem
                            + "; training has diverged or its input is broken");
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

    /**
     * One reduction per gradient and one host synchronisation: 0 * x is NaN iff x is not finite.
     */
    private static boolean allFinite(List<ParameterGradient> gradients) {
        NDList probes = new NDList(gradients.size());
        for (ParameterGradient p : gradients) {
            probes.add(p.gradient().mul(0).sum());
        }
        NDArray total = probes.size() == 1 ? probes.head() : NDArrays.stack(probes).sum();
        return !Float.isNaN(total.toType(DataType.FLOAT32, false).getFloat());
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
     * Zeros the gradient in place. A finite gradient is cleared by subtracting it from itself;
     * after a skipped step, which may have seen NaN, it is filled with zeros (in a scope: DJL's
     * fill allocates).
     */
    private static void clearGradient(NDArray weight, boolean mayBeNonFinite) {
        if (!weight.hasGradient()) {
            return;
        }
        try (NDArray gradient = weight.getGradient()) {
            if (mayBeNonFinite) {
                try (NDManager scope = weight.getManager().newSubManager()) {
                    scope.tempAttachAll(gradient);
                    gradient.set(new NDIndex("..."), 0);
                }
            } else {
                gradient.subi(gradient);
            }
        }
    }

    private void closeStep() {
        pending.clear();
        updatedThisStep.clear();
        if (stepManager != null) {
            stepManager.close();
            stepManager = null;
        }
    }

    private void problem(String description, boolean streak) {
        lastProblem = description;
        if (!streak || !inProblem) {
            logger.warn("{} (step {}): {}", getClass().getSimpleName(), steps, description);
        }
        inProblem = streak;
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
        Map<String, Parameter> trained = trainedParameters(model);
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
                        nameByKey, keyByName, shapeByKey, managerOf(trained, "saveState"));
        state.putLong(STEPS, steps)
                .putLong(SKIPPED, skippedSteps)
                .putLong(NON_FINITE, nonFiniteGradientSteps)
                .putLong(REJECTED, rejectedStatisticsSteps)
                .putLong(RESTARTS, restarts);
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
        Map<String, Parameter> trained = trainedParameters(model);
        NDManager parameterManager = managerOf(trained, "loadState");
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
            checkSameModel(contents.parameters(), trained);
            long[] counters = {
                state.getLong(STEPS),
                state.getLong(SKIPPED),
                state.getLong(NON_FINITE),
                state.getLong(REJECTED),
                state.getLong(RESTARTS)
            };
            readState(state);
            closeStep();
            steps = counters[0];
            skippedSteps = counters[1];
            nonFiniteGradientSteps = counters[2];
            rejectedStatisticsSteps = counters[3];
            restarts = counters[4];
            parameters =
                    trained.isEmpty()
                            ? List.of()
                            : discover(trained.values().iterator().next().getArray());
            rediscover = false;
            inProblem = false;
            stepSkipped = false;
            consecutiveSkips = 0;
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

    /** The model's trained parameters (initialized, requiring a gradient), by name, in order. */
    private static Map<String, Parameter> trainedParameters(Block model) {
        Map<String, Parameter> trained = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : model.getParameters()) {
            Parameter parameter = p.getValue();
            if (parameter.isInitialized() && parameter.requiresGradient()) {
                trained.put(p.getKey(), parameter);
            }
        }
        return trained;
    }

    private static NDManager managerOf(Map<String, Parameter> trained, String caller) {
        if (trained.isEmpty()) {
            throw new IllegalArgumentException(
                    caller
                            + " needs a model with trained parameters: initialize it and create"
                            + " its trainer first");
        }
        return trained.values().iterator().next().getArray().getManager();
    }

    private static void checkSameModel(
            List<CheckpointFormat.ParameterEntry> saved, Map<String, Parameter> trained) {
        List<String> differences = new ArrayList<>();
        Set<String> savedNames = new HashSet<>();
        for (CheckpointFormat.ParameterEntry entry : saved) {
            savedNames.add(entry.name());
            Parameter parameter = trained.get(entry.name());
            if (parameter == null) {
                differences.add("the model has no trained parameter " + entry);
                continue;
            }
            NDArray array = parameter.getArray();
            if (!array.getShape().equals(entry.shape())
                    || array.getDataType() != entry.dataType()) {
                differences.add(
                        "parameter '"
                                + entry.name()
                                + "' is "
                                + entry.dataType()
                                + " "
                                + entry.shape()
                                + " in the checkpoint but "
                                + array.getDataType()
                                + " "
                                + array.getShape()
                                + " in the model");
            }
        }
        for (Map.Entry<String, Parameter> entry : trained.entrySet()) {
            if (!savedNames.contains(entry.getKey())) {
                NDArray array = entry.getValue().getArray();
                differences.add(
                        "the checkpoint has no parameter '"
                                + entry.getKey()
                                + "' "
                                + array.getDataType()
                                + " "
                                + array.getShape());
            }
        }
        if (!differences.isEmpty()) {
            throw new IllegalArgumentException(
                    "the checkpoint was saved for another model: "
                            + String.join("; ", differences));
        }
    }

    /**
     * Returns what the optimizer has done so far.
     *
     * @return a snapshot of its counters
     */
    public OptimizerHealth health() {
        return new OptimizerHealth(
                steps,
                skippedSteps,
                nonFiniteGradientSteps,
                rejectedStatisticsSteps,
                restarts,
                lastProblem,
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
         * Sets the learning-rate tracker (a schedule).
         *
         * @param learningRateTracker the tracker
         * @return this {@code Builder}
         */
        public T optLearningRateTracker(ParameterTracker learningRateTracker) {
            this.learningRateTracker =
                    Objects.requireNonNull(learningRateTracker, "learningRateTracker");
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
            return optLearningRateTracker(Tracker.fixed(learningRate));
        }

        private static void checkLearningRate(float learningRate) {
            if (!(learningRate >= 0) || Float.isInfinite(learningRate)) {
                throw new IllegalArgumentException(
                        "learningRate must be finite and non-negative, but was " + learningRate);
            }
        }
    }
}
