package io.github.so4j.optimizers.transform;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.util.List;

/**
 * Weight decay: \( d \leftarrow d + \omega w \).
 *
 * <p>Where it stands in a chain gives it its meaning. Before a preconditioner it is L2
 * regularisation ({@link #l2}: the curvature sees \( \nabla L + \omega w \), as in M-FAC's
 * reference code); after it, it is decoupled weight decay ({@link #decoupled}: the weight shrinks
 * by \( \eta \omega w \) whatever the preconditioner does, as in AdamW and Meta's Shampoo).
 *
 * <p><b>Cost</b>: 2 passes over the parameter's entries; no state.
 */
public final class WeightDecay implements Transform {

    private final float decay;
    private final String name;

    private WeightDecay(float decay, String name) {
        if (!(decay >= 0) || Float.isInfinite(decay)) {
            throw new IllegalArgumentException(
                    "weightDecay must be finite and non-negative, but was " + decay);
        }
        this.decay = decay;
        this.name = name;
    }

    /**
     * Returns L2 regularisation, to stand before a preconditioner.
     *
     * @param decay \( \omega \), finite and non-negative
     * @return the transform, named {@code l2}
     * @throws IllegalArgumentException if \( \omega \) is negative or not finite
     */
    public static WeightDecay l2(float decay) {
        return new WeightDecay(decay, "l2");
    }

    /**
     * Returns decoupled weight decay, to stand after a preconditioner.
     *
     * @param decay \( \omega \), finite and non-negative
     * @return the transform, named {@code weightDecay}
     * @throws IllegalArgumentException if \( \omega \) is negative or not finite
     */
    public static WeightDecay decoupled(float decay) {
        return new WeightDecay(decay, "weightDecay");
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return name;
    }

    /** {@inheritDoc} */
    @Override
    public List<String> stateNames() {
        return List.of();
    }

    /** {@inheritDoc} */
    @Override
    public NDList init(NDArray weight) {
        return new NDList();
    }

    /** {@inheritDoc} */
    @Override
    public Result apply(NDArray direction, NDList state, Context context) {
        NDArray out =
                decay == 0
                        ? direction.duplicate()
                        : direction.add(context.weight().mul(context.constant(decay)));
        return new Result(out, new NDList());
    }

    /**
     * Returns \( \omega \).
     *
     * @return the decay
     */
    public float decay() {
        return decay;
    }
}
