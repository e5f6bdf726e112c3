package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.optimizers.transform.BiasCorrection;
import io.github.so4j.optimizers.transform.Transform;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.LongPredicate;

/**
 * One optimizer step as a subclass of {@link SecondOrderOptimizer} sees it: the step guard's
 * decision, the step's index among taken steps, and the state changes that wait for the decision.
 *
 * <p>The decision whether a step is taken is made on the device, without a host read: the step is
 * taken when every gradient is finite and every condition given to {@link #require} holds. Every
 * change of state goes through the decision: a subclass computes candidate state and registers it
 * with {@link #onCommit}; after {@code computeStep} returns, the base class calls each {@link
 * Commit} with the decision as a boolean scalar on the device, and the commit keeps the candidate
 * where it is {@code true} and the old state where it is {@code false} ({@link #select}). A
 * rejected step therefore leaves no trace, and an ordinary step reads nothing from the device.
 *
 * <p>Amortized work on the host (an inverse or root refreshed every T steps) needs the decision on
 * the host: {@link #accepted()} reads it (one counted read), after which no condition may be added.
 * Schedules count taken steps: {@link #isDue} tells whether this step's index (among taken steps)
 * satisfies a schedule, and reads the index from the device only when rejected steps the host has
 * not yet heard of could change the answer.
 */
public final class Step {

    /** A change of state that waits for the step's decision. */
    @FunctionalInterface
    public interface Commit {

        /**
         * Makes the change where the step is accepted, and leaves the state as it was where not.
         * Must not read from the device.
         *
         * @param accepted a boolean scalar on the device
         */
        void commit(NDArray accepted);
    }

    private final NDManager scope;
    private final NDArray gradientsFinite;
    private final NDArray takenBefore;
    private long lowestIndex;
    private long highestIndex;
    private final Resolver resolver;
    private final List<NDArray> requirements = new ArrayList<>();
    private final List<Commit> commits = new ArrayList<>();
    private final Set<NDArray> zeroWhenRejected =
            Collections.newSetFromMap(new IdentityHashMap<>());
    private final Set<NDArray> finiteWhenRejected =
            Collections.newSetFromMap(new IdentityHashMap<>());
    private NDArray finalDecision;
    private final Map<DataType, NDArray> zeros = new EnumMap<>(DataType.class);
    private boolean decisionUsed;
    private NDArray index;
    private BiasCorrection.Cache biasCorrections;
    private Boolean decided;

    /** Reads the base class's device counters on demand. */
    interface Resolver {
        /**
         * Reads the number of steps taken before this one, resolving the base class's counters; no
         * read once {@link #decide} has read them.
         *
         * @return the exact count
         */
        long takenBefore();

        /**
         * Reads this step's decision together with the counters.
         *
         * @param accepted the decision as a boolean scalar on the device
         * @return the decision
         */
        boolean decide(NDArray accepted);
    }

    Step(
            NDManager scope,
            NDArray gradientsFinite,
            NDArray takenBefore,
            long lowestIndex,
            long highestIndex,
            Resolver resolver) {
        this.scope = scope;
        this.gradientsFinite = gradientsFinite;
        this.takenBefore = takenBefore;
        this.lowestIndex = lowestIndex;
        this.highestIndex = highestIndex;
        this.resolver = resolver;
    }

    /**
     * Adds a condition for taking the step, such as "the new statistics are finite".
     *
     * @param condition a boolean scalar on the device, in this step's scope or longer lived
     * @throws IllegalStateException after {@link #accepted()}
     */
    public void require(NDArray condition) {
        if (decided != null) {
            throw new IllegalStateException("the step was already decided on the host");
        }
        if (decisionUsed) {
            throw new IllegalStateException(
                    "the step's decision was already used by mask() or settle()");
        }
        requirements.add(condition);
    }

    /**
     * Registers a change of state to be made if the step is accepted.
     *
     * @param commit the change; called once, after {@code computeStep} returns, in order of
     *     registration
     */
    public void onCommit(Commit commit) {
        commits.add(commit);
    }

