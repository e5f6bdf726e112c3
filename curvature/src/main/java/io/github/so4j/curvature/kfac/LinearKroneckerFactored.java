package io.github.so4j.curvature.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * The Kronecker-factored Fisher block of a dense layer \( y = W a + b \) (K-FAC, Martens and Grosse
 * 2015): \( A \) over the layer's inputs with the homogeneous coordinate for the bias, \( G \) over
 * the per-example gradients with respect to its outputs.
 *
 * <p><b>Inputs with more than two axes</b>, (N, T, ..., p) (a transformer's projections see (N, T,
 * p): N sequences of T tokens), are R = N T ... rows \( \bar a_r = [a_r; 1] \) sharing the weight,
 * with output-gradient rows \( \delta_r = \partial L / \partial y_r \). What the rows are depends
 * on what the loss averages over ({@link LossAverage}).
 *
 * <p>{@link LossAverage#ROWS}, tokens as examples (Eschenhagen et al. 2023, "expand"): the batch
 * loss is the mean over every token, \( L = \frac{1}{R} \sum_r \ell_r \), as DJL's softmax
 * cross-entropy on (N, T, V) logits with per-token labels (N, T, 1) is. Let \( g_r = R \delta_r \),
 * which is \( \partial (\sum_{r'} \ell_{r'}) / \partial y_r \): the gradient of the token losses of
 * the sequence with respect to this token's output (\( \partial \ell_r / \partial y_r \) when
 * tokens do not interact; through attention, later tokens' losses contribute too). The gradient is
 * the mean of the tokens' gradients, \( \nabla_{[W,b]} L = \sum_r \delta_r \bar a_r^\top =
 * \frac{1}{R} \sum_r g_r \bar a_r^\top \), and with the tokens as the examples (the cross terms
 * between tokens dropped, which is exact when they do not interact) the Fisher of L is the same
 * mean of the tokens' Fishers, with \( \mathrm{vec}(g \bar a^\top) = \bar a \otimes g \):
 *
 * <p>\( F = \frac{1}{R} \sum_r (\bar a_r \bar a_r^\top) \otimes (g_r g_r^\top) \approx \Big(
 * \frac{1}{R} \sum_r \bar a_r \bar a_r^\top \Big) \otimes \Big( \frac{1}{R} \sum_r g_r g_r^\top
 * \Big) = \hat A \otimes \hat G \), so \( \hat A = \frac{1}{R} \sum_r \bar a_r \bar a_r^\top \) and
 * \( \hat G = R \sum_r \delta_r \delta_r^\top \)
 *
 * <p>(the mean of Kronecker products replaced by the product of the means: K-FAC's approximation,
 * exact for one token). Averaging the Fisher as the loss is averaged keeps \( F^{-1} \nabla L \)
 * independent of N and T.
 *
 * <p>{@link LossAverage#EXAMPLES}, the reading of a convolution's positions (KFC): \( \hat A' =
 * \frac{1}{N} \sum_r \bar a_r \bar a_r^\top = T \hat A \) and \( \hat G' = \frac{N^2}{R} \sum_r
 * \delta_r \delta_r^\top = \hat G / T^2 \). It is right for a loss averaged over the N sequences
 * (then \( g_r = N \delta_r \)), but on a loss averaged over tokens \( \hat A' \otimes \hat G' = F
 * / T \), the Fisher of each sequence's mean loss \( \frac{1}{T} \sum_t \ell_{n,t} \): T times too
 * small, and since \( (F / T + \lambda I)^{-1} = T (F + T \lambda I)^{-1} \), steps T times longer
 * and damped as if by \( T \lambda \). For inputs (N, p) the two coincide (R = N).
 *
 * <p><b>Cost</b> per statistics: \( 2R(p^2 + q^2) \) flops; memory: see {@link KroneckerFactors}.
 *
 * @see <a href="https://arxiv.org/abs/1503.05671">paper</a>
 * @see <a href="https://arxiv.org/abs/2311.00636">K-FAC for modern architectures (expand)</a>
 */
public final class LinearKroneckerFactored extends KroneckerFactoredBlock {

    private final long inputFeatures;
    private final long outputFeatures;
    private final LossAverage lossAverage;

    /**
     * Creates the block of a dense layer whose rows beyond the first axis belong to their example
     * ({@link LossAverage#EXAMPLES}, the same as {@link LossAverage#ROWS} for inputs (N, p)).
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
        this(manager, name, inputFeatures, outputFeatures, bias, settings, LossAverage.EXAMPLES);
    }

    /**
     * Creates the block of a dense layer.
     *
     * @param manager the manager whose device holds the factors
     * @param name the layer's name, for messages
     * @param inputFeatures the number of inputs, at least 1
     * @param outputFeatures q, the number of outputs, at least 1
     * @param bias whether the layer has a bias
     * @param settings decay, inversion mode and failure policy
     * @param lossAverage what the loss averages over, for inputs with more than two axes
     * @throws IllegalArgumentException if a size is below 1 or {@code lossAverage} is null
     */
    public LinearKroneckerFactored(
            NDManager manager,
            String name,
            long inputFeatures,
            long outputFeatures,
            boolean bias,
            KroneckerSettings settings,
            LossAverage lossAverage) {
        super(manager, name, checked(outputFeatures, inputFeatures, lossAverage), bias, settings);
        this.inputFeatures = inputFeatures;
        this.outputFeatures = outputFeatures;
        this.lossAverage = lossAverage;
    }

