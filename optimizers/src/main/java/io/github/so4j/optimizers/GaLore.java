package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.lowrank.RandomizedSubspaceIteration;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * GaLore: Adam on the gradient projected onto its top singular subspace, recomputed every T steps,
 * with GaLore+'s randomized subspace iteration in place of the SVD and, optionally, its cross-head
 * projection.
 *
 * <p>For a projected parameter (an m x n matrix G projected on side s; see {@link LowRankAdam} for
 * the moments, the scale \( \alpha \), weight decay and the parameters that move by AdamW), the
 * basis B (s x r) is the r top left singular vectors of G (left) or of \( G^\top \) (right), that
 * is GaLore's \( U_{:, 1..r} \) or \( V_{:, 1..r} \), computed at a parameter's first step and at
 * every taken step t with t - 1 divisible by T (GaLore's {@code iter % update_proj_gap == 0} with
 * its 0-based count), from that step's gradient, which it then projects:
 *
 * <p>\( R = B^\top G \) or \( G B \); Adam on R; \( W \leftarrow W - \eta (\alpha B N + \omega W)
 * \) or \( W - \eta (\alpha N B^\top + \omega W) \)
 *
 * <p>The singular vectors come from {@link RandomizedSubspaceIteration} (q power iterations, k = r
 * + p columns, signs fixed by each vector's largest entry), as GaLore+ computes them; its random
 * start is seeded by the settings' seed, the count of earlier refreshes and the matrix's shape, so
 * runs repeat exactly and a restored checkpoint continues bit for bit.
 *
 * <p><b>Cross-head projection</b> ({@link Builder#optCrossHeadProjection}): for the attention
 * projections named by a pattern, whose output rows hold h heads of d = m / h rows each (\( Q = X
 * W^\top \) split into heads along W's rows, as DJL's {@code Linear} and so4j's {@code
 * CausalSelfAttention} lay out their query, key and value weights), one basis over the columns (the
 * input side, shared by the heads) serves every head: it is the r top right singular vectors of one
 * head's block \( G_{hd..hd+d-1, :} \), the head drawn at random at each refresh. The iteration
 * then works on a d x n block instead of the m x n matrix, h times fewer flops. It applies when r
 * &le; d; other matching matrices are projected as usual (logged).
 *
 * <p><b>Left out: GaLore+'s sparsely coded residuals</b> (the projection's error kept in the
 * moments on a fixed sparse set of entries chosen after a warm-up). Measured on the harness's
 * 784-256-128-10 MLP over one epoch at ranks 64 and 32 ({@code LowRankResidualSweep} in the
 * integration tests; docs/lowrank.md): between refreshes the projection loses 26% to 54% of the
 * gradient's energy, because the basis goes stale within about 10 steps, and a 1% code (GaLore+'s
 * density) fixed after a 10-step warm-up holds 1% to 16% of that residual on the 256 x 784 weight
 * and 5% to 29% on the 128 x 256 one: 0.5% to 6% and 1.5% to 12% of the gradient's energy, most of
 * the time under 4%. The code would add a gather and a scatter of the residual's moments to every
 * step, against the step-time budget, for that small share; GaLore without it already ends within
 * 3% of Adam's loss on this MLP.
 *
 * <p>Departures from the reference ({@code jiaweizzhao/GaLore}, {@code galore_projector.py} and
 * {@code adamw.py}, commit 1317b5f), each for a reason: the randomized SVD (GaLore+'s choice; the
 * reference calls {@code torch.linalg.svd}); bias correction in the form \( \hat m / (\sqrt{\hat v}
 * + \epsilon) \) of so4j's Adam (the reference scales the step by \( \sqrt{1 - \beta_2^t} / (1 -
 * \beta_1^t) \), which puts \( \epsilon \sqrt{1 - \beta_2^t} \) in the denominator, a difference of
 * the order of \( \epsilon \)); decoupled weight decay on the weight before the step (the reference
 * decays the updated weight, a difference of \( \eta^2 \omega u \)); refreshes counted in the
 * optimizer's taken steps (the reference counts each parameter's steps: the same for parameters
 * present from the first step).
 *
 * <p>Defaults, from the reference's README and paper (LLaMA pre-training): rank 128 (capped at a
 * quarter of a matrix's smaller side), T = 200, \( \alpha = 0.25 \), learning rate 0.01, \( \beta =
 * (0.9, 0.999) \), \( \epsilon = 10^{-6} \) (its AdamW's), weight decay 0; the iteration's q = 2, p
 * = 8 (Halko et al.'s advice), seed 0; no cross-head projection.
 *
 * <p><b>Host reads</b>: a refresh step is decided on the host (one read, and one more for the
 * step's index when rejected steps the host has not heard of could move the schedule) and each
 * refreshed parameter's iteration reads 2q + 2 panels; ordinary steps read nothing.
 *
 * <p><b>Cost</b> per projected m x n parameter with side s and other side o: 2 products, \( 4 s o r
 * \) flops a step; every T steps the iteration, \( 2 s o k (2q + 2) \) flops on the device (with d
 * for s under cross-head projection) and \( O((2q + 1)(s + o) k^2) \) on the host. Memory: the
 * moments (2 r o) and B (s r).
 *
 * @see <a href="https://arxiv.org/abs/2403.03507">GaLore</a> (Zhao et al., 2024)
 * @see <a href="https://arxiv.org/abs/2412.19820">GaLore+</a> (Liao et al., 2024)
 */
public final class GaLore extends LowRankAdam {

    private static final Logger logger = LoggerFactory.getLogger(GaLore.class);

    private static final String PROJECTION = "projection";

    private final RandomizedSubspaceIteration iteration;
    private final long seed;
    private final int heads;
    private final Pattern headPattern;
    private final Set<String> warned = new HashSet<>();

    private GaLore(Builder builder) {
        super(builder, "galore");
        this.iteration = builder.iteration();
        this.seed = builder.seed();
        this.heads = builder.heads;
        this.headPattern =
                builder.headPattern == null ? null : Pattern.compile(builder.headPattern);
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
        return List.of(PROJECTION);
    }

    /** {@inheritDoc} */
    @Override
    protected List<StateSpec> projectorStateSpecs(Layout layout) {
        return List.of(new StateSpec(layout.basisShape(), layout.dataType()));
    }

    /** {@inheritDoc} */
    @Override
    protected boolean refreshDue(long index) {
        return index > 1 && (index - 1) % getUpdatePeriod() == 0;
    }

    /**
     * {@inheritDoc}
     *
     * <p>With cross-head projection, a matching matrix whose rows split into the heads and whose
     * rank fits one head's d rows is projected on the columns, one basis for all heads.
     */
    @Override
    protected Layout layout(String name, String djlName, Shape shape, DataType dataType) {
        Layout layout = super.layout(name, djlName, shape, dataType);
        if (layout == null || heads == 1 || !headPattern.matcher(name).find()) {
            return layout;
        }
        if (layout.rows() % heads != 0 || layout.rank() > layout.rows() / heads) {
            if (warned.add(name)) {
                logger.warn(
                        "GaLore: {} {} matches the cross-head pattern, but its {} rows do not split"
                                + " into {} heads of at least rank {} rows; it is projected as a"
                                + " whole",
                        name,
                        shape,
                        layout.rows(),
                        heads,
                        layout.rank());
            }
            return layout;
        }
        return new Layout(
                name,
                shape,
                dataType,
                layout.rows(),
                layout.columns(),
                false,
                layout.rank(),
                heads);
    }

    /** {@inheritDoc} */
    @Override
    protected Projection project(
            Layout layout, NDList state, NDArray g, boolean refresh, NDManager scope) {
        if (!refresh) {
            return new Projection(state.head(), null, null);
        }
        Random random = start(seed, layout);
        NDArray matrix;
        if (layout.heads() > 1) {
            long rows = layout.rows() / layout.heads();
            long head = random.nextInt(layout.heads());
            matrix = g.get(new NDIndex("{}:{}, :", head * rows, (head + 1) * rows)).transpose();
        } else {
            matrix = layout.oriented(g);
        }
        NDArray basis =
                iteration.leftSingularVectors(matrix, layout.rank(), random, scope).vectors();
        return new Projection(basis, new NDList(basis), null);
    }

    /**
     * Returns the randomized subspace iteration.
     *
     * @return the iteration
     */
    public RandomizedSubspaceIteration getIteration() {
        return iteration;
    }

    /**
     * Returns the number of heads that share a basis (1: no cross-head projection).
     *
     * @return h
     */
    public int getHeads() {
        return heads;
    }

    /**
     * Builds {@link GaLore}; every setting has the default described on {@link GaLore} and is
     * checked, with its name and value, at {@link #build()}.
     */
    public static final class Builder extends SubspaceIterationBuilder<Builder> {

        private int heads = 1;
        private String headPattern;

        Builder() {
            super(0.01f, 128, 0.25f, 1e-6f);
        }

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Shares one basis across the heads of attention projections (GaLore+'s cross-head
         * projection): parameters whose model name contains a match of {@code namePattern}, with
         * their rows split into {@code heads} heads, are projected on the columns by a basis
         * computed from one head's rows.
         *
         * @param heads h, at least 2 (1 turns it off)
         * @param namePattern a regular expression found in the names of the projections, such as
         *     {@code (query|key|value)_weight$}; the model's names need {@link #nameParameters}
         * @return this {@code Builder}
         */
        public Builder optCrossHeadProjection(int heads, String namePattern) {
            this.heads = heads;
            this.headPattern = namePattern;
            return this;
        }

        /**
         * Builds the optimizer.
         *
         * @return the optimizer
         * @throws IllegalArgumentException naming the setting and its value if one is invalid (the
         *     learning-rate tracker and the weight decay included)
         */
        public GaLore build() {
            validate();
            if (heads < 1) {
                throw new IllegalArgumentException("heads must be at least 1, but was " + heads);
            }
            if (heads > 1) {
                if (headPattern == null) {
                    throw new IllegalArgumentException(
                            "namePattern must not be null when heads is " + heads);
                }
                try {
                    Pattern.compile(headPattern);
                } catch (PatternSyntaxException e) {
                    throw new IllegalArgumentException(
                            "namePattern must be a regular expression, but was '"
                                    + headPattern
                                    + "'",
                            e);
                }
            }
            return new GaLore(this);
        }
    }
}
