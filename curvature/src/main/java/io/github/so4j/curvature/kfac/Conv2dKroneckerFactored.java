package io.github.so4j.curvature.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * The Kronecker-factored Fisher block of a 2-D convolution with one group (KFC, Grosse and Martens
 * 2016): \( A \) over the input patches at every output position (with the homogeneous coordinate
 * for the bias), \( G \) over the per-example gradients with respect to the output at every
 * position.
 *
 * <p>With T output positions per example the statistics are those of {@link KroneckerFactoredBlock}
 * with S = T: \( \hat A = \frac{1}{N} \sum_{n,t} \bar a_{n,t} \bar a_{n,t}^\top \) (the KFC paper's
 * \( \Omega \), a sum over positions) and \( \hat G = \frac{1}{N T} \sum_{n,t} g_{n,t} g_{n,t}^\top
 * \) (its \( \Gamma \), a mean over positions). The patches come from {@link Im2col}, on the
 * device; any kernel, stride, padding and dilation.
 *
 * <p><b>Cost</b> per statistics: the im2col convolution plus \( 2NT(p^2 + q^2) \) flops for p = C
 * kh kw + 1 and q output channels; the patches take NT(p - 1) entries.
 *
 * @see <a href="https://arxiv.org/abs/1602.01407">paper</a>
 */
public final class Conv2dKroneckerFactored extends KroneckerFactoredBlock {

    private final long filters;
    private final Im2col im2col;

    /**
     * Creates the block of a convolution.
     *
     * @param manager the manager whose device holds the factors
     * @param name the layer's name, for messages
     * @param weightShape (filters, C, kh, kw)
     * @param bias whether the layer has a bias
     * @param stride the convolution's stride
     * @param padding the convolution's zero padding
     * @param dilation the convolution's dilation
     * @param settings decay, inversion mode and failure policy
     * @throws IllegalArgumentException if the weight is not 4-D or a shape is not 2-D
     */
    public Conv2dKroneckerFactored(
            NDManager manager,
            String name,
            Shape weightShape,
            boolean bias,
            Shape stride,
            Shape padding,
            Shape dilation,
            KroneckerSettings settings) {
        super(manager, name, checked(weightShape), bias, settings);
        this.filters = weightShape.get(0);
        this.im2col =
                new Im2col(
                        manager,
                        weightShape.get(1),
                        weightShape.slice(2),
                        stride,
                        padding,
                        dilation);
    }

    private static Shape checked(Shape weightShape) {
        if (weightShape.dimension() != 4) {
            throw new IllegalArgumentException(
                    "a 2-D convolution's weight has shape (filters, channels, kh, kw), but was "
                            + weightShape);
        }
        return weightShape;
    }

    /**
     * Computes one batch's factor statistics.
     *
     * @param input the layer's input, (N, C, H, W). Not modified.
     * @param outputGradient \( \partial L / \partial y \) of the batch-mean loss, (N, filters, Ho,
     *     Wo). Not modified.
     * @return \( \hat A \) and \( \hat G \), new arrays owned by the managers of {@code input} and
     *     {@code outputGradient}
     */
    @Override
    public FactorStatistics statistics(NDArray input, NDArray outputGradient) {
        long examples = input.getShape().get(0);
        NDArray patches = im2col.patches(input);
        NDArray rows = outputGradient.transpose(0, 2, 3, 1).reshape(-1, filters);
        return statisticsOfRows(patches, rows, examples);
    }

    /**
     * {@inheritDoc}
     *
     * <p>With the im2col kernel, C kh kw x kh kw numbers in the input's dtype once a statistic was
     * computed.
     */
    @Override
    public NDList arrays() {
        NDList arrays = super.arrays();
        arrays.addAll(im2col.arrays());
        return arrays;
    }

    /** Frees the factors and the im2col kernel. */
    @Override
    public void close() {
        im2col.close();
        super.close();
    }
}
