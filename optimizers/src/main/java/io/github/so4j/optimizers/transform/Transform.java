package io.github.so4j.optimizers.transform;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.util.List;

/**
 * One stage of an update rule: a direction and the stage's state for one parameter in, a new
 * direction and the stage's candidate state out, in the manner of optax's gradient transformations.
 *
 * <p>A transform holds settings only; its state lives in a {@link
 * io.github.so4j.optimizers.TransformState}, which keeps it per parameter, commits a candidate only
 * when the step is taken, and saves it in checkpoints by the names of {@link #stateNames()}.
 * Transforms compose with {@link Chain}.
 *
 * <p>Implementations read nothing from the device, and the arrays they return are new (never an
 * input or a piece of the old state): the old state must survive a rejected step unchanged.
 */
public interface Transform {

    /**
     * What a transform may look at besides its direction and state.
     *
     * @param gradient the parameter's gradient this step, after DJL's {@code rescaleGrad} and
     *     {@code clipGrad}. Not modified.
     * @param weight the parameter before the step. Not modified.
     * @param index the step's 1-based index among taken steps, a float64 scalar on the device
     * @param biasCorrections the bias corrections of {@code index}, shared by every parameter of
     *     the step
     */
    record Context(
            NDArray gradient, NDArray weight, NDArray index, BiasCorrection.Cache biasCorrections) {

        /**
         * Checks that the cache belongs to the index.
         *
         * @param gradient the parameter's gradient. Not modified.
         * @param weight the parameter. Not modified.
         * @param index the step's 1-based index among taken steps
         * @param biasCorrections the bias corrections of {@code index}
         * @throws IllegalArgumentException if it caches another index's corrections
         */
        public Context {
            if (biasCorrections.index() != index) {
                throw new IllegalArgumentException(
                        "biasCorrections must be those of the context's index");
            }
        }

        /**
         * Creates a context with a bias-correction cache of its own.
         *
         * @param gradient the parameter's gradient. Not modified.
         * @param weight the parameter. Not modified.
         * @param index the step's 1-based index among taken steps
         */
        public Context(NDArray gradient, NDArray weight, NDArray index) {
            this(gradient, weight, index, new BiasCorrection.Cache(index));
        }

        /**
         * Returns \( 1 - \beta^t \) for this context's step, computed once per step and \( \beta
         * \).
         *
         * @param beta \( \beta \) in [0, 1)
         * @return a float64 scalar owned by the index's manager; not to be closed or modified
         */
        public NDArray biasCorrection(float beta) {
            return biasCorrections.of(beta);
        }

        /**
         * Returns a float32 scalar of the step, made once per step and value ({@link
         * BiasCorrection.Cache#constant}).
         *
         * @param value the value
         * @return the scalar, owned by the index's manager; not to be closed or modified
         */
        public NDArray constant(float value) {
            return biasCorrections.constant(value);
        }
    }

    /**
     * A transform's output.
     *
     * @param direction the new direction
     * @param state the candidate state, in the order of {@link #stateNames()}; empty if stateless
     */
    record Result(NDArray direction, NDList state) {}

    /**
     * Returns the transform's name, unique within a chain (e.g. {@code momentum}).
     *
     * @return the name
     */
    String name();

    /**
     * Returns the names of the transform's state arrays for one parameter, for checkpoints.
     *
     * @return the names; empty if the transform is stateless
     */
    List<String> stateNames();

    /**
     * Returns the initial state for a parameter.
     *
     * @param weight the parameter. Not modified.
     * @return new arrays in the order of {@link #stateNames()}, owned by {@code weight}'s manager
     */
    NDList init(NDArray weight);

    /**
     * Transforms a direction.
     *
     * @param direction the incoming direction, shaped as the weight. Not modified.
     * @param state the parameter's current state. Not modified.
     * @param context the gradient, the weight and the step index
     * @return the outgoing direction and the candidate state, new arrays
     */
    Result apply(NDArray direction, NDList state, Context context);
}
