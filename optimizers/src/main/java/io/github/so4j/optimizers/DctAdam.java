package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.lowrank.DctBasis;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * DCT-AdamW: Adam on r columns of the gradient's discrete cosine transform, the columns chosen by
 * their norm every T steps; an SVD-free {@link GaLore}.
 *
 * <p>For a projected parameter (an m x n matrix G, projected on side s; see {@link LowRankAdam} for
 * the moments, the scale, weight decay and the parameters that move by AdamW), Q is the orthonormal
 * DCT-II basis of \( \mathbb{R}^s \) ({@link DctBasis}, closed form, built once per size and dtype
 * and shared by every parameter with that side), and the basis is r of its columns, \( B = Q_{:, I}
 * \):
 *
 * <p>on a refresh, \( S = Q^\top G \) (left) or \( S = G Q \) (right), the transforms of G's
 * columns or rows; \( I \) = the indices of the r largest \( \ell_1 \) norms (or, by choice, \(
 * \ell_2 \) norms) of S's rows (left) or columns (right) ({@code topK} on the device), in
 * increasing order; \( R = S_{I, :} \) or \( S_{:, I} \)<br>
 * on other steps, \( R = B^\top G \) or \( G B \) with the stored I
 *
 * <p>A refresh happens at a parameter's first step and at every taken step t with t divisible by T.
 * Only the r indices are stored per parameter. The moments are kept across refreshes, as the
 * reference keeps them by default ({@code rotate_subspace=False}): a moment's column follows the
 * position in I, not the DCT frequency.
 *
 * <p>This is DCT-AdamW of the reference code ({@code ista_daslab_optimizers/fft_low_rank}, {@code
 * DCTAdamW} with {@code proj="dct"}, commit 4c98e6e), with these choices: the basis is the DCT-II's
 * (the columns of Q are the DCT-II cosines, so S is the DCT of G; the reference's default {@code
 * sim_type="matmul"} multiplies by the transposed matrix, the DCT-III's, and its FFT variant {@code
 * "makhoul"} by this one; both are orthonormal); the indices are sorted, where the reference keeps
 * {@code topk(sorted=False)}'s order; the reference's error feedback ({@code use_ef}, a full-size
 * buffer that would cancel the memory saving) and moment rotation ({@code rotate_subspace}) are
 * left out, both off by default there. Its special case for (1024, 4096) and (512, 3584) weights of
 * particular LLMs is not kept: the side follows {@link LowRankAdam.ProjectionSide}.
 *
 * <p>Defaults: rank 128 (GaLore's and Online Subspace Descent's, capped at a quarter of a matrix's
 * smaller side), T = 200 (GaLore's period, whose SVD the method replaces; the reference class's own
 * default, 1, refreshes every step), learning rate 1e-3, \( \beta = (0.9, 0.999) \), \( \epsilon =
 * 10^{-8} \) (the reference's), no scale (\( \alpha = 1 \)), weight decay 0, the \( \ell_1 \) norm,
 * no moment rotation.
 *
 * <p><b>Host reads</b>: at a parameter's first step and on refresh steps, the step's decision
 * ({@link Step#accepted()}, one read) and, when rejected steps the host has not heard of could move
 * the schedule, the step's index (one more); the refresh itself is products and a top-k on the
 * device, and ordinary steps read nothing. Deciding on the device instead would need the refresh
 * computed on every step that might be due, and the read leaves the next steps' schedule certain.
 *
 * <p><b>Cost</b> per projected m x n parameter with side s and other side o: on ordinary steps a
 * gather of B (s r numbers) and 2 products, \( 4 s o r \) flops; on a refresh, \( S \), \( 2 s^2 o
 * \) flops, its absolute column sums and a top-k of s numbers. Memory: the moments (2 r o), the r
 * indices (int64), and one s x s basis per distinct (s, dtype).
 *
 * @see <a href="https://arxiv.org/abs/2505.17967">paper</a> (Modoranu et al., SVD-Free Low-Rank
 *     Adaptive Gradient Optimization for Large Language Models, 2025)
 */
public final class DctAdam extends LowRankAdam {

    private static final String INDICES = "indices";

    private final boolean rotateMoments;
    private final int selectionNorm;

    /** The DCT bases by "side:dtype", created on first use, in their own manager. */
    private final Map<String, NDArray> bases = new HashMap<>();

    private NDManager basisManager;

    private DctAdam(Builder builder) {
        super(builder, "dctAdam");
        this.rotateMoments = builder.rotateMoments;
        this.selectionNorm = builder.selectionNorm;
    }

    /**
     * Returns a builder with the defaults described in the class documentation.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** {@inheritDoc} */
    @Override
    protected List<String> projectorStateNames() {
        return List.of(INDICES);
    }

    /** {@inheritDoc} */
    @Override
    protected List<StateSpec> projectorStateSpecs(Layout layout) {
        return List.of(new StateSpec(new Shape(layout.rank()), DataType.INT64));
    }

    /** {@inheritDoc} */
    @Override
    protected boolean refreshDue(long index) {
        return index % getUpdatePeriod() == 0;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList shared(Layout layout) {
        return new NDList(basis(layout));
    }

    /** {@inheritDoc} */
    @Override
    protected long sharedStateBytes(List<Layout> layouts) {
        Set<String> sizes = new HashSet<>();
        long bytes = 0;
        for (Layout layout : layouts) {
            if (sizes.add(key(layout))) {
                bytes += layout.side() * layout.side() * layout.dataType().getNumOfBytes();
            }
        }
        return bytes;
    }

    /** {@inheritDoc} */
    @Override
    protected Projection project(
            Layout layout, NDList state, NDArray g, boolean refresh, NDManager scope) {
        NDArray q = basis(layout);
        if (!refresh) {
            return new Projection(columns(q, state.head()), null, null);
        }
        NDArray s = layout.left() ? q.transpose().matMul(g) : g.matMul(q);
        // the l1 norms (the reference's) or the squared l2 norms (the captured energy)
        NDArray magnitudes = selectionNorm == 1 ? s.abs() : s.square();
        NDArray norms = magnitudes.sum(new int[] {layout.left() ? 1 : 0});
        NDArray indices = norms.topK(layout.rank(), 0, true, true).get(1).sort();
        NDArray low =
                layout.left()
                        ? s.get(new NDIndex("{}, :", indices))
                        : s.get(new NDIndex(":, {}", indices));
        return new Projection(columns(q, indices), new NDList(indices), low);
    }

    /**
     * {@inheritDoc}
     *
     * <p>With {@code rotateMoments}, the reference's {@code rotate_subspace}: \( m \leftarrow
     * R^\top m \) (left) or \( m R \) (right), the same for v, with \( R = Q_{:, I_{old}}^\top
     * Q_{:, I_{new}} \), which for the orthonormal Q is the r x r selection matrix \( R_{ij} =
     * [I_{old,i} = I_{new,j}] \), built exactly from the indices: a column kept keeps its moments,
     * a new one starts from 0.
     */
    @Override
    protected NDList carry(Layout layout, NDList state, NDList next, NDList moments) {
        if (!rotateMoments) {
            return moments;
        }
        long r = layout.rank();
        NDArray rotation =
                state.head()
                        .reshape(r, 1)
                        .eq(next.head().reshape(1, r))
                        .toType(layout.dataType(), false);
        NDList carried = new NDList(moments.size());
        for (NDArray moment : moments) {
            carried.add(
                    layout.left() ? rotation.transpose().matMul(moment) : moment.matMul(rotation));
        }
        return carried;
    }

    /**
     * The columns of Q at the indices, Q[:, I], by a gather along the columns (one operation,
     * cheaper in DJL than advanced indexing).
     */
    private static NDArray columns(NDArray q, NDArray indices) {
        long r = indices.size();
        return q.gather(indices.reshape(1, r).broadcast(new Shape(q.getShape().get(0), r)), 1);
    }

    private static String key(Layout layout) {
        return layout.side() + ":" + layout.dataType();
    }

    /**
     * Puts the checkpoint's arrays and the shared DCT bases: a restore recomputes the bases (closed
     * form), so the checkpoint leaves them out, but they occupy memory.
     */
    @Override
    protected void measureState(OptimizerState state) {
        super.measureState(state);
        bases.forEach((side, basis) -> state.put("dctAdam/basis/" + side, basis));
    }

    /** The shared basis of a layout's side and dtype. */
    private NDArray basis(Layout layout) {
        return bases.computeIfAbsent(
                key(layout),
                k -> {
                    if (basisManager == null) {
                        basisManager = stateManager().newSubManager();
                    }
                    return DctBasis.create(
                            basisManager, Math.toIntExact(layout.side()), layout.dataType());
                });
    }

    /**
     * Returns the norm that ranks the transformed columns.
     *
     * @return 1 or 2
     */
    public int getSelectionNorm() {
        return selectionNorm;
    }

    /**
     * Returns whether a refresh carries the moments to the new columns.
     *
     * @return rotateMoments
     */
    public boolean isRotateMoments() {
        return rotateMoments;
    }

    /**
     * Builds {@link DctAdam}; every setting has the default described on {@link DctAdam} and is
     * checked, with its name and value, at {@link #build()}.
     */
    public static final class Builder extends LowRankAdam.Builder<Builder> {

        private boolean rotateMoments;
        private int selectionNorm = 1;

        Builder() {
            super(1e-3f, 128, 1f, 1e-8f);
        }

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets whether a refresh carries Adam's moments to the new columns (the reference's {@code
         * rotate_subspace}): a column kept keeps its moments, a new one starts from 0. Otherwise
         * the moments stay where they are, position by position.
         *
         * @param rotateMoments whether to carry the moments; default false
         * @return this {@code Builder}
         */
        public Builder optRotateMoments(boolean rotateMoments) {
            this.rotateMoments = rotateMoments;
            return this;
        }

        /**
         * Sets the norm that ranks the transformed columns: the \( \ell_1 \) norm (the reference's
         * {@code ell_norm=1}) or the \( \ell_2 \) norm, which keeps the columns that hold the most
         * of the gradient's energy (the smallest projection error in the Frobenius norm).
         *
         * @param selectionNorm 1 or 2; default 1
         * @return this {@code Builder}
         */
        public Builder optSelectionNorm(int selectionNorm) {
            this.selectionNorm = selectionNorm;
            return this;
        }

        /**
         * Builds the optimizer.
         *
         * @return the optimizer
         * @throws IllegalArgumentException naming the setting and its value if one is invalid (the
         *     learning-rate tracker and the weight decay included)
         */
        public DctAdam build() {
            validate();
            if (selectionNorm != 1 && selectionNorm != 2) {
                throw new IllegalArgumentException(
                        "selectionNorm must be 1 or 2, but was " + selectionNorm);
            }
            return new DctAdam(this);
        }
    }
}
