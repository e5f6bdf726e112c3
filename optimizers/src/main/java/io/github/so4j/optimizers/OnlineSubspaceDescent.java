package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.lowrank.OnlinePca;
import io.github.so4j.curvature.lowrank.RandomizedSubspaceIteration;
import io.github.so4j.optimizers.transform.Chain;
import io.github.so4j.optimizers.transform.SecondMoment;
import io.github.so4j.optimizers.transform.Transform;
import io.github.so4j.optimizers.transform.WeightDecay;
import java.util.ArrayList;
import java.util.List;

/**
 * Online Subspace Descent: Adam on the gradient projected by a basis P that follows the gradients'
 * top subspace by one AdamW step a step on the online-PCA objective, with matrix products only (no
 * SVD after the first step).
 *
 * <p>For a projected parameter (an m x n matrix G projected on side s; see {@link LowRankAdam} for
 * the moments, the scale \( \alpha \), weight decay and the parameters that move by AdamW), with M
 * = G (left) or \( G^\top \) (right), s x o:
 *
 * <p>at the parameter's first step, \( P_0 \) = the r top left singular vectors of M ({@link
 * RandomizedSubspaceIteration}, as {@link GaLore}); no update of P<br>
 * at every later step, with the current \( P_t \): \( X = M / \|M\|_F \), \( A = X^\top P_t \), \(
 * R = P_t^\top G = \|M\|_F A^\top \) (left) or \( G P_t = \|M\|_F A \) (right), Adam on R, \( W
 * \leftarrow W - \eta (\alpha P_t N + \omega W) \) (or \( N P_t^\top \)); then \( P_{t+1} = P_t -
 * \lambda\, \mathrm{AdamW}(\nabla_P \|P P^\top X - X\|_F^2) \) at \( P_t \) ({@link OnlinePca}),
 * with \( \lambda = 1/T \), \( \beta = (0.9, 0.999) \), \( \epsilon = 10^{-8} \), decoupled weight
 * decay 0.01 (PyTorch's {@code AdamW} defaults, which the reference uses), bias-corrected by P's
 * own count of updates.
 *
 * <p>This is the reference's {@code proj_type="continuous"} ({@code kyleliang919/Online-Subspace-
 * Descent}, {@code galore_torch/galore_projector.py} and {@code adamw.py}, commit e694775): P is
 * stepped after it has projected the step's gradient, from the gradient's normalised copy, and is
 * not re-orthonormalised. Departures: the randomized SVD for \( P_0 \) (the reference calls {@code
 * torch.linalg.svd}); P's rate stays 1/T (the reference multiplies it by the main learning rate's
 * ratio to its initial value, which changes it under a schedule only); a zero gradient leaves P's
 * gradient 0 (the reference divides by 0), and so does a gradient whose norm overflows its dtype;
 * Adam's bias correction and weight decay as in {@link GaLore}.
 *
 * <p>Defaults, from the reference's README (LLaMA-60M): rank 128 (capped at a quarter of a matrix's
 * smaller side), T = 200 (P's rate 0.005), \( \alpha = 0.25 \), learning rate 0.01, \( \beta =
 * (0.9, 0.999) \), \( \epsilon = 10^{-6} \), weight decay 0; the first basis's iteration q = 2, p =
 * 8, seed 0.
 *
 * <p><b>Host reads</b>: a parameter's first step (the decision, and 2q + 2 panels for \( P_0 \));
 * none after it.
 *
 * <p><b>Cost</b> per projected parameter and step, s x o: 3 products with the gradient (A, \( X A
 * \) in the objective's gradient, and the update \( P N \)), \( 6 s o r \) flops, against GaLore's
 * 2; \( O((s + o) r^2) \) for the small products; the norm in float64 (a pass and a float64 copy of
 * the gradient); P's AdamW, about 10 passes over its s r numbers. Memory: the moments (2 r o), P
 * and its AdamW moments (3 s r) and a step count.
 *
 * @see <a href="https://arxiv.org/abs/2408.12857">paper</a> (Liang et al., Memory-Efficient LLM
 *     Training with Online Subspace Descent, 2024)
 */
public final class OnlineSubspaceDescent extends LowRankAdam {

    private static final String PROJECTION = "projection";
    private static final String STEPS = "projectionSteps";

