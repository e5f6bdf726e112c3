package io.github.so4j.bench.workload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.loss.Loss;
import io.github.so4j.curvature.RecordedScalars;

/**
 * Sigmoid cross-entropy between logits and targets in [0, 1], summed over the features of an
 * example and averaged over the batch, as kfac-jax's autoencoder example computes it: \( L =
 * \frac{1}{B} \sum_b \sum_j \left[\max(z_{bj}, 0) - z_{bj} y_{bj} + \log(1 + e^{-|z_{bj}|})\right]
 * \) for logits z and targets y of shape (B, features...), the stable form of \( -y \log \sigma(z)
 * - (1 - y) \log(1 - \sigma(z)) \).
 *
 * <p>DJL's {@code SigmoidBinaryCrossEntropyLoss} averages over the features too: this loss is that
 * one times the number of features per example. Its second derivative in z, \( \sigma(z)(1 -
 * \sigma(z)) / B \), is what double backward gives (the Gauss-Newton products of K-FAC's adaptive
 * step). Cost: O(B times features).
 *
 * <p>The maximum with 0 and the division by B take their numbers through {@link RecordedScalars}:
 * the backward pass reads both, and DJL's {@code maximum(0)} and {@code div(B)} would leave it to
 * read them from freed host memory after a garbage collection.
 */
public final class SummedSigmoidCrossEntropyLoss extends Loss {

    /** Creates the loss. */
    public SummedSigmoidCrossEntropyLoss() {
        super("SummedSigmoidCrossEntropyLoss");
    }

    /** {@inheritDoc} */
    @Override
    public NDArray evaluate(NDList labels, NDList predictions) {
        NDArray z = predictions.singletonOrThrow();
        NDArray y = labels.singletonOrThrow().reshape(z.getShape()).toType(z.getDataType(), false);
        NDArray elements =
                RecordedScalars.maximum(z, 0).sub(z.mul(y)).add(z.abs().neg().exp().add(1).log());
        long batch = z.getShape().get(0);
        return RecordedScalars.div(elements.sum(), batch);
    }
}
