package io.github.so4j.optimizers;

import io.github.so4j.optimizers.transform.SecondMoment;
import io.github.so4j.optimizers.transform.Transform;

/**
 * The first-order method whose step size Shampoo borrows ("grafting"): per block, the update takes
 * its direction from Shampoo and its norm from this method's step on the same (filtered) gradient,
 * and before {@code startPreconditioningStep} the update is this method's step alone.
 *
 * <p>With \( \hat m \) the filtered, bias-corrected gradient, \( g \) the raw gradient and t the
 * step's index among taken steps:
 *
 * <ul>
 *   <li>{@link #ADAM}: \( v \leftarrow \beta_g v + (1 - \beta_g) g^2 \), step \( \hat m / (\sqrt{v
 *       / (1 - \beta_g^t)} + \epsilon_g) \): Adam (Meta's {@code AdamPreconditionerConfig}).
 *   <li>{@link #ADAGRAD}: \( v \leftarrow v + g^2 \), step \( \hat m / (\sqrt{v} + \epsilon_g) \)
 *       (Meta's {@code AdaGradPreconditionerConfig}).
 *   <li>{@link #SGD}: step \( \hat m \).
 *   <li>{@link #NONE}: no grafting: Shampoo's direction as it is; tensors that Shampoo does not
 *       precondition, and every tensor before the start step, take \( \hat m \).
 * </ul>
 *
 * <p>ADAM and ADAGRAD are the shared {@link SecondMoment} transform; their state is one number per
 * entry of the parameter, and a step costs 5 passes over it. SGD and NONE have no state.
 */
public enum Grafting {
    /** Adam's step norm (the default). */
    ADAM,
    /** AdaGrad's step norm. */
    ADAGRAD,
    /** The (filtered) gradient's norm. */
    SGD,
    /** No grafting. */
    NONE;

    /** Whether the method keeps a second moment of the gradient. */
    boolean keepsSquares() {
        return this == ADAM || this == ADAGRAD;
    }

    /**
     * Returns the method's step as a transform of the filtered gradient, or {@code null} for SGD
     * and NONE, whose step is the filtered gradient itself.
     */
    Transform transform(float beta2, float epsilon) {
        return switch (this) {
            case ADAM -> SecondMoment.adam(beta2, epsilon);
            case ADAGRAD -> SecondMoment.adagrad(epsilon);
            case SGD, NONE -> null;
        };
    }
}