    /**
     * Returns this step's index among taken steps if it is taken: 1 for the first taken step. It
     * drives bias corrections and other functions of the step count on the device.
     *
     * @return a float64 scalar on the device (exact for every count), owned by the step's scope
     */
    public NDArray index() {
        if (index == null) {
            index = takenBefore.add(1).toType(DataType.FLOAT64, false);
        }
        return index;
    }

    /**
     * Returns the bias corrections \( 1 - \beta^t \) of this step's {@link #index()}, each computed
     * once per step and shared by every parameter.
     *
     * @return the cache, whose scalars are owned by the step's scope
     */
    public BiasCorrection.Cache biasCorrections() {
        if (biasCorrections == null) {
            biasCorrections = new BiasCorrection.Cache(index());
        }
        return biasCorrections;
    }

    /**
     * Returns a transform's context at this step: the step's index and its shared bias corrections.
     *
     * @param gradient the parameter's gradient. Not modified.
     * @param weight the parameter. Not modified.
     * @return the context
     */
    public Transform.Context context(NDArray gradient, NDArray weight) {
        return new Transform.Context(gradient, weight, index(), biasCorrections());
    }

    /**
     * Tells whether this step's index among taken steps satisfies a schedule, such as {@code t -> t
     * % 100 == 0}. Reads from the device (one counted read) only when rejected steps that the host
     * has not yet heard of could change the answer.
     *
     * @param schedule a predicate on the 1-based index
     * @return whether the step, if taken, is due
     */
    public boolean isDue(LongPredicate schedule) {
        if (lowestIndex == highestIndex) {
            return schedule.test(highestIndex);
        }
        boolean possible = false;
        boolean certain = true;
        for (long t = lowestIndex; t <= highestIndex && (certain || !possible); t++) {
            boolean due = schedule.test(t);
            possible |= due;
            certain &= due;
        }
        if (!possible || certain) {
            return possible;
        }
        return schedule.test(resolver.takenBefore() + 1);
    }

    /**
     * Returns the lowest index among taken steps this step can have: the host's count if every step
     * it has not heard of was rejected; after {@link #accepted()}, the exact index.
     *
     * @return the lowest possible 1-based index
     */
    public long lowestPossibleIndex() {
        return lowestIndex;
    }

    /**
     * Returns the highest index among taken steps this step can have: the host's count if every
     * step it has not heard of was taken (the index, unless a step was rejected unseen); after
     * {@link #accepted()}, the exact index.
     *
     * @return the highest possible 1-based index
     */
    public long highestPossibleIndex() {
        return highestIndex;
    }

    /**
     * Returns whether every gradient of the step is finite, as a boolean scalar on the device.
     *
     * @return the flag, owned by the step's scope
     */
    public NDArray gradientsFinite() {
        return gradientsFinite;
    }

    /**
     * Decides the step on the host: reads whether every gradient is finite and every condition so
     * far holds (one counted read), and with it the counters: afterwards the step's index is known
     * ({@link #lowestPossibleIndex()} equals {@link #highestPossibleIndex()}) and {@link #isDue}
     * reads nothing. For amortized host work that must not run on a rejected step.
     *
     * @return whether the step will be taken
     */
    public boolean accepted() {
        if (decided == null) {
            decided = resolver.decide(acceptance());
            if (lowestIndex != highestIndex) {
                lowestIndex = resolver.takenBefore() + 1;
                highestIndex = lowestIndex;
            }
        }
        return decided;
    }

    /**
     * Returns an array where the step is taken and zeros where it is not (NaN-safe), by the
     * decision as it stands: finite gradients and the conditions required so far, or the host's
     * decision. No condition may be added afterwards. With {@link #zeroWhenRejected}, it lets a
     * subclass mask a small factor of a direction (Adam's r-sized direction of a low-rank method)
     * instead of the base class masking the full-size direction.
     *
     * @param x the array. Not modified.
     * @return a new array owned by {@code x}'s manager (x itself when the host took the step)
     */
    public NDArray mask(NDArray x) {
        decisionUsed = true;
        if (Boolean.TRUE.equals(decided)) {
            return x;
        }
        NDArray zero = zeros.computeIfAbsent(x.getDataType(), t -> scope.zeros(new Shape(), t));
        return select(acceptance(), x, zero.broadcast(x.getShape()));
    }

