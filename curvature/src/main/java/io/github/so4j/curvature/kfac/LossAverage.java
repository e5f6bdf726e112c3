package io.github.so4j.curvature.kfac;

/**
 * What the training loss averages over, when a dense layer sees inputs with more than two axes, (N,
 * T, ..., p): a batch of N sequences of T tokens (or any leading axes), R = N T ... rows.
 *
 * <p>With \( \delta_r = \partial L / \partial y_r \) the rows of the output gradient of the batch
 * loss \( L = \frac{1}{E} \sum_e \ell_e \), a loss averaged over E examples, the per-example output
 * gradients are \( g_r = E \delta_r \) and the Fisher of L, with the rows as the Kronecker sum's
 * terms (Eschenhagen et al. 2023, "expand"), is \( \hat A \otimes \hat G \) with \( \hat A =
 * \frac{1}{E} \sum_r \bar a_r \bar a_r^\top \) and \( \hat G = \frac{E^2}{R} \sum_r \delta_r
 * \delta_r^\top \): the two choices below differ only in E, and their products differ by the factor
 * \( E_{\mathrm{ROWS}} / E_{\mathrm{EXAMPLES}} = T \). For two-axis inputs (N, p) both are E = N =
 * R. The derivation is in {@link LinearKroneckerFactored}.
 *
 * <p><b>Cost</b>: none; it only sets E.
 */
public enum LossAverage {

    /**
     * E = R: the loss is the mean over every row, every token being an example. DJL's losses
     * average over every element they compute, so softmax cross-entropy on (N, T, V) logits with
     * per-token labels is this case (a language model). \( \hat A = \frac{1}{R} \sum_r \bar a_r
     * \bar a_r^\top \), \( \hat G = R \sum_r \delta_r \delta_r^\top \).
     */
    ROWS,

    /**
     * E = N: the loss is the mean over the first axis, each example's loss depending on all its
     * rows (a sequence classifier with one label per sequence, or a loss summed over a sequence's
     * tokens and averaged over sequences). The rows of an example add their contributions, as a
     * convolution's output positions do (KFC's \( \Omega \) and \( \Gamma \)): \( \hat A =
     * \frac{1}{N} \sum_r \bar a_r \bar a_r^\top \), \( \hat G = \frac{N^2}{R} \sum_r \delta_r
     * \delta_r^\top \).
     */
    EXAMPLES
}
