package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.optimizers.transform.Transform;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The state of one {@link Transform} for every parameter it has seen: created at a parameter's
 * first step, replaced only when a step is taken, saved in checkpoints by name.
 *
 * <p>{@link #apply} runs the transform on a direction and registers the candidate state with the
 * step's guard ({@link Step#onCommit}): where the step is rejected the old state stays, bit for
 * bit. Checkpoint entries are named {@code <prefix>/<state name>/<parameter name>}, with the
 * model's parameter names, so they survive changes of parameter order and process.
 */
public final class TransformState implements AutoCloseable {

    private final Transform transform;
    private final Map<String, NDList> states = new HashMap<>();
    private NDManager manager;

    /**
     * Creates an empty state for a transform.
     *
     * @param transform the transform
     */
    public TransformState(Transform transform) {
        this.transform = transform;
    }

    /**
     * Returns the transform.
     *
     * @return the transform
     */
    public Transform transform() {
        return transform;
    }

    /**
     * Transforms a parameter's direction and stages its new state for the step's decision.
     *
     * @param key the parameter's key
     * @param direction the incoming direction. Not modified.
     * @param gradient the parameter's gradient. Not modified.
     * @param weight the parameter. Not modified.
     * @param step the step
     * @return the outgoing direction, owned by {@code direction}'s manager
     */
    public NDArray apply(
            String key, NDArray direction, NDArray gradient, NDArray weight, Step step) {
        NDList old = states.get(key);
        if (old == null) {
            if (manager == null) {
                manager = weight.getManager().newSubManager();
            }
            old = transform.init(weight);
            old.attach(manager);
            states.put(key, old);
        }
        NDManager caller = direction.getManager();
        Transform.Result result;
        int alias;
        // borrowed: temporaries of products with the state or the weight land in the workspace
        try (Workspace ws =
                new Workspace(step.scope(), old, distinct(direction, gradient, weight))) {
            result = transform.apply(direction, old, step.context(gradient, weight));
            ws.keep(result.state(), step.scope());
            // heavy-ball momentum's direction is one of its state arrays
            alias = indexOf(result.state(), result.direction());
            if (alias < 0) {
                ws.keep(result.direction(), caller);
            }
        }
        NDArray out = result.direction();
        NDList candidate = result.state();
        if (candidate.isEmpty()) {
            return out;
        }
        NDList previous = old;
        if (alias >= 0) {
            // the direction is new state: settled now, it serves as both, with no copy
            NDList settled = step.settle(candidate, previous);
            NDArray state = settled.get(alias);
            out = state.reshape(state.getShape());
            out.attach(caller);
            step.finiteWhenRejected(out);
            step.onCommit(
                    accepted -> {
                        settled.attach(manager);
                        states.put(key, settled);
                        previous.close();
                    });
            return out;
        }
        step.onCommit(
                accepted -> {
                    NDList next = new NDList(candidate.size());
                    for (int i = 0; i < candidate.size(); i++) {
                        next.add(Step.select(accepted, candidate.get(i), previous.get(i)));
                    }
                    next.attach(manager);
                    states.put(key, next);
                    previous.close();
                });
        return out;
    }

    /** The position of an array in a list, by identity; -1 if absent. */
    private static int indexOf(NDList list, NDArray array) {
        for (int i = 0; i < list.size(); i++) {
            if (list.get(i) == array) {
                return i;
            }
        }
        return -1;
    }

    /** The arrays once each: a workspace must not borrow one array twice. */
    private static NDList distinct(NDArray... arrays) {
        NDList list = new NDList(arrays.length);
        for (NDArray a : arrays) {
            if (list.stream().noneMatch(b -> b == a)) {
                list.add(a);
            }
        }
        return list;
    }

    /**
     * Returns a parameter's current state.
     *
     * @param key the parameter's key
     * @return its arrays in the order of the transform's state names, or {@code null} if it has
     *     none
     */
    public NDList get(String key) {
        return states.get(key);
    }

    /**
     * Forgets the state of parameters no longer trained.
     *
     * @param keys the keys to keep
     * @return whether anything was forgotten
     */
    public boolean retain(Collection<String> keys) {
        List<String> stale = new ArrayList<>();
        for (String key : states.keySet()) {
            if (!keys.contains(key)) {
                stale.add(key);
            }
        }
        for (String key : stale) {
            states.remove(key).close();
        }
        return !stale.isEmpty();
    }

    /**
     * Adds the state to a checkpoint.
     *
     * @param state the checkpoint
     * @param prefix the prefix of this state's entries, unique in the checkpoint
     */
    public void write(OptimizerState state, String prefix) {
        List<String> names = new ArrayList<>();
        List<String> stateNames = transform.stateNames();
        for (Map.Entry<String, NDList> entry : states.entrySet()) {
            String name = state.nameOf(entry.getKey());
            names.add(name);
            for (int i = 0; i < stateNames.size(); i++) {
                state.put(prefix + "/" + stateNames.get(i) + "/" + name, entry.getValue().get(i));
            }
        }
        state.putStrings(prefix + "/parameters", names.stream().sorted().toList());
    }

    /**
     * Replaces the state with a checkpoint's; checks everything before it changes anything.
     *
     * @param state the checkpoint
     * @param prefix the prefix used when it was written
     * @throws IllegalArgumentException if an entry is missing or has another shape or dtype than
     *     the transform's initial state for its parameter
     */
    public void read(OptimizerState state, String prefix) {
        NDManager owner = manager != null ? manager : state.parameterManager().newSubManager();
        Map<String, NDList> restored = new HashMap<>();
        List<String> stateNames = transform.stateNames();
        boolean done = false;
        try {
            for (String name : state.getStrings(prefix + "/parameters")) {
                String key = state.keyOf(name);
                NDList arrays = new NDList(stateNames.size());
                restored.put(key, arrays);
                for (String s : stateNames) {
                    String entry = prefix + "/" + s + "/" + name;
                    if (!state.contains(entry)) {
                        throw new IllegalArgumentException(
                                "the checkpoint has no entry '" + entry + "'");
                    }
                    NDArray array = state.array(entry, owner);
                    arrays.add(array);
                    if (array.size() != state.shapeOf(key).size()) {
                        throw new IllegalArgumentException(
                                "the saved '"
                                        + entry
                                        + "' has shape "
                                        + array.getShape()
                                        + ", but the parameter has "
                                        + state.shapeOf(key));
                    }
                }
            }
            done = true;
        } finally {
            if (!done) {
                restored.values().forEach(NDList::close);
                if (manager == null) {
                    owner.close();
                }
            }
        }
        states.values().forEach(NDList::close);
        states.clear();
        states.putAll(restored);
        manager = owner;
    }

    /** Frees every parameter's state. */
    @Override
    public void close() {
        states.values().forEach(NDList::close);
        states.clear();
        if (manager != null) {
            manager.close();
            manager = null;
        }
    }
}
