package io.github.so4j.optimizers.kfac;

import ai.djl.nn.Block;

/**
 * A recording stand-in for a {@code Linear} or {@code Conv2d} layer: an instance of the layer's own
 * class ({@link RecordingLinear}, {@link RecordingConv2d}), so that it can take the layer's place
 * wherever the parent holds it, in its children and in its fields, whatever their declared type.
 *
 * <p>Every {@link Block} method goes to the layer, and training forwards are also recorded ({@link
 * CapturedLayer#record}). It exposes the layer's parameters as its own and its children, so
 * parameter names, saved parameter files and shapes are those of the original tree. An inference
 * forward is exactly the layer's forward (two extra calls and one boolean test).
 *
 * <p><b>Cost</b>: none beyond the calls; the stand-in's own (unused) parameters are never
 * initialized and hold no arrays.
 */
sealed interface RecordingBlock permits RecordingLinear, RecordingConv2d {

    /**
     * Returns the recorded layer's bookkeeping.
     *
     * @return the captured layer
     */
    CapturedLayer captured();

    /**
     * Returns the layer the stand-in delegates to.
     *
     * @return the original layer
     */
    Block layer();
}
