package io.github.so4j.optimizers.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.kfac.FactorStatistics;
import io.github.so4j.curvature.kfac.KroneckerFactoredBlock;
import io.github.so4j.curvature.kfac.KroneckerFactors;
import io.github.so4j.curvature.kfac.KroneckerHealth;
import io.github.so4j.curvature.kfac.KroneckerSettings;
import io.github.so4j.curvature.kfac.LossAverage;
import io.github.so4j.optimizers.OptimizerState;
import io.github.so4j.optimizers.Step;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * K-FAC's curvature estimate, in the manner of kfac-jax's curvature estimator: the
 * Kronecker-factored block of every instrumented layer, and when their factors and damped inverses
 * are updated.
 *
 * <p><b>Schedules</b> count taken steps, t = 1 for the first: the factors take the statistics of
 * the steps with \( (t - 1) \bmod P_F(t - 1) = 0 \), and the inverses are recomputed on the steps
 * with \( (t - 1) \bmod P_I(t - 1) = 0 \), the periods read from their trackers (rounded, at least
 * 1) and the damping \( \lambda(t - 1) \) from its tracker. The first taken step does both.
 *
 * <p><b>Under the step guard</b> ({@link Step}), with no read from the device on ordinary steps:
 *
 * <ul>
 *   <li>The host knows the index t of a step exactly after a step it decided itself (a refresh
 *       step, or a factor step with a factor period above 1) or a read; otherwise it knows an
 *       interval, widened by one at each step whose outcome only the device knows. When the step's
 *       index would be a factor step if every step of that interval was taken, or if all but one
 *       were, the layers' statistics are computed and {@linkplain KroneckerFactors#stage staged};
 *       the device commits them only if the step is taken and its index is a factor step. So one
 *       rejected step that the host has not seen leaves the schedule exact; after more, the factors
 *       skip updates until the host next reads the count (they never take statistics at a wrong
 *       index). Statistics with NaN or infinities reject the step ({@link Step#require}).
 *   <li>A step that computes statistics while the factor period is above 1 is amortized like a
 *       refresh step: at its end, after its last condition, the host decides it ({@link
 *       Step#accepted}, one read, which also gives its index), and a rejected one returns nothing
 *       and changes nothing. The host then knows the next step's index, so the step after a factor
 *       step neither records nor computes statistics. With a factor period of 1 every step is a
 *       factor step and none reads for it.
 *   <li>Refreshes are amortized host work: on a step that may be a refresh step the host learns t
 *       ({@link Step#isDue}, a read when the interval is not one index), decides the step ({@link
 *       Step#accepted}, a read), and only if it is taken refreshes every layer from the factors as
 *       they will be once the step's statistics are committed.
 *   <li>Recording is armed for the next step on the same rule; the Monte-Carlo labels are drawn for
 *       those indices ({@link Instrumentation#sampleLabels}).
 * </ul>
 *
 * <p><b>Cost</b>: on the host, a few operations per index a step may have (at most the steps since
 * the last read), and one read on each step that may be a factor step when the factor period is
 * above 1. On the device, per layer with p inputs (plus the bias) and q outputs: \( 2R(p^2 + q^2)
 * \) flops for the statistics of R rows on factor steps (and, when the period is 1, on every step),
 * a few scalar operations on the others; a refresh, see {@code InversionMode}.
 */
public final class CurvatureEstimator {

    private static final Logger logger = LoggerFactory.getLogger(CurvatureEstimator.class);

    /**
     * How many rejected steps, unseen by the host, the factor schedule stays exact for: a step
     * gathers statistics when its index would be a factor step with up to this many of them. Since
     * a step that may be a factor step is decided on the host when the period is above 1, the next
     * step's index is then known and this costs no extra statistics step; it matters for the factor
     * step itself, whose index the host may not know. Beyond that many, the factors skip updates
     * until the host next reads the count (the next factor or refresh step, or the failure-ladder
     * check); they never take statistics at a wrong index.
     */
    private static final int COVERED_REJECTIONS = 1;

    private final Instrumentation instrumentation;
    private final KroneckerSettings settings;
    private final LossAverage lossAverage;
    private final Tracker damping;
    private final Tracker factorFrequency;
    private final Tracker inverseFrequency;
    private final boolean monteCarlo;
    private final Map<CapturedLayer, KroneckerFactoredBlock> blocks = new LinkedHashMap<>();
    private NDManager manager;

    /** The next step's index among taken steps: int64 on the device, exact; null before a step. */
    private NDArray nextIndex;

    /** What the host knows of the next step's index among taken steps. */
    private long nextLowest = 1;

    private long nextHighest = 1;
    private boolean warnedReleased;
    private final Set<CapturedLayer> warnedSilent = new HashSet<>();

    /**
     * Creates an estimator for the layers of an instrumentation.
     *
     * @param instrumentation the layers, and their recordings
     * @param settings the settings of every curvature block
     * @param lossAverage what the loss averages over, for dense layers' inputs with more than two
     *     axes
     * @param damping \( \lambda \) by the 0-based count of taken steps
     * @param factorFrequency the factor period by the 0-based count of taken steps
     * @param inverseFrequency the inverse period by the 0-based count of taken steps
     * @param monteCarlo whether the output-side statistics come from sampled labels ({@link
     *     MonteCarloFisher}) rather than the training labels
     */
    public CurvatureEstimator(
            Instrumentation instrumentation,
            KroneckerSettings settings,
            LossAverage lossAverage,
            Tracker damping,
            Tracker factorFrequency,
            Tracker inverseFrequency,
            boolean monteCarlo) {
        this.instrumentation = instrumentation;
        this.settings = settings;
        this.lossAverage = lossAverage;
        this.damping = damping;
        this.factorFrequency = factorFrequency;
        this.inverseFrequency = inverseFrequency;
        this.monteCarlo = monteCarlo;
    }

    /**
     * A covered layer in one step.
     *
     * @param captured the instrumented layer
     * @param block its curvature block
     * @param weightKey the key of its weight among the step's parameters
     * @param biasKey the key of its bias, or {@code null} for a layer without one
     */
    public record Layer(
            CapturedLayer captured,
            KroneckerFactoredBlock block,
            String weightKey,
            String biasKey) {

        /**
         * Whether the layer's damped inverse exists (a refresh has succeeded).
         *
         * @return whether its gradients can be preconditioned
         */
        public boolean hasPreconditioner() {
            return block.factors().hasPreconditioner();
        }
    }

    /** One step's schedule, as far as the host knows it. */
    public static final class Schedule {

        private long lowest;
        private long highest;
        private final long learningRateIndex;
        private final long[] factorIndices;
        private final boolean refresh;
        private final boolean decideAtEnd;
        private Boolean decided;

        private Schedule(
                long lowest,
                long highest,
                long learningRateIndex,
                long[] factorIndices,
                boolean refresh,
                boolean decideAtEnd) {
            this.lowest = lowest;
            this.highest = highest;
            this.learningRateIndex = learningRateIndex;
            this.factorIndices = factorIndices;
            this.refresh = refresh;
            this.decideAtEnd = decideAtEnd;
        }

        /**
         * Whether the step refreshes the inverses (its index is then known exactly).
         *
         * @return whether it is a refresh step
         */
        public boolean refresh() {
            return refresh;
        }

        /**
         * Whether the step, not a refresh step, is to be {@linkplain CurvatureEstimator#decide
         * decided} on the host at its end, after its last {@link Step#require}: it may be a factor
         * step and the factor period is more than 1, so that the host then knows the next step's
         * index and computes no statistics for it in case this one was rejected unseen.
         *
         * @return whether the step is decided at its end
         */
        public boolean decideAtEnd() {
            return decideAtEnd;
        }

        /**
         * Returns the index the step guard uses for the learning rate: the step's index among taken
         * steps if every earlier step the host has not seen decided was taken.
         *
         * @return the 1-based index
         */
        public long learningRateIndex() {
            return learningRateIndex;
        }
    }

    /**
     * Returns the covered layers of a step: the instrumented layers whose weight and bias are
     * trained, with their curvature blocks (created at a layer's first step).
     *
     * @param keys the keys (array uids) of the step's parameters
     * @param parent the manager under which the blocks live (the model's)
     * @return the layers, in the instrumentation's order
     */
    public List<Layer> layers(Set<String> keys, NDManager parent) {
        if (manager == null) {
            manager = parent.newSubManager();
        }
        List<Layer> covered = new ArrayList<>();
        for (CapturedLayer captured : instrumentation.layers()) {
            String weight = keyOf(captured.weight(), keys);
            String bias = captured.bias() == null ? null : keyOf(captured.bias(), keys);
            if (weight == null || (captured.bias() != null && bias == null)) {
                continue;
            }
            KroneckerFactoredBlock block =
                    blocks.computeIfAbsent(
                            captured, c -> c.newCurvatureBlock(manager, settings, lossAverage));
            covered.add(new Layer(captured, block, weight, bias));
        }
        return covered;
    }

    private static String keyOf(Parameter parameter, Set<String> keys) {
        if (!parameter.isInitialized()) {
            return null;
        }
        String key = parameter.getArray().getUid();
        return keys.contains(key) ? key : null;
    }

    /**
     * Works out a step's schedule: which of the indices it may have are factor steps, and whether
     * it is a refresh step (then learning its exact index, with one read if the host does not know
     * it). Registers the update of the device's count of the next step's index.
     *
     * @param step the step
     * @return the schedule
     */
    public Schedule schedule(Step step) {
        long possibleLowest = step.lowestPossibleIndex();
        long possibleHighest = step.highestPossibleIndex();
        long lowest = Math.max(possibleLowest, nextLowest);
        long highest = Math.min(possibleHighest, nextHighest);
        if (lowest > highest) {
            lowest = possibleLowest;
            highest = possibleHighest;
        }
        boolean refresh = anyDue(inverseFrequency, lowest, highest);
        if (refresh && lowest != highest) {
            long[] tested = new long[1];
            refresh =
                    step.isDue(
                            t -> {
                                tested[0] = t;
                                return due(inverseFrequency, t);
                            });
            // some possible index was due, so the guard read the count: the last index tested
            lowest = tested[0];
            highest = tested[0];
        }
        step.onCommit(
                accepted -> {
                    NDArray next =
                            step.index()
                                    .toType(DataType.INT64, false)
                                    .add(accepted.toType(DataType.INT64, false));
                    next.attach(manager);
                    if (nextIndex != null) {
                        nextIndex.close();
                    }
                    nextIndex = next;
                });
        long[] factorIndices =
                dueIndices(
                        factorFrequency, Math.max(lowest, highest - COVERED_REJECTIONS), highest);
        boolean decideAtEnd =
                !refresh
                        && factorIndices.length > 0
                        && period(factorFrequency, factorIndices[factorIndices.length - 1]) > 1;
        return new Schedule(lowest, highest, possibleHighest, factorIndices, refresh, decideAtEnd);
    }

    /** Whether step t (1-based among taken steps) is due for a period read at t - 1. */
    private static boolean due(Tracker frequency, long t) {
        return (t - 1) % period(frequency, t) == 0;
    }

    /** The period (rounded, at least 1) read at t - 1 for step t. */
    private static long period(Tracker frequency, long t) {
        int count = (int) Math.min(t - 1, Integer.MAX_VALUE);
        return Math.max(1, Math.round(frequency.getNewValue(count)));
    }

    private static boolean anyDue(Tracker frequency, long lowest, long highest) {
        for (long t = lowest; t <= highest; t++) {
            if (due(frequency, t)) {
                return true;
            }
        }
        return false;
    }

    private static long[] dueIndices(Tracker frequency, long lowest, long highest) {
        List<Long> indices = new ArrayList<>();
        for (long t = lowest; t <= highest; t++) {
            if (due(frequency, t)) {
                indices.add(t);
            }
        }
        return indices.stream().mapToLong(Long::longValue).toArray();
    }

    /**
     * Takes every layer's recordings and, when the step may be a factor step, stages the statistics
     * of the covered layers: the step requires them finite, and its commit keeps them where it is
     * taken and its index is a factor step.
     *
     * @param layers the step's covered layers
     * @param schedule the step's schedule
     * @param step the step (a non-finite statistic counts as rejected only on a step whose
     *     gradients were finite)
     * @return every instrumented layer's recordings of the step (empty lists where it recorded
     *     nothing)
     * @throws IllegalStateException if the recordings do not match the Fisher (the training step is
     *     not the one it needs)
     */
    public Map<CapturedLayer, List<LayerRecording>> updateFactors(
            List<Layer> layers, Schedule schedule, Step step) {
        NDArray gradientsFinite = step.gradientsFinite();
        // every layer recorded this step's forwards only if the instrumentation was armed for them
        boolean armed = instrumentation.isArmed();
        Map<CapturedLayer, List<LayerRecording>> recordings = takeRecordings();
        boolean recorded = recordings.values().stream().anyMatch(taken -> !taken.isEmpty());
        if (recorded) {
            checkFisher();
            if (armed) {
                warnIfSilent(layers, recordings);
            }
        }
        if (schedule.factorIndices.length == 0) {
            return recordings;
        }
        NDArray due = factorStep(step, schedule);
        List<KroneckerFactors> staged = new ArrayList<>();
        NDList finite = new NDList();
        for (Layer layer : layers) {
            List<LayerRecording> own = recordings.get(layer.captured());
            FactorStatistics statistics = averageStatistics(layer.block(), own, step.scope());
            if (statistics == null) {
                warnIfReleased(layer, own);
                continue;
            }
            finite.add(layer.block().factors().stage(statistics));
            staged.add(layer.block().factors());
        }
        if (staged.isEmpty()) {
            return recordings;
        }
        NDArray allFinite = finite.size() == 1 ? finite.head() : NDArrays.stack(finite).all();
        step.require(due == null ? allFinite : allFinite.logicalOr(due.logicalNot()));
        step.onCommit(
                accepted -> {
                    NDArray take = due == null ? accepted : accepted.logicalAnd(due);
                    NDArray counted =
                            due == null ? gradientsFinite : gradientsFinite.logicalAnd(due);
                    for (int i = 0; i < staged.size(); i++) {
                        staged.get(i).commit(take, counted.logicalAnd(finite.get(i).logicalNot()));
                    }
                });
        return recordings;
    }

    /**
     * Whether the step's index is a factor step, on the device; {@code null} when every index the
     * step may have is one.
     */
    private static NDArray factorStep(Step step, Schedule schedule) {
        long[] indices = schedule.factorIndices;
        if (indices.length == schedule.highest - schedule.lowest + 1) {
            return null;
        }
        NDArray index = step.index().toType(DataType.INT64, false);
        return index.eq(step.scope().create(indices)).any();
    }

    private void warnIfReleased(Layer layer, List<LayerRecording> recordings) {
        if (!recordings.isEmpty() && !warnedReleased) {
            warnedReleased = true;
            logger.warn(
                    "K-FAC's recordings of {} were freed before the optimizer step, so its factors"
                            + " are not updated: keep the batch's arrays open until the step, as"
                            + " EasyTrain and Trainer.step do",
                    layer.captured().name());
        }
    }

    /**
     * Warns, once per layer, of a covered layer that recorded nothing in forwards in which others
     * did: its block called it through a reference the instrumentation did not replace, or did not
     * call it.
     */
    private void warnIfSilent(
            List<Layer> layers, Map<CapturedLayer, List<LayerRecording>> recordings) {
        for (Layer layer : layers) {
            CapturedLayer captured = layer.captured();
            if (recordings.get(captured).isEmpty() && warnedSilent.add(captured)) {
                logger.warn(
                        "K-FAC's layer {} recorded nothing in a training forward in which other"
                                + " layers did, so it moves by the first-order rule until it does:"
                                + " its block calls it through a reference that Kfac.instrument"
                                + " could not see (e.g. a lambda or a helper object holding the"
                                + " layer; hold it in a field of the block or among its"
                                + " children), or did not call it",
                        captured.name());
            }
        }
    }

    private void checkFisher() {
        if (monteCarlo && !instrumentation.isHeld()) {
            throw new IllegalStateException(
                    "K-FAC with the MONTE_CARLO Fisher needs MonteCarloFisher.trainBatch in place"
                            + " of EasyTrain.trainBatch");
        }
        if (!monteCarlo && instrumentation.isHeld()) {
            throw new IllegalStateException(
                    "the batch went through MonteCarloFisher.trainBatch, but K-FAC's Fisher is"
                            + " EMPIRICAL; build it with optFisher(Fisher.MONTE_CARLO)");
        }
    }

    /** The mean of the statistics of the valid recordings (owned by scope), or null if none. */
    private static FactorStatistics averageStatistics(
            KroneckerFactoredBlock block, List<LayerRecording> recordings, NDManager scope) {
        NDArray input = null;
        NDArray output = null;
        int count = 0;
        for (LayerRecording recording : recordings) {
            if (!recording.isValid()) {
                continue;
            }
            try (Workspace ws = new Workspace(scope, recording.input(), recording.probe())) {
                FactorStatistics s =
                        block.statistics(recording.input(), recording.outputGradient());
                if (input == null) {
                    input = ws.keep(s.input(), scope);
                    output = ws.keep(s.output(), scope);
                } else {
                    input.addi(s.input());
                    output.addi(s.output());
                }
            }
            count++;
        }
        if (count == 0) {
            return null;
        }
        if (count > 1) {
            input.divi(count);
            output.divi(count);
        }
        return new FactorStatistics(input, output);
    }

    /**
     * Arms the instrumentation for a burn-in batch (kfac-jax's {@code num_burnin_steps}), which
     * only updates the factors: its training forwards record, and its Monte-Carlo labels come from
     * the generator of index \( -n \) for the n-th burn-in batch (steps have positive indices, so
     * the draws of the steps that follow are as they would be without burn-in).
     *
     * @param number n, the burn-in batch's 1-based number
     */
    public void prepareBurnIn(long number) {
        instrumentation.prepare(new long[] {-number}, () -> null);
    }

    /** Every covered layer's recordings of this step, taken from it (an empty list if none). */
    private Map<CapturedLayer, List<LayerRecording>> takeRecordings() {
        Map<CapturedLayer, List<LayerRecording>> recordings = new HashMap<>();
        for (CapturedLayer captured : instrumentation.layers()) {
            recordings.put(captured, captured.takeRecordings());
        }
        return recordings;
    }

    /**
     * Folds the statistics recorded by a burn-in batch ({@link #prepareBurnIn}) into the factors of
     * every covered layer, outside any step, as a factor step would: the same debiased moving
     * average ({@link KroneckerFactors}). All layers take their statistics, or none when any is not
     * finite (the factors stay bit for bit, and the non-finite ones count as rejected). The
     * inverses are left alone: the first step refreshes them, from the factors the burn-in built.
     * Then arms the instrumentation for the next step as before. Reads nothing from the device.
     *
     * <p><b>Cost</b>: the statistics and the update of a factor step, \( 2R(p^2 + q^2) \) and \(
     * 5(p^2 + q^2) \) flops per layer for R recorded rows.
     *
     * @param keys the keys of the trainable parameters (the weights' uids)
     * @param parent the weights' manager
     * @param scope the manager of temporaries
     * @return whether the statistics were finite and taken, a boolean scalar on the device owned by
     *     {@code scope}, or {@code null} if no covered layer recorded anything
     */
    public NDArray burnIn(Set<String> keys, NDManager parent, NDManager scope) {
        Map<CapturedLayer, List<LayerRecording>> recordings = takeRecordings();
        boolean recorded = recordings.values().stream().anyMatch(taken -> !taken.isEmpty());
        if (recorded) {
            checkFisher();
        }
        List<KroneckerFactors> staged = new ArrayList<>();
        NDList finite = new NDList();
        for (Layer layer : layers(keys, parent)) {
            List<LayerRecording> own = recordings.get(layer.captured());
            FactorStatistics statistics = averageStatistics(layer.block(), own, scope);
            if (statistics == null) {
                warnIfReleased(layer, own);
                continue;
            }
            finite.add(layer.block().factors().stage(statistics));
            staged.add(layer.block().factors());
        }
        arm();
        if (staged.isEmpty()) {
            return null;
        }
        NDArray allFinite = finite.size() == 1 ? finite.head() : NDArrays.stack(finite).all();
        for (int i = 0; i < staged.size(); i++) {
            staged.get(i).commit(allFinite, finite.get(i).logicalNot());
        }
        return allFinite;
    }

    /**
     * Returns the damping of a refresh step.
     *
     * @param schedule a refresh step's schedule
     * @return \( \lambda \) at the step's 0-based count
     */
    public double damping(Schedule schedule) {
        return damping.getNewValue((int) Math.min(schedule.lowest - 1, Integer.MAX_VALUE));
    }

    /**
     * Decides a refresh step, or a step {@linkplain Schedule#decideAtEnd decided at its end}, on
     * the host ({@link Step#accepted()}, one read), learning its index with the decision. If it
     * returns false, the step must change nothing more: return {@code null} from the step after
     * {@link #prepareNextStep}.
     *
     * @param step the step
     * @param schedule its schedule
     * @return whether the step is taken
     */
    public boolean decide(Step step, Schedule schedule) {
        schedule.decided = step.accepted();
        schedule.lowest = step.lowestPossibleIndex();
        schedule.highest = step.highestPossibleIndex();
        return schedule.decided;
    }

    /**
     * Recomputes every covered layer's damped inverse, from its factors as they will be once the
     * step's statistics are committed: call it only on a refresh step {@link #decide decided} as
     * taken. Reads from the device (see {@link KroneckerFactors#refresh}).
     *
     * @param layers the step's covered layers
     * @param schedule the step's schedule
     */
    public void refreshInverses(List<Layer> layers, Schedule schedule) {
        double lambda = damping(schedule);
        for (Layer layer : layers) {
            KroneckerFactors factors = layer.block().factors();
            if (factors.inputFactor() != null) {
                factors.refresh(lambda);
            }
        }
    }

    /**
     * Records what the host knows of the next step's index, and arms the instrumentation for it if
     * it may be a factor step. Call it at the end of every step.
     *
     * @param schedule the step's schedule
     */
    public void prepareNextStep(Schedule schedule) {
        if (schedule.decided != null && schedule.lowest == schedule.highest) {
            nextLowest = schedule.lowest + (schedule.decided ? 1 : 0);
            nextHighest = nextLowest;
        } else {
            nextLowest = schedule.lowest;
            nextHighest = schedule.highest + 1;
        }
        arm();
    }

    /**
     * Sets which layers record every step's training forwards, not only those of steps that may
     * update the factors: the layers a caller preconditions from their gradients' rows.
     *
     * @param layers those layers; the others record on the steps armed for the factors only
     */
    public void recordEveryStep(Set<CapturedLayer> layers) {
        for (CapturedLayer layer : instrumentation.layers()) {
            layer.recordEveryStep(layers.contains(layer));
        }
    }

    /** Arms the instrumentation for the next step if it may be a factor step. */
    private void arm() {
        instrumentation.prepare(
                dueIndices(
                        factorFrequency,
                        Math.max(nextLowest, nextHighest - COVERED_REJECTIONS),
                        nextHighest),
                () -> nextIndex);
    }

    /**
     * Returns the curvature block of a layer.
     *
     * @param layer an instrumented layer
     * @return its block, or {@code null} before its first step
     */
    public KroneckerFactoredBlock block(CapturedLayer layer) {
        return blocks.get(layer);
    }

    /**
     * Returns what each block has done (one read per block).
     *
     * @return the counters by layer, in the instrumentation's order
     */
    public Map<CapturedLayer, KroneckerHealth> health() {
        Map<CapturedLayer, KroneckerHealth> health = new LinkedHashMap<>();
        for (Map.Entry<CapturedLayer, KroneckerFactoredBlock> entry : blocks.entrySet()) {
            health.put(entry.getKey(), entry.getValue().factors().health());
        }
        return health;
    }

    /**
     * Forgets the blocks of layers whose weight is no longer trained.
     *
     * @param keys the keys of the trained parameters
     * @return whether a block was forgotten
     */
    public boolean retain(Set<String> keys) {
        boolean restarted = false;
        var entries = blocks.entrySet().iterator();
        while (entries.hasNext()) {
            var entry = entries.next();
            Parameter weight = entry.getKey().weight();
            if (!weight.isInitialized() || !keys.contains(weight.getArray().getUid())) {
                entry.getValue().close();
                entries.remove();
                restarted = true;
            }
        }
        return restarted;
    }

    /**
     * Adds the estimate to a checkpoint: per covered layer (named by its weight) the running
     * factors, their averaging weight, the last good damped inverse and the layer's counters; and
     * the next step's index among taken steps (for the Monte-Carlo labels and the recording of the
     * first resumed step). Reads from the device.
     *
     * @param state the checkpoint
     * @param prefix the prefix of the entries
     */
    public void write(OptimizerState state, String prefix) {
        List<String> names = new ArrayList<>();
        for (Map.Entry<CapturedLayer, KroneckerFactoredBlock> entry : blocks.entrySet()) {
            String name = state.nameOf(entry.getKey().weight().getArray().getUid());
            names.add(name);
            String layer = prefix + "layer/" + name + "/";
            KroneckerFactors.State factors = entry.getValue().factors().state();
            if (factors.inputFactor() != null) {
                state.put(layer + "A", factors.inputFactor())
                        .put(layer + "G", factors.outputFactor());
            }
            state.putDouble(layer + "weightSum", factors.weightSum())
                    .putLong(layer + "preconditioner", factors.preconditioner().size());
            for (int i = 0; i < factors.preconditioner().size(); i++) {
                state.put(layer + "preconditioner/" + i, factors.preconditioner().get(i));
            }
            long[] counters = factors.counters();
            for (int i = 0; i < counters.length; i++) {
                state.putLong(layer + "counter/" + i, counters[i]);
            }
        }
        state.putStrings(prefix + "layers", names);
        state.putLong(
                prefix + "nextStepIndex", nextIndex == null ? 1 : HostReads.toLong(nextIndex));
    }

    /**
     * Puts every array of the estimate into a state that is only measured: per covered layer (named
     * by its weight) the arrays of its block ({@link KroneckerFactoredBlock#arrays()}: the factors,
     * the averaging weight, the layer's device counts, the last good preconditioner and a
     * convolution's im2col kernel), and the next step's index (an int64 scalar). Unlike {@link
     * #write}, reads nothing from the device.
     *
     * @param state the state being measured
     * @param prefix the prefix of the entries
     */
    public void measure(OptimizerState state, String prefix) {
        for (Map.Entry<CapturedLayer, KroneckerFactoredBlock> entry : blocks.entrySet()) {
            String layer =
                    prefix + "layer/" + state.nameOf(entry.getKey().weight().getArray().getUid());
            NDList arrays = entry.getValue().arrays();
            for (int i = 0; i < arrays.size(); i++) {
                state.put(layer + "/" + i, arrays.get(i));
            }
        }
        if (nextIndex != null) {
            state.put(prefix + "nextStepIndex", nextIndex);
        }
    }

    /** An estimate read from a checkpoint, not yet in place. */
    public static final class Restored {

        private final NDManager manager;
        private final boolean ownManager;
        private final Map<CapturedLayer, KroneckerFactoredBlock> blocks;
        private final long nextStepIndex;

        private Restored(
                NDManager manager,
                boolean ownManager,
                Map<CapturedLayer, KroneckerFactoredBlock> blocks,
                long nextStepIndex) {
            this.manager = manager;
            this.ownManager = ownManager;
            this.blocks = blocks;
            this.nextStepIndex = nextStepIndex;
        }

        /** Frees it, when something else in the checkpoint turns out not to fit. */
        public void discard() {
            blocks.values().forEach(KroneckerFactoredBlock::close);
            if (ownManager) {
                manager.close();
            }
        }
    }

    /**
     * Reads the estimate written by {@link #write}, checking everything, without changing this
     * estimator; {@link #install} puts it in place.
     *
     * @param state the checkpoint
     * @param prefix the prefix given to {@link #write}
     * @return the estimate read
     * @throws IllegalArgumentException if a layer of the checkpoint is not instrumented here or its
     *     factors do not fit
     */
    public Restored read(OptimizerState state, String prefix) {
        Map<String, CapturedLayer> byKey = new HashMap<>();
        for (CapturedLayer layer : instrumentation.layers()) {
            if (layer.weight().isInitialized()) {
                byKey.put(layer.weight().getArray().getUid(), layer);
            }
        }
        boolean ownManager = manager == null;
        NDManager target = ownManager ? state.parameterManager().newSubManager() : manager;
        Map<CapturedLayer, KroneckerFactoredBlock> restored = new LinkedHashMap<>();
        boolean done = false;
        try {
            long next = state.getLong(prefix + "nextStepIndex");
            for (String name : state.getStrings(prefix + "layers")) {
                CapturedLayer layer = byKey.get(state.keyOf(name));
                if (layer == null) {
                    throw new IllegalArgumentException(
                            "the checkpoint has K-FAC factors for "
                                    + name
                                    + ", which is not the weight of a layer this optimizer"
                                    + " instrumented; pass the model's block through"
                                    + " instrument() before loadState");
                }
                KroneckerFactoredBlock block =
                        layer.newCurvatureBlock(target, settings, lossAverage);
                restored.put(layer, block);
                restoreFactors(block.factors(), state, prefix + "layer/" + name + "/", target);
            }
            done = true;
            return new Restored(target, ownManager, restored, next);
        } finally {
            if (!done) {
                restored.values().forEach(KroneckerFactoredBlock::close);
                if (ownManager) {
                    target.close();
                }
            }
        }
    }

    private static void restoreFactors(
            KroneckerFactors factors, OptimizerState state, String prefix, NDManager scratch) {
        NDList preconditioner = new NDList();
        long count = state.getLong(prefix + "preconditioner");
        try (NDList arrays = new NDList()) {
            for (int i = 0; i < count; i++) {
                preconditioner.add(state.array(prefix + "preconditioner/" + i, scratch));
            }
            arrays.addAll(preconditioner);
            long[] counters = new long[5];
            for (int i = 0; i < counters.length; i++) {
                counters[i] = state.getLong(prefix + "counter/" + i);
            }
            boolean hasFactors = state.contains(prefix + "A");
            NDArray a = hasFactors ? state.array(prefix + "A", scratch) : null;
            NDArray g = hasFactors ? state.array(prefix + "G", scratch) : null;
            if (hasFactors) {
                arrays.add(a);
                arrays.add(g);
            }
            factors.restore(
                    new KroneckerFactors.State(
                            a, g, state.getDouble(prefix + "weightSum"), preconditioner, counters));
        }
    }

    /**
     * Puts an estimate read by {@link #read} in place of this one.
     *
     * @param restored the estimate
     */
    public void install(Restored restored) {
        blocks.values().forEach(KroneckerFactoredBlock::close);
        blocks.clear();
        blocks.putAll(restored.blocks);
        manager = restored.manager;
        if (nextIndex != null) {
            nextIndex.close();
        }
        nextIndex = manager.create(restored.nextStepIndex);
        nextLowest = restored.nextStepIndex;
        nextHighest = restored.nextStepIndex;
        arm();
    }
}