    private static Shape checked(long outputFeatures, long inputFeatures, LossAverage lossAverage) {
        if (lossAverage == null) {
            throw new IllegalArgumentException("lossAverage must not be null");
        }
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
     * Returns what the loss is taken to average over.
     *
     * @return ROWS or EXAMPLES
     */
    public LossAverage lossAverage() {
        return lossAverage;
    }

    /**
     * Computes one batch's factor statistics: with R rows, \( \hat A = \frac{1}{E} \bar P^\top \bar
     * P \) and \( \hat G = \frac{E^2}{R} D^\top D \), E = R ({@link LossAverage#ROWS}) or N ({@link
     * LossAverage#EXAMPLES}).
     *
     * @param input the layer's input, shape (N, ..., inputFeatures). Not modified.
     * @param outputGradient \( \partial L / \partial y \) of the batch loss, shape (N, ...,
     *     outputFeatures). Not modified.
     * @return \( \hat A \) and \( \hat G \), new arrays owned by the managers of {@code input} and
     *     {@code outputGradient}
     */
    @Override
    public FactorStatistics statistics(NDArray input, NDArray outputGradient) {
        Shape shape = input.getShape();
        long examples =
                lossAverage == LossAverage.ROWS ? shape.size() / inputFeatures : shape.get(0);
        return statisticsOfRows(
                input.reshape(-1, inputFeatures),
                outputGradient.reshape(-1, outputFeatures),
                examples);
    }

    /**
     * Returns the number of rows R of recorded inputs: their sizes over the number of inputs.
     *
     * @param inputs the layer's inputs of a step, each shaped (N, ..., inputFeatures)
     * @return R
     */
    public long rows(NDList inputs) {
        long rows = 0;
        for (NDArray input : inputs) {
            rows += input.size() / inputFeatures;
        }
        return rows;
    }

    /**
     * Preconditions the layer's gradient from the step's recordings, for a gradient that is theirs:
     * \( [\nabla W, \nabla b] = \sum_r \delta_r \bar a_r^\top = D^\top \bar P \) (rows of every
     * recorded input and output gradient, \( \bar P = [P, 1] \)), which holds when the loss reaches
     * the weight only through these forwards and the optimizer was handed the gradient unchanged.
     * Then \( V = \big((G + d_G I)^{-1} D^\top\big)\big(\bar P (A + d_A I)^{-1}\big) \), the same
     * as {@link #precondition(NDArray, NDArray)} up to rounding, at \( 2R(q^2 + p^2 + qp) \) flops
     * instead of \( 2qp(q + p) \): cheaper when R is small against p ({@code
     * factors().rowsAreCheaper(R)}).
     *
     * @param weightGradient the weight's gradient. Not modified.
     * @param biasGradient the bias's gradient, or {@code null} for a layer without bias. Not
     *     modified.
     * @param inputs the layer's inputs, each (N, ..., inputFeatures). Not modified.
     * @param outputGradients \( \partial L / \partial y \) of each, (N, ..., outputFeatures),
     *     already multiplied by any factor the gradient was scaled by. Not modified.
     * @return the directions and \( \langle V, M \rangle \), owned by {@code weightGradient}'s
     *     manager
     * @throws IllegalArgumentException if the lists differ in length or are empty
     * @throws IllegalStateException if there is no preconditioner yet or the mode is EIGEN
     */
    public LayerDirection precondition(
            NDArray weightGradient, NDArray biasGradient, NDList inputs, NDList outputGradients) {
        if (inputs.isEmpty() || inputs.size() != outputGradients.size()) {
            throw new IllegalArgumentException(
                    "inputs and outputGradients must be as many and at least one, but were "
                            + inputs.size()
                            + " and "
                            + outputGradients.size());
        }
        NDManager caller = weightGradient.getManager();
        try (NDManager scope = caller.newSubManager()) {
            NDList inputRows = new NDList(inputs.size());
            NDList outputRows = new NDList(inputs.size());
            for (int i = 0; i < inputs.size(); i++) {
                NDArray input = inputs.get(i).reshape(-1, inputFeatures);
                NDArray outputGradient = outputGradients.get(i).reshape(-1, outputFeatures);
                input.attach(scope);
                outputGradient.attach(scope);
                inputRows.add(input);
                outputRows.add(outputGradient);
            }
            NDArray p = inputRows.size() == 1 ? inputRows.head() : NDArrays.concat(inputRows);
            NDArray d = outputRows.size() == 1 ? outputRows.head() : NDArrays.concat(outputRows);
            LayerDirection direction = preconditionRows(weightGradient, biasGradient, p, d);
            direction.directions().attach(caller);
            direction.squaredNorm().attach(caller);
            return direction;
        }
    }
}