    /** PyTorch's AdamW defaults, the reference's optimizer of P. */
    private static final float PROJECTION_BETA1 = 0.9f;

    private static final float PROJECTION_BETA2 = 0.999f;
    private static final float PROJECTION_EPSILON = 1e-8f;
    private static final float PROJECTION_WEIGHT_DECAY = 0.01f;

    private final double projectionRate;
    private final RandomizedSubspaceIteration iteration;
    private final long seed;
    private final Chain projectionUpdate;
    private final List<String> stateNames;

    private OnlineSubspaceDescent(Builder builder) {
        super(builder, "osd");
        this.projectionRate = 1.0 / getUpdatePeriod();
        this.iteration = builder.iteration();
        this.seed = builder.seed();
        this.projectionUpdate =
                Chain.named(
                        "projectionAdamW",
                        SecondMoment.adamChain(
                                PROJECTION_BETA1, PROJECTION_BETA2, PROJECTION_EPSILON),
                        WeightDecay.decoupled(PROJECTION_WEIGHT_DECAY));
        List<String> names = new ArrayList<>();
        names.add(PROJECTION);
        for (String s : projectionUpdate.stateNames()) {
            names.add("projectionAdamW/" + s);
        }
        names.add(STEPS);
        this.stateNames = List.copyOf(names);
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
        return stateNames;
    }

    /** {@inheritDoc} */
    @Override
    protected List<StateSpec> projectorStateSpecs(Layout layout) {
        StateSpec basis = new StateSpec(layout.basisShape(), layout.dataType());
        return List.of(basis, basis, basis, new StateSpec(new Shape(), DataType.FLOAT64));
    }

    /** {@inheritDoc} */
    @Override
    protected boolean refreshDue(long index) {
        return false;
    }

    /** {@inheritDoc} */
    @Override
    protected Projection project(
            Layout layout, NDList state, NDArray g, boolean refresh, NDManager scope) {
        NDArray m = layout.oriented(g);
        if (state == null) {
            NDArray basis =
                    iteration
                            .leftSingularVectors(m, layout.rank(), start(seed, layout), scope)
                            .vectors();
            NDList next = new NDList(basis);
            next.addAll(projectionUpdate.init(basis));
            next.add(scope.zeros(new Shape(), DataType.FLOAT64));
            return new Projection(basis, next, null);
        }
        NDArray basis = state.get(0);
        // X = M / ||M|| enters only through A = X^T P and X A: scale the products, not M. An
        // overflowing norm scales them to 0 (no step of P), a zero one leaves them 0
        NDArray product = m.transpose().matMul(basis);
        NDArray inverse = m.norm().maximum(Float.MIN_NORMAL).pow(-1);
        NDArray a = product.mul(inverse);
        NDArray xa = m.matMul(a).muli(inverse);
        NDArray gradient = OnlinePca.fromProducts(basis, a, xa);
        NDArray index = state.get(3).add(1);
        Transform.Result update =
                projectionUpdate.apply(
                        gradient,
                        new NDList(state.get(1), state.get(2)),
                        new Transform.Context(gradient, basis, index));
        NDList next = new NDList(basis.sub(update.direction().muli(projectionRate)));
        next.addAll(update.state());
        next.add(index);
        NDArray low = layout.left() ? product.transpose() : product;
        return new Projection(basis, next, low);
    }

    /**
     * Returns the randomized subspace iteration of the first basis.
     *
     * @return the iteration
     */
    public RandomizedSubspaceIteration getIteration() {
        return iteration;
    }

    /**
     * Builds {@link OnlineSubspaceDescent}; every setting has the default described on {@link
     * OnlineSubspaceDescent} and is checked, with its name and value, at {@link #build()}.
     */
    public static final class Builder extends SubspaceIterationBuilder<Builder> {

        Builder() {
            super(0.01f, 128, 0.25f, 1e-6f);
        }

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Builds the optimizer.
         *
         * @return the optimizer
         * @throws IllegalArgumentException naming the setting and its value if one is invalid (the
         *     learning-rate tracker and the weight decay included)
         */
        public OnlineSubspaceDescent build() {
            validate();
            return new OnlineSubspaceDescent(this);
        }
    }
}
