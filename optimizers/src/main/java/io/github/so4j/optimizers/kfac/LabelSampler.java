package io.github.so4j.optimizers.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import java.util.Random;

/**
 * Draws labels from a model's predictive distribution, for the Monte-Carlo Fisher: the distribution
 * must be the one whose negative log-likelihood is the training loss.
 *
 * <p>The draws come from a Java generator that the caller gives (K-FAC's, seeded by its seed and
 * the step's index among taken steps, see {@link Instrumentation#labelRandom(long, long)}), drawn
 * on the host and copied to the device once per call; they carry no gradient.
 */
@FunctionalInterface
public interface LabelSampler {

    /**
     * Draws one label per example (per token, for a sequence model's per-token outputs).
     *
     * @param predictions the model's outputs. Not modified.
     * @param random the generator to draw from. Modified (advanced).
     * @return labels in the form the loss expects, owned by the predictions' manager
     */
    NDList sample(NDList predictions, Random random);

    /**
     * For DJL's {@code SoftmaxCrossEntropyLoss} with its defaults (logits, sparse labels): class
     * indices drawn from \( \mathrm{softmax}(z) \) along the last axis, by the Gumbel-max trick \(
     * \arg\max_k (z_k - \log(-\log u_k)) \) with \( u_k \sim U(0, 1) \): one independent draw per
     * row of the logits, so (N, T) draws, one per token, for (N, T, V) logits.
     *
     * @return the sampler
     */
    static LabelSampler softmaxCrossEntropy() {
        return (predictions, random) -> {
            NDArray logits = predictions.head().stopGradient();
            NDArray uniform = uniform(logits, random);
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
        return (predictions, random) -> {
            NDArray logits = predictions.head().stopGradient();
            NDArray uniform = uniform(logits, random);
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
        return (predictions, random) -> {
            NDArray y = predictions.head().stopGradient();
            double[] noise = new double[Math.toIntExact(y.getShape().size())];
            for (int i = 0; i < noise.length; i++) {
                noise[i] = random.nextGaussian();
            }
            return new NDList(y.add(upload(y, noise)));
        };
    }

    /** Uniforms in the open interval (0, 1), shaped and typed as {@code like}, in its manager. */
    private static NDArray uniform(NDArray like, Random random) {
        double[] u = new double[Math.toIntExact(like.getShape().size())];
        for (int i = 0; i < u.length; i++) {
            u[i] = ((random.nextLong() >>> 11) + 0.5) * 0x1.0p-53;
        }
        return upload(like, u);
    }

    private static NDArray upload(NDArray like, double[] values) {
        NDManager manager = like.getManager();
        Shape shape = like.getShape();
        if (like.getDataType() == DataType.FLOAT64) {
            return manager.create(values, shape);
        }
        try (NDArray doubles = manager.create(values, shape)) {
            return doubles.toType(like.getDataType(), false);
        }
    }
}
