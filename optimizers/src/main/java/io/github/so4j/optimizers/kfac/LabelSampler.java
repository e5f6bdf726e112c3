package io.github.so4j.optimizers.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Activation;

/**
 * Draws labels from a model's predictive distribution, for the Monte-Carlo Fisher: the distribution
 * must be the one whose negative log-likelihood is the training loss.
 *
 * <p>The draws use the engine's random generator ({@code Engine.setRandomSeed} fixes them) and
 * carry no gradient.
 */
@FunctionalInterface
public interface LabelSampler {

    /**
     * Draws one label per example.
     *
     * @param predictions the model's outputs. Not modified.
     * @return labels in the form the loss expects, owned by the predictions' manager
     */
    NDList sample(NDList predictions);

    /**
     * For DJL's {@code SoftmaxCrossEntropyLoss} with its defaults (logits, sparse labels): class
     * indices drawn from \( \mathrm{softmax}(z) \) along the last axis, by the Gumbel-max trick \(
     * \arg\max_k (z_k - \log(-\log u_k)) \) with \( u_k \sim U(0, 1) \).
     *
     * @return the sampler
     */
    static LabelSampler softmaxCrossEntropy() {
        return predictions -> {
            NDArray logits = predictions.head().stopGradient();
            NDManager manager = logits.getManager();
            NDArray uniform =
                    manager.randomUniform(
                            Float.MIN_NORMAL, 1f, logits.getShape(), logits.getDataType());
            NDArray gumbel = uniform.log().neg().log().neg();
            int axis = logits.getShape().dimension() - 1;
            return new NDList(logits.add(gumbel).argMax(axis).toType(logits.getDataType(), false));
        };
    }

    /**
     * For a sigmoid cross-entropy on logits (such as DJL's {@code SigmoidBinaryCrossEntropyLoss}
     * with its defaults): independent Bernoulli labels, 1 with probability \( \sigma(z) \).
     *
     * @return the sampler
     */
    static LabelSampler sigmoidBinaryCrossEntropy() {
        return predictions -> {
            NDArray logits = predictions.head().stopGradient();
            NDArray uniform =
                    logits.getManager()
                            .randomUniform(0f, 1f, logits.getShape(), logits.getDataType());
            return new NDList(
                    uniform.lt(Activation.sigmoid(logits)).toType(logits.getDataType(), false));
        };
    }

    /**
     * For DJL's {@code L2Loss} (half the squared error): Gaussian labels \( y + \epsilon \), \(
     * \epsilon \sim N(0, 1) \).
     *
     * @return the sampler
     */
    static LabelSampler l2() {
        return predictions -> {
            NDArray y = predictions.head().stopGradient();
            return new NDList(
                    y.add(y.getManager().randomNormal(0f, 1f, y.getShape(), y.getDataType())));
        };
    }
}
