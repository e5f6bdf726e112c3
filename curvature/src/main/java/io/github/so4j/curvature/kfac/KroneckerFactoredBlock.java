package io.github.so4j.curvature.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * One layer's Kronecker-factored Fisher block: turns what the layer saw in a batch (its inputs and
 * the gradient of the loss with respect to its outputs) into factor statistics, and its weight and
 * bias gradients into preconditioned directions.
 *
 * <p>A layer with weight W (q outputs, shape (q, ...)) and an optional bias b is treated as one q x
 * p matrix \( [W, b] \), with p the number of weight entries per output plus one for the bias,
 * which multiplies the homogeneous input coordinate 1. For a batch of N examples whose layer inputs
 * form R rows \( \bar a_r \) (one per example for a dense layer, one per example and output
 * position for a convolution: S = R / N positions per example), with \( \delta_r \) the matching
 * rows of \( \partial L / \partial y \) of the batch-mean loss \( L = \frac{1}{N} \sum_n \ell_n \)
 * (DJL's losses), the per-example output gradients are \( g_r = N \delta_r \) and the statistics
 * are those of the KFC paper (Grosse and Martens 2016), which for S = 1 are the K-FAC paper's:
 *
 * <p>\( \hat A = \frac{1}{N} \sum_r \bar a_r \bar a_r^\top \), \( \hat G = \frac{1}{N S} \sum_r g_r
 * g_r^\top = \frac{N}{S} \sum_r \delta_r \delta_r^\top \)
 *
 * <p>so that, for one example and S = 1, \( \hat A \otimes \hat G \) is exactly that example's
 * Fisher block \( \mathrm{vec}(\nabla_{[W,b]} \ell) \mathrm{vec}(\nabla_{[W,b]} \ell)^\top \). A
 * dense layer whose rows are themselves the loss's examples (tokens of a sequence under a loss
 * averaged over tokens, {@link LossAverage#ROWS}) takes N = R, S = 1 ({@link
 * LinearKroneckerFactored} derives both readings).
 *
 * <p><b>Cost</b> of the statistics: \( 2R(p^2 + q^2) \) flops; of a direction: a concatenation and
 * a split of the q x p matrix plus {@link KroneckerFactors#precondition}, or, for a dense layer
 * given its gradient's rows, {@link KroneckerFactors#preconditionRows} and a split.
 *
 * @see <a href="https://arxiv.org/abs/1503.05671">paper</a>
 * @see <a href="https://arxiv.org/abs/1602.01407">KFC paper</a>
 */
public abstract sealed class KroneckerFactoredBlock implements AutoCloseable
        permits LinearKroneckerFactored, Conv2dKroneckerFactored {

    private final String name;
    private final Shape weightShape;
    private final boolean bias;
    private final long outputs;
    private final long weightColumns;
    private final KroneckerFactors factors;

    /**
     * Creates the block of a layer.
     *
     * @param manager the manager whose device holds the factors
     * @param name the layer's name, for messages
     * @param weightShape the weight's shape, outputs first
     * @param bias whether the layer has a bias
     * @param settings decay, inversion mode and failure policy
     */
    KroneckerFactoredBlock(
            NDManager manager,
            String name,
            Shape weightShape,
            boolean bias,
            KroneckerSettings settings) {
        this.name = name;
        this.weightShape = weightShape;
        this.bias = bias;
        this.outputs = weightShape.get(0);
        this.weightColumns = weightShape.size() / outputs;
        this.factors =
                new KroneckerFactors(
                        manager, name, weightColumns + (bias ? 1 : 0), outputs, settings);
    }

    /**
     * Computes one batch's factor statistics.
     *
     * @param input the layer's input in the batch, examples first. Not modified.
     * @param outputGradient \( \partial L / \partial y \) of the batch-mean loss, shaped as the
     *     layer's output. Not modified.
     * @return \( \hat A \) and \( \hat G \), new arrays owned by the managers of {@code input} and
     *     {@code outputGradient}
     */
    public abstract FactorStatistics statistics(NDArray input, NDArray outputGradient);

    /**
     * Computes the statistics from rows: \( \hat A = \frac{1}{N} \bar P^\top \bar P \) with \( \bar
     * P = [P, 1] \) and \( \hat G = \frac{N^2}{R} D^\top D \).
     *
     * @param inputRows P, R x (p - 1) or R x p without a bias. Not modified.
     * @param outputGradientRows D, R x q. Not modified.
     * @param examples N
     * @return the statistics, owned by the managers of the two arguments
     */
    final FactorStatistics statisticsOfRows(
            NDArray inputRows, NDArray outputGradientRows, long examples) {
        long rows = inputRows.getShape().get(0);
        // [P, 1]^T [P, 1] in one product: the R x 1 column of ones costs less than assembling the
        // p x p result from P^T P, the column sums and the count
        NDArray homogeneous =
                bias
                        ? inputRows.concat(
                                inputRows
                                        .getManager()
                                        .ones(new Shape(rows, 1), inputRows.getDataType()),
                                1)
                        : inputRows;
        NDArray inputStatistic = homogeneous.transpose().matMul(homogeneous);
        inputStatistic.muli(1.0 / examples);
        NDArray outputStatistic =
                outputGradientRows
                        .transpose()
                        .matMul(outputGradientRows)
                        .muli((double) examples * examples / rows);
        return new FactorStatistics(inputStatistic, outputStatistic);
    }

    /**
     * Preconditions the layer's gradient with the damped inverse of the last refresh.
     *
     * @param weightGradient the weight's gradient, shaped as the weight. Not modified.
     * @param biasGradient the bias's gradient, or {@code null} for a layer without bias. Not
     *     modified.
     * @return the directions for the weight and (if any) the bias, shaped as they are (views of one
     *     q x p array), and \( \langle V, M \rangle \); new arrays owned by {@code
     *     weightGradient}'s manager
     * @throws IllegalStateException if there is no preconditioner yet
     */
    public final LayerDirection precondition(NDArray weightGradient, NDArray biasGradient) {
        return preconditionScaled(weightGradient, biasGradient).scaled();
    }

    /**
     * {@link #precondition} with the product's overall factor possibly left to the caller (see
     * {@link LayerDirection}): in {@link InversionMode#LOW_RANK} with both factors low-rank, \( V =
     * c_G c_A (M + L R) \) ({@link KroneckerFactors#preconditionLowRank}) comes as \( M + L R \)
     * and \( s = c_G c_A \), computed on the weight and the bias apart, so that neither the q x p
     * matrix \( [W, b] \) nor the scaled product is ever formed: two passes over the layer fewer.
     * Every other mode returns s = null and the directions of {@link #precondition}.
     *
     * @param weightGradient the weight's gradient, shaped as the weight. Not modified.
     * @param biasGradient the bias's gradient, or {@code null} for a layer without bias. Not
     *     modified.
     * @return U split as the parameters, \( \langle V, M \rangle \) and s; new arrays owned by
     *     {@code weightGradient}'s manager
     * @throws IllegalStateException if there is no preconditioner yet
     */
    public final LayerDirection preconditionScaled(NDArray weightGradient, NDArray biasGradient) {
        NDArray matrix = weightGradient.reshape(outputs, weightColumns);
        if (factors.hasLowRankSides()) {
            NDArray column = bias ? biasGradient.reshape(outputs, 1) : null;
            NDList product = factors.preconditionLowRank(matrix, column);
            NDArray scale = product.get(product.size() - 1);
            NDArray weightPart = product.get(0);
            NDArray dot = weightPart.reshape(-1).dot(matrix.reshape(-1));
            NDList directions = new NDList(weightPart.reshape(weightShape));
            if (bias) {
                NDArray biasPart = product.get(1);
                dot.addi(biasPart.reshape(-1).dot(column.reshape(-1)));
                directions.add(biasPart.reshape(biasGradient.getShape()));
            }
            return new LayerDirection(directions, dot.muli(scale), scale);
        }
        if (bias) {
            matrix = matrix.concat(biasGradient.reshape(outputs, 1), 1);
        }
        NDArray direction = factors.precondition(matrix);
        NDArray squaredNorm = direction.reshape(-1).dot(matrix.reshape(-1));
        if (!bias) {
            return new LayerDirection(new NDList(direction.reshape(weightShape)), squaredNorm);
        }
        NDArray weightDirection =
                direction.get(new NDIndex(":, :{}", weightColumns)).reshape(weightShape);
        NDArray biasDirection = direction.get(new NDIndex(":, {}", weightColumns));
        return new LayerDirection(new NDList(weightDirection, biasDirection), squaredNorm);
    }

    /**
     * Preconditions the layer's gradient from its factored form \( M = D^\top \bar P \) ({@link
     * KroneckerFactors#preconditionRows}), for a caller that knows that form to be the gradient
     * given. Only the squared norm reads the gradient itself.
     *
     * @param weightGradient the weight's gradient, shaped as the weight. Not modified.
     * @param biasGradient the bias's gradient, or {@code null} for a layer without bias. Not
     *     modified.
     * @param inputRows P, R x (weight columns). Not modified.
     * @param outputRows D, R x q. Not modified.
     * @return as {@link #precondition(NDArray, NDArray)}, up to rounding
     */
    final LayerDirection preconditionRows(
            NDArray weightGradient, NDArray biasGradient, NDArray inputRows, NDArray outputRows) {
        NDArray direction = factors.preconditionRows(outputRows, inputRows, bias);
        NDArray weightMatrix = weightGradient.reshape(outputs, weightColumns);
        if (!bias) {
            NDArray squaredNorm = direction.reshape(-1).dot(weightMatrix.reshape(-1));
            return new LayerDirection(new NDList(direction.reshape(weightShape)), squaredNorm);
        }
        NDArray weightPart = direction.get(new NDIndex(":, :{}", weightColumns));
        NDArray biasDirection = direction.get(new NDIndex(":, {}", weightColumns));
        NDArray squaredNorm =
                weightPart.mul(weightMatrix).sum().addi(biasDirection.dot(biasGradient));
        return new LayerDirection(
                new NDList(weightPart.reshape(weightShape), biasDirection), squaredNorm);
    }

    /**
     * Returns the running factors and their preconditioner.
     *
     * @return the factors
     */
    public final KroneckerFactors factors() {
        return factors;
    }

    /**
     * Returns every array this block holds between steps, for measuring its memory: those of its
     * {@link KroneckerFactors#arrays() factors}, and of the constants a kind of layer keeps (a
     * convolution's im2col kernel). Not copies; nothing is read from the device.
     *
     * @return the arrays
     */
    public NDList arrays() {
        return factors.arrays();
    }

    /**
     * Returns the layer's name.
     *
     * @return the name given at construction
     */
    public final String name() {
        return name;
    }

    /**
     * Returns the weight's shape.
     *
     * @return the shape, outputs first
     */
    public final Shape weightShape() {
        return weightShape;
    }

    /**
     * Returns whether the layer has a bias, which takes the last row and column of \( A \).
     *
     * @return whether there is a bias
     */
    public final boolean hasBias() {
        return bias;
    }

    /** Frees the factors. */
    @Override
    public void close() {
        factors.close();
    }
}
