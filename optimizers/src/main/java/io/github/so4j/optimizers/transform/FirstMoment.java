package io.github.so4j.optimizers.transform;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.util.List;

/**
 * An exponential average of the directions, bias-corrected: Adam's first moment, and the filtered
 * gradient of Meta's Shampoo.
 *
 * <p>With m starting at zero and t the step's index among taken steps:
 *
 * <p>\( m \leftarrow \beta_1 m + (1 - \beta_1) d \), \( d \leftarrow m / (1 - \beta_1^t) \) (or \(
 * d \leftarrow m \) without bias correction)
 *
 * <p>The bias correction is computed on the device from the step index, so a rejected step, which
 * does not count, leaves no trace in it.
 *
 * <p><b>Cost</b>: 3 passes over the parameter's entries, and as many numbers of state.
 */
public final class FirstMoment implements Transform {

    private final float beta1;
    private final boolean biasCorrection;

    /**
     * Creates the transform.
     *
     * @param beta1 \( \beta_1 \) in [0, 1)
     * @param biasCorrection whether to divide by \( 1 - \beta_1^t \)
     * @throws IllegalArgumentException if \( \beta_1 \) is out of range
     */
    public FirstMoment(float beta1, boolean biasCorrection) {
        if (!(beta1 >= 0 && beta1 < 1)) {
            throw new IllegalArgumentException("beta1 must be in [0, 1), but was " + beta1);
        }
        this.beta1 = beta1;
        this.biasCorrection = biasCorrection;
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "firstMoment";
    }

    /** {@inheritDoc} */
    @Override
    public List<String> stateNames() {
        return List.of("m");
    }

    /** {@inheritDoc} */
    @Override
    public NDList init(NDArray weight) {
        return new NDList(weight.zerosLike());
    }

    /** {@inheritDoc} */
    @Override
    public Result apply(NDArray direction, NDList state, Context context) {
        NDArray m =
                state.head()
                        .mul(context.constant(beta1))
                        .addi(direction.mul(context.constant(1 - beta1)));
        NDArray out = biasCorrection ? m.div(context.biasCorrection(beta1)) : m.duplicate();
        return new Result(out, new NDList(m));
    }

    /**
     * Returns \( \beta_1 \).
     *
     * @return the averaging factor
     */
    public float beta1() {
        return beta1;
    }
}
