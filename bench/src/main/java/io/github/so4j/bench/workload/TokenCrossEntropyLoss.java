package io.github.so4j.bench.workload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.loss.Loss;
import ai.djl.training.loss.SoftmaxCrossEntropyLoss;

/**
 * Softmax cross-entropy of a sequence model, averaged over every position of every sequence: \( L =
 * -\frac{1}{B T} \sum_{b, t} \log \mathrm{softmax}(z_{b t})_{y_{b t}} \) for logits {@code z} of
 * shape {@code (B, T, V)} and class labels {@code y} of shape {@code (B, T)}, in nats.
 *
 * <p>It flattens both to {@code (B T, V)} and {@code (B T)} and hands them to DJL's {@link
 * SoftmaxCrossEntropyLoss}, whose sparse-label pick on the PyTorch engine takes one label per row
 * and fails on {@code (B, T, V)} logits. Cost: that of the softmax, O(B T V).
 */
public final class TokenCrossEntropyLoss extends Loss {

    private final SoftmaxCrossEntropyLoss perToken = new SoftmaxCrossEntropyLoss();

    /** Creates the loss. */
    public TokenCrossEntropyLoss() {
        super("TokenCrossEntropyLoss");
    }

    /** {@inheritDoc} */
    @Override
    public NDArray evaluate(NDList labels, NDList predictions) {
        NDArray logits = predictions.singletonOrThrow();
        long classes = logits.getShape().get(logits.getShape().dimension() - 1);
        return perToken.evaluate(
                new NDList(labels.singletonOrThrow().reshape(-1)),
                new NDList(logits.reshape(-1, classes)));
    }
}
