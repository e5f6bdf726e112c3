package io.github.so4j.curvature.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * The Kronecker-factored Fisher block of a dense layer \( y = W a + b \) (K-FAC, Martens and Grosse
 * 2015): \( A \) over the layer's inputs with the homogeneous coordinate for the bias, \( G \) over
 * the per-example gradients with respect to its outputs.
 *
 * <p>Inputs with more than two dimensions, shape (N, ..., p), are read as N examples with S = R / N
 * rows each, and the statistics are those of {@link KroneckerFactoredBlock} (a sum over the rows of
 * an example, as for the positions of a convolution).
 *
 * <p><b>Cost</b> per statistics: \( 2R(p^2 + q^2) \) flops; memory: see {@link KroneckerFactors}.
 *
 * @see <a href="https://arxiv.org/abs/1503.05671">paper</a>
 */
public final class LinearKroneckerFactored extends KroneckerFactoredBlock {

    private final long inputFeatures;
    private final long outputFeatures;

    /**
     * Creates the block of a dense layer.
     *
     * @param manager the manager whose device holds the factors
     * @param name the layer's name, for messages
     * @param inputFeatures the number of inputs, at least 1
     * @param outputFeatures q, the number of outputs, at least 1
     * @param bias whether the layer has a bias
     * @param settings decay, inversion mode and failure policy
     * @throws IllegalArgumentException if a size is below 1
     */
    public LinearKroneckerFactored(
            NDManager manager,
            String name,
            long inputFeatures,
            long outputFeatures,
            boolean bias,
            KroneckerSettings settings) {
        super(manager, name, checked(outputFeatures, inputFeatures), bias, settings);
        this.inputFeatures = inputFeatures;
        this.outputFeatures = outputFeatures;
    }

    private static Shape checked(long outputFeatures, long inputFeatures) {
        if (inputFeatures < 1 || outputFeatures < 1) {
            throw new IllegalArgumentException(
                    "a dense layer needs at least one input and one output, but had "
                            + inputFeatures
                            + " and "
                            + outputFeatures);
        }
        return new Shape(outputFeatures, inputFeatures);
    }

    /**
     * Computes one batch's factor statistics.
     *
     * @param input the layer's input, shape (N, ..., inputFeatures). Not modified.
     * @param outputGradient \( \partial L / \partial y \) of the batch-mean loss, shape (N, ...,
     *     outputFeatures). Not modified.
     * @return \( \hat A \) and \( \hat G \), new arrays owned by the managers of {@code input} and
     *     {@code outputGradient}
     */
    @Override
    public FactorStatistics statistics(NDArray input, NDArray outputGradient) {
        long examples = input.getShape().get(0);
        return statisticsOfRows(
                input.reshape(-1, inputFeatures),
                outputGradient.reshape(-1, outputFeatures),
                examples);
    }
}
