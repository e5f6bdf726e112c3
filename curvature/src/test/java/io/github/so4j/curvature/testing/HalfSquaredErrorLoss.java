package io.github.so4j.curvature.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.loss.Loss;
import io.github.so4j.curvature.RecordedScalars;

/**
 * DJL's {@code L2Loss} with its default weight: \( L = \frac{1}{N} \sum_i \frac{1}{2} (t_i - y_i)^2
 * \) over all N entries of the predictions y and labels t, the same values and gradients bit for
 * bit, but safe in recorded graphs: DJL's multiplies by the number 1/2, which its PyTorch engine
 * reads from freed host memory in the backward pass once a garbage collection has run after the
 * forward pass. This one multiplies through {@link RecordedScalars}. Cost: O(N).
 */
public final class HalfSquaredErrorLoss extends Loss {

    /** Creates the loss, named {@code L2Loss} as DJL's. */
    public HalfSquaredErrorLoss() {
        super("L2Loss");
    }

    /** {@inheritDoc} */
    @Override
    public NDArray evaluate(NDList labels, NDList predictions) {
        NDArray prediction = predictions.singletonOrThrow();
        NDArray label = labels.singletonOrThrow().reshape(prediction.getShape());
        // DJL's L2Loss: label.sub(prediction).square().mul(weight).mean(), weight the float 1/2
        return RecordedScalars.mul(label.sub(prediction).square(), 0.5f).mean();
    }
}
