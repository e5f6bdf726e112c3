package io.github.so4j.optimizers.kfac;

import ai.djl.ndarray.NDArray;

/**
 * What one training forward of an instrumented layer left for K-FAC: the layer's input and the zero
 * probe added to its output, whose gradient after the backward pass is \( \partial L / \partial y
 * \).
 *
 * <p>Both arrays belong to the forward's manager (the batch's, in a DJL training loop) and are
 * valid until the batch is closed, which DJL's loops do after {@code Trainer.step()}.
 *
 * @param input the layer's input. Not modified.
 * @param probe the zero array, shaped as the output, that requires a gradient. Not modified.
 */
public record LayerRecording(NDArray input, NDArray probe) {

    /**
     * Whether both arrays are still open.
     *
     * @return {@code false} once the batch that owned them has been closed
     */
    public boolean isValid() {
        return !input.isReleased() && !probe.isReleased();
    }

    /**
     * Returns the gradient of the loss with respect to the layer's output.
     *
     * @return \( \partial L / \partial y \), a new handle owned by the probe's manager
     */
    public NDArray outputGradient() {
        return probe.getGradient();
    }
}