    /**
     * Settles candidate state now rather than at commit: each candidate where the step is taken and
     * the old array where it is not, by the decision as it stands (the host's, when it has decided:
     * then nothing is selected). No condition may be added afterwards. For a transform whose
     * direction is its new state (heavy-ball momentum): the settled state then serves as the
     * direction too ({@link #finiteWhenRejected}), with no copy and no second selection.
     *
     * @param candidate the candidate arrays. Not modified.
     * @param old the old arrays, shaped as the candidates. Not modified.
     * @return new arrays (the candidates themselves when the host took the step), owned by the
     *     managers of the candidates
     */
    public NDList settle(NDList candidate, NDList old) {
        decisionUsed = true;
        NDList settled = new NDList(candidate.size());
        for (int i = 0; i < candidate.size(); i++) {
            if (Boolean.TRUE.equals(decided)) {
                settled.add(candidate.get(i));
            } else if (Boolean.FALSE.equals(decided)) {
                NDArray kept = old.get(i).duplicate();
                kept.attach(candidate.get(i).getManager());
                settled.add(kept);
            } else {
                settled.add(select(acceptance(), candidate.get(i), old.get(i)));
            }
        }
        return settled;
    }

    /**
     * Declares that a direction returned by {@code computeStep} is finite when the step is rejected
     * (it is {@link #settle settled} state, and state is finite), so that the base class scales it
     * by a learning rate that is zero on a rejected step instead of selecting it: \( w - 0 \cdot u
     * = w \) exactly for finite u. The base class neither modifies such a direction nor keeps it
     * beyond the step, so it may share memory with the state.
     *
     * @param direction the direction, as returned
     */
    public void finiteWhenRejected(NDArray direction) {
        finiteWhenRejected.add(direction);
    }

    /** Whether a direction was declared finite when the step is rejected. */
    boolean isFiniteWhenRejected(NDArray direction) {
        return finiteWhenRejected.contains(direction);
    }

    /**
     * Declares that a direction returned by {@code computeStep} is zero, exactly, when the step is
     * rejected (it was computed from {@link #mask}ed factors and finite state), so that the base
     * class does not mask it again.
     *
     * @param direction the direction, as returned
     */
    public void zeroWhenRejected(NDArray direction) {
        zeroWhenRejected.add(direction);
    }

    /** Whether a direction was declared zero when the step is rejected. */
    boolean isZeroWhenRejected(NDArray direction) {
        return zeroWhenRejected.contains(direction);
    }

    /** The decision on the device: finite gradients and every requirement. */
    NDArray acceptance() {
        if (finalDecision != null) {
            return finalDecision;
        }
        NDArray all = gradientsFinite;
        for (NDArray condition : requirements) {
            all = all.logicalAnd(condition);
        }
        if (decisionUsed || decided != null) {
            // no condition can be added any more: every later use shares this array
            finalDecision = all;
        }
        return all;
    }

    /** The decision, if it was made on the host. */
    Boolean hostDecision() {
        return decided;
    }

    List<Commit> commits() {
        return commits;
    }

    /**
     * Returns the scope of the step: arrays created in it are freed when the step ends.
     *
     * @return the step's manager
     */
    public NDManager scope() {
        return scope;
    }

    /**
     * Selects, entry by entry, the candidate where the step is accepted and the old value where
     * not; NaN in a rejected candidate does not leak through.
     *
     * @param accepted a boolean scalar on the device
     * @param candidate the new value. Not modified.
     * @param old the old value, of the candidate's shape. Not modified.
     * @return a new array, owned by {@code candidate}'s manager
     */
    public static NDArray select(NDArray accepted, NDArray candidate, NDArray old) {
        return candidate.getNDArrayInternal().where(accepted.broadcast(candidate.getShape()), old);
    }
}
