package io.github.so4j.optimizers.transform;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.util.List;

/**
 * Scaling by the root of a second moment of the gradient: Adam's and AdaGrad's denominators.
 *
 * <p>With v starting at zero, g the parameter's gradient (not the incoming direction, so that a
 * filtered or preconditioned direction is scaled by the raw gradient's statistics, as Meta's
 * Shampoo grafts) and t the step's index among taken steps:
 *
 * <ul>
 *   <li>{@link #adam}: \( v \leftarrow \beta_2 v + (1 - \beta_2) g^2 \), \( d \leftarrow d /
 *       (\sqrt{v / (1 - \beta_2^t)} + \epsilon) \)
 *   <li>{@link #adagrad}: \( v \leftarrow v + g^2 \), \( d \leftarrow d / (\sqrt{v} + \epsilon) \)
 * </ul>
 *
 * <p>Adam is {@code Chain.of(new FirstMoment(beta1, true), SecondMoment.adam(beta2, epsilon))}
 * applied to the gradient: \( \hat m / (\sqrt{\hat v} + \epsilon) \).
 *
 * <p><b>Cost</b>: 5 passes over the parameter's entries, and as many numbers of state.
 */
public final class SecondMoment implements Transform {

    private final float beta2;
    private final float epsilon;

    private SecondMoment(float beta2, float epsilon) {
        if (!(epsilon >= 0) || Float.isInfinite(epsilon)) {
            throw new IllegalArgumentException(
                    "epsilon must be finite and non-negative, but was " + epsilon);
        }
        this.beta2 = beta2;
        this.epsilon = epsilon;
    }

    /**
     * Returns Adam's second moment.
     *
     * @param beta2 \( \beta_2 \) in [0, 1)
     * @param epsilon \( \epsilon \), finite and non-negative
     * @return the transform
     * @throws IllegalArgumentException if a setting is out of range
     */
    public static SecondMoment adam(float beta2, float epsilon) {
        if (!(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("beta2 must be in [0, 1), but was " + beta2);
        }
        return new SecondMoment(beta2, epsilon);
    }

    /**
     * Returns AdaGrad's accumulated squares.
     *
     * @param epsilon \( \epsilon \), finite and non-negative
     * @return the transform
     * @throws IllegalArgumentException if \( \epsilon \) is out of range
     */
    public static SecondMoment adagrad(float epsilon) {
        return new SecondMoment(1, epsilon);
    }

    /**
     * Returns Adam: bias-corrected first and second moments of the gradient, \( \hat m /
     * (\sqrt{\hat v} + \epsilon) \).
     *
     * @param beta1 \( \beta_1 \) in [0, 1)
     * @param beta2 \( \beta_2 \) in [0, 1)
     * @param epsilon \( \epsilon \), finite and non-negative
     * @return a chain named {@code adam}
     * @throws IllegalArgumentException if a setting is out of range
     */
    public static Chain adamChain(float beta1, float beta2, float epsilon) {
        return Chain.named("adam", new FirstMoment(beta1, true), adam(beta2, epsilon));
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "secondMoment";
    }

    /** {@inheritDoc} */
    @Override
    public List<String> stateNames() {
        return List.of("v");
    }

    /** {@inheritDoc} */
    @Override
    public NDList init(NDArray weight) {
        return new NDList(weight.zerosLike());
    }

    /** {@inheritDoc} */
    @Override
    public Result apply(NDArray direction, NDList state, Context context) {
        NDArray squares = context.gradient().square();
        NDArray v;
        NDArray root;
        if (isAdagrad()) {
            v = state.head().add(squares);
            root = v.sqrt();
        } else {
            v =
                    state.head()
                            .mul(context.constant(beta2))
                            .addi(squares.muli(context.constant(1 - beta2)));
            root = v.div(context.biasCorrection(beta2)).sqrt();
        }
        return new Result(direction.div(root.addi(context.constant(epsilon))), new NDList(v));
    }

    /**
     * Returns whether this is AdaGrad's sum (else Adam's average).
     *
     * @return whether AdaGrad
     */
    public boolean isAdagrad() {
        return beta2 == 1;
    }

    /**
     * Returns \( \beta_2 \) (1 for AdaGrad).
     *
     * @return the averaging factor
     */
    public float beta2() {
        return beta2;
    }

    /**
     * Returns \( \epsilon \).
     *
     * @return the epsilon
     */
    public float epsilon() {
        return epsilon;
    }
}
