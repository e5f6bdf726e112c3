package io.github.so4j.curvature.pruning;

/**
 * Supplies gradients of a loss at a model's current weights, one mini-batch at a time, for the
 * empirical Fisher of {@link ObsPruner}.
 */
public interface GradientSource {

    /**
     * Clears the model's gradients, then leaves in them the gradient of the loss on the next
     * mini-batch (cycling through the data).
     */
    void backwardNext();
}
