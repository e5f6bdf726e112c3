package io.github.so4j.optimizers;

/**
 * The first-order method whose step size Shampoo borrows ("grafting"): per block, the update takes
 * its direction from Shampoo and its norm from this method's step on the same (filtered) gradient,
 * and before {@code startPreconditioningStep} the update is this method's step alone.
 *
 * <p>With \( \hat m \) the filtered, bias-corrected gradient and \( g \) the raw gradient:
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
}
