package io.github.so4j.optimizers.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.optimizers.OptimizerState;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The state of a {@link FirstOrderRule} per parameter, and its directions.
 *
 * <p><b>Cost</b> per direction: a few element-wise passes over the parameter; memory: one (SGD with
 * momentum) or two (Adam) arrays per parameter.
 */
public final class FirstOrderStep implements AutoCloseable {

    private final FirstOrderRule rule;
    private final NDManager manager;
    private final Map<String, NDArray[]> state = new HashMap<>();
    private final Map<String, Integer> counts = new HashMap<>();

    /**
     * Creates the state of a rule.
     *
     * @param rule the rule
     * @param manager the manager whose device holds the state (a sub-manager is used)
     */
    public FirstOrderStep(FirstOrderRule rule, NDManager manager) {
        this.rule = rule;
        this.manager = manager.newSubManager();
    }

    /**
     * Advances a parameter's state by a gradient and returns its direction.
     *
     * @param key the parameter's key
     * @param gradient g, on the state's device. Not modified.
     * @param owner the manager that must own the direction
     * @return the direction (the parameter moves by \( -\eta \) times it), a new array owned by
     *     {@code owner}
     */
    public NDArray direction(String key, NDArray gradient, NDManager owner) {
        if (rule instanceof FirstOrderRule.Adam) {
            return adam((FirstOrderRule.Adam) rule, key, gradient, owner);
        }
        return momentum(((FirstOrderRule.Sgd) rule).momentum(), key, gradient, owner);
    }

    private NDArray momentum(float mu, String key, NDArray gradient, NDManager owner) {
        if (mu == 0) {
            NDArray copy = gradient.duplicate();
            copy.attach(owner);
            return copy;
        }
        NDArray[] buffers = state.get(key);
        if (buffers == null) {
            NDArray velocity = gradient.duplicate();
            velocity.attach(manager);
            state.put(key, new NDArray[] {velocity});
        } else {
            buffers[0].muli(mu).addi(gradient);
        }
        NDArray direction = state.get(key)[0].duplicate();
        direction.attach(owner);
        return direction;
    }

    private NDArray adam(FirstOrderRule.Adam adam, String key, NDArray gradient, NDManager owner) {
        NDArray[] moments = state.get(key);
        if (moments == null) {
            NDArray first = gradient.zerosLike();
            NDArray second = gradient.zerosLike();
            first.attach(manager);
            second.attach(manager);
            moments = new NDArray[] {first, second};
            state.put(key, moments);
        }
        int t = counts.merge(key, 1, Integer::sum);
        try (Workspace ws = new Workspace(owner, moments[0], moments[1], gradient)) {
            moments[0].muli(adam.beta1()).addi(gradient.mul(1 - adam.beta1()));
            moments[1].muli(adam.beta2()).addi(gradient.square().muli(1 - adam.beta2()));
            double firstCorrection = 1 - Math.pow(adam.beta1(), t);
            double secondCorrection = 1 - Math.pow(adam.beta2(), t);
            NDArray denominator = moments[1].div(secondCorrection).sqrt().addi(adam.epsilon());
            NDArray direction =
                    moments[0].mul(adam.learningRateScale() / firstCorrection).divi(denominator);
            return ws.keep(direction, owner);
        }
    }

    /**
     * Forgets the state of parameters that are gone.
     *
     * @param keys the keys of the parameters that remain
     */
    public void retainOnly(List<String> keys) {
        Iterator<Map.Entry<String, NDArray[]>> entries = state.entrySet().iterator();
        while (entries.hasNext()) {
            Map.Entry<String, NDArray[]> entry = entries.next();
            if (!keys.contains(entry.getKey())) {
                for (NDArray array : entry.getValue()) {
                    array.close();
                }
                counts.remove(entry.getKey());
                entries.remove();
            }
        }
    }

    /**
     * Adds this state to a checkpoint under a prefix, parameters by their model names.
     *
     * @param checkpoint the checkpoint's contents
     * @param prefix the prefix of every entry
     */
    public void save(OptimizerState checkpoint, String prefix) {
        List<String> names = new ArrayList<>();
        for (Map.Entry<String, NDArray[]> entry : state.entrySet()) {
            String name = checkpoint.nameOf(entry.getKey());
            names.add(name);
            NDArray[] buffers = entry.getValue();
            checkpoint.putLong(prefix + name + "/buffers", buffers.length);
            for (int i = 0; i < buffers.length; i++) {
                checkpoint.put(prefix + name + "/" + i, buffers[i]);
            }
            checkpoint.putLong(prefix + name + "/count", counts.getOrDefault(entry.getKey(), 0));
        }
        checkpoint.putStrings(prefix + "parameters", names);
    }

    /**
     * Replaces this state with a checkpoint's, saved by {@link #save} from the same rule.
     *
     * @param checkpoint the checkpoint's contents
     * @param prefix the prefix given to {@link #save}
     * @throws IllegalArgumentException if a buffer count or shape does not match this rule and the
     *     model; the state is then unchanged
     */
    public void load(OptimizerState checkpoint, String prefix) {
        int expected = rule instanceof FirstOrderRule.Adam ? 2 : 1;
        Map<String, NDArray[]> restored = new HashMap<>();
        Map<String, Integer> restoredCounts = new HashMap<>();
        try (NDManager scratch = manager.newSubManager()) {
            for (String name : checkpoint.getStrings(prefix + "parameters")) {
                String key = checkpoint.keyOf(name);
                long count = checkpoint.getLong(prefix + name + "/buffers");
                if (count != expected) {
                    throw new IllegalArgumentException(
                            "the checkpoint keeps "
                                    + count
                                    + " buffers for "
                                    + name
                                    + ", but this optimizer's rule "
                                    + rule
                                    + " keeps "
                                    + expected);
                }
                NDArray[] buffers = new NDArray[expected];
                for (int i = 0; i < expected; i++) {
                    buffers[i] = checkpoint.array(prefix + name + "/" + i, scratch);
                    if (!buffers[i].getShape().equals(checkpoint.shapeOf(key))) {
                        throw new IllegalArgumentException(
                                "the checkpoint's buffer for "
                                        + name
                                        + " has shape "
                                        + buffers[i].getShape()
                                        + ", but the parameter has "
                                        + checkpoint.shapeOf(key));
                    }
                }
                restored.put(key, buffers);
                int t = Math.toIntExact(checkpoint.getLong(prefix + name + "/count"));
                if (t > 0) {
                    restoredCounts.put(key, t);
                }
            }
            for (NDArray[] buffers : restored.values()) {
                for (NDArray buffer : buffers) {
                    buffer.attach(manager);
                }
            }
            for (NDArray[] buffers : state.values()) {
                for (NDArray buffer : buffers) {
                    buffer.close();
                }
            }
            state.clear();
            state.putAll(restored);
            counts.clear();
            counts.putAll(restoredCounts);
        }
    }

    /** Frees the state. */
    @Override
    public void close() {
        manager.close();
        state.clear();
        counts.clear();
    }
}
