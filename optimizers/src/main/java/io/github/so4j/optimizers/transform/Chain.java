package io.github.so4j.optimizers.transform;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Transforms applied one after the other: the direction of each is the input of the next, and the
 * chain's state is theirs side by side, named {@code <transform>/<state>}.
 *
 * <p>The chain is itself a {@link Transform}, so chains nest.
 */
public final class Chain implements Transform {

    private final String name;
    private final List<Transform> transforms;
    private final List<String> stateNames;

    private Chain(String name, List<Transform> transforms) {
        Set<String> names = new HashSet<>();
        List<String> states = new ArrayList<>();
        for (Transform t : transforms) {
            if (!names.add(t.name())) {
                throw new IllegalArgumentException(
                        "two transforms of the chain are named '" + t.name() + "'");
            }
            for (String s : t.stateNames()) {
                states.add(t.name() + "/" + s);
            }
        }
        this.name = name;
        this.transforms = List.copyOf(transforms);
        this.stateNames = List.copyOf(states);
    }

    /**
     * Returns a chain named {@code chain}.
     *
     * @param transforms the transforms in the order they apply
     * @return the chain
     * @throws IllegalArgumentException if two transforms have the same name
     */
    public static Chain of(Transform... transforms) {
        return named("chain", transforms);
    }

    /**
     * Returns a chain with a name.
     *
     * @param name the chain's name
     * @param transforms the transforms in the order they apply
     * @return the chain
     * @throws IllegalArgumentException if two transforms have the same name
     */
    public static Chain named(String name, Transform... transforms) {
        return new Chain(name, List.of(transforms));
    }

    /**
     * Returns the transforms in the order they apply.
     *
     * @return the transforms
     */
    public List<Transform> transforms() {
        return transforms;
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return name;
    }

    /** {@inheritDoc} */
    @Override
    public List<String> stateNames() {
        return stateNames;
    }

    /** {@inheritDoc} */
    @Override
    public NDList init(NDArray weight) {
        NDList state = new NDList(stateNames.size());
        for (Transform t : transforms) {
            state.addAll(t.init(weight));
        }
        return state;
    }

    /** {@inheritDoc} */
    @Override
    public Result apply(NDArray direction, NDList state, Context context) {
        NDList next = new NDList(stateNames.size());
        NDArray d = direction;
        int offset = 0;
        for (Transform t : transforms) {
            int count = t.stateNames().size();
            NDList own = new NDList(state.subList(offset, offset + count));
            Result r = t.apply(d, own, context);
            d = r.direction();
            next.addAll(r.state());
            offset += count;
        }
        return new Result(d, next);
    }
}
