package io.github.so4j.optimizers.transform;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.linalg.NewtonSchulzOrthogonalizer;
import java.util.List;

/**
 * Muon's direction: the direction viewed as a matrix, replaced by its approximate orthogonal polar
 * factor and scaled by a function of its shape.
 *
 * <p>A direction of shape \( (m, k_1, \dots, k_j) \) (a dense weight, m x n; a convolution kernel,
 * out x in x kh x kw) is viewed as the m x n matrix D with \( n = k_1 \cdots k_j \) (out x in·kh·kw
 * for a kernel), and becomes
 *
 * <p>\( d \leftarrow s(m, n) \cdot \mathrm{NS}(D) \), reshaped back,
 *
 * <p>where NS is {@link NewtonSchulzOrthogonalizer} (\( U f(\Sigma / (\|D\|_F + \epsilon)) V^\top
 * \), singular values in a band about 1) and s is the {@link Scale}: \( \sqrt{\max(1, m / n)} \)
 * (Keller Jordan's, {@link Scale#ORIGINAL}) or \( 0.2 \sqrt{\max(m, n)} \) (Moonlight's, {@link
 * Scale#MATCH_RMS_ADAMW}). (Keller Jordan's {@code muon.py} computes its scale from the last two
 * dimensions of the unflattened gradient, kh / kw for a kernel; this class uses the matrix that is
 * orthogonalised, as {@code torch.optim.Muon} does for the matrices it accepts.)
 *
 * <p><b>Cost</b>: that of the iteration, \( 20 r^2 l + 10 r^3 \) flops for 5 steps with r = min(m,
 * n), l = max(m, n), plus 1 pass for the scale; no state.
 */
public final class Orthogonalize implements Transform {

    /** The factor that multiplies the orthogonalised matrix, by its shape m x n. */
    public enum Scale {
        /**
         * \( \sqrt{\max(1, m / n)} \): Keller Jordan's Muon, {@code torch.optim.Muon}'s default
         * ({@code adjust_lr_fn="original"}).
         */
        ORIGINAL,
        /**
         * \( 0.2 \sqrt{\max(m, n)} \): Moonlight's scale (Liu et al., "Muon is Scalable for LLM
         * Training", 2025), which gives the update about the root-mean-square entry of AdamW's, so
         * that AdamW's learning rate and weight decay carry over ({@code torch.optim.Muon}'s {@code
         * adjust_lr_fn="match_rms_adamw"}).
         */
        MATCH_RMS_ADAMW;

        /**
         * Returns the factor for an m x n matrix.
         *
         * @param rows m
         * @param columns n
         * @return the factor
         */
        public double factor(long rows, long columns) {
            return this == ORIGINAL
                    ? Math.sqrt(Math.max(1.0, (double) rows / columns))
                    : 0.2 * Math.sqrt(Math.max(rows, columns));
        }
    }

    private final NewtonSchulzOrthogonalizer orthogonalizer;
    private final Scale scale;

    /**
     * Creates the transform.
     *
     * @param orthogonalizer the iteration
     * @param scale the factor by shape
     * @throws IllegalArgumentException if either is {@code null}
     */
    public Orthogonalize(NewtonSchulzOrthogonalizer orthogonalizer, Scale scale) {
        if (orthogonalizer == null) {
            throw new IllegalArgumentException("orthogonalizer must not be null");
        }
        if (scale == null) {
            throw new IllegalArgumentException("updateScale must not be null");
        }
        this.orthogonalizer = orthogonalizer;
        this.scale = scale;
    }

    /**
     * Returns the matrix a direction of this shape is viewed as: its first dimension by the product
     * of the others.
     *
     * @param shape the shape, of 2 dimensions or more
     * @return (m, n)
     * @throws IllegalArgumentException if the shape has fewer than 2 dimensions
     */
    public static Shape matrixShape(Shape shape) {
        if (shape.dimension() < 2) {
            throw new IllegalArgumentException(
                    "only parameters of 2 dimensions or more can be orthogonalised, but the shape"
                            + " was "
                            + shape);
        }
        long rows = shape.get(0);
        return new Shape(rows, rows == 0 ? 0 : shape.size() / rows);
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "orthogonalize";
    }

    /** {@inheritDoc} */
    @Override
    public List<String> stateNames() {
        return List.of();
    }

    /** {@inheritDoc} */
    @Override
    public NDList init(NDArray weight) {
        return new NDList();
    }

    /** {@inheritDoc} */
    @Override
    public Result apply(NDArray direction, NDList state, Context context) {
        Shape shape = direction.getShape();
        Shape matrix = matrixShape(shape);
        NDArray orthogonal =
                orthogonalizer.orthogonalize(direction.reshape(matrix), direction.getManager());
        NDArray out = orthogonal.reshape(shape);
        double factor = scale.factor(matrix.get(0), matrix.get(1));
        if (factor != 1) {
            out = out.mul(factor);
        }
        return new Result(out, new NDList());
    }

    /**
     * Returns the iteration.
     *
     * @return the orthogonalizer
     */
    public NewtonSchulzOrthogonalizer orthogonalizer() {
        return orthogonalizer;
    }

    /**
     * Returns the factor by shape.
     *
     * @return the scale
     */
    public Scale scale() {
        return scale;
    }
}
