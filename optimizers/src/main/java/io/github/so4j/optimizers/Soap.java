package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Finite;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.shampoo.Eigenbasis;
import io.github.so4j.curvature.shampoo.KroneckerStatistics;
import io.github.so4j.curvature.shampoo.ShampooPreconditioner.Statistics;
import io.github.so4j.optimizers.transform.BiasCorrection;
import io.github.so4j.optimizers.transform.Transform;
import io.github.so4j.optimizers.transform.WeightDecay;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * SOAP: Adam run in the eigenbasis of Shampoo's preconditioner, the basis refreshed every few
 * steps.
 *
 * <p>Each parameter is seen as a matrix, rows \( \times \) columns (a tensor of order k &gt; 2 as
 * \( d_0 \times d_1 \cdots d_{k-1} \), the matrix view of Shampoo's {@link
 * io.github.so4j.curvature.shampoo.BlockLayout}, without blocks; a vector as a column; a scalar as
 * 1 x 1). A side is rotated when its length n has \( 1 &lt; n \le \) {@code maxPreconditionerDim}
 * (the rows of a vector only with {@code precondition1d}); an unrotated side has the identity as
 * its basis and keeps no statistics, so a parameter with no rotated side runs plain Adam. With g
 * the gradient as a matrix G, \( Q_L, Q_R \) the bases, and t the count of Adam steps:
 *
 * <p>\( G' = Q_L^\top G Q_R \)<br>
 * \( m \leftarrow \beta_1 m + (1 - \beta_1) G' \), \( v \leftarrow \beta_2 v + (1 - \beta_2) G'^2
 * \) (in the rotated basis)<br>
 * \( u = \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}\, Q_L \frac{m}{\sqrt{v} + \epsilon} Q_R^\top \)
 * (divided by its root mean square when {@code normalizeGradients})<br>
 * \( w \leftarrow w - \eta (u + \omega w) \) (decoupled weight decay)<br>
 * \( L \leftarrow \beta_s L + (1 - \beta_s) G G^\top \), \( R \leftarrow \beta_s R + (1 - \beta_s)
 * G^\top G \) (Shampoo's statistics, {@link KroneckerStatistics})
 *
 * <p>and then, every {@code preconditionFrequency} Adam steps (t divisible by it), each rotated
 * side's basis is refreshed from the statistics just updated ({@link Eigenbasis#refresh}): one step
 * of power iteration \( L Q_{:, \pi} \) and a QR decomposition, with \( \pi \) sorting the
 * estimated eigenvalues \( \operatorname{diag}(Q^\top L Q) \) in descending order; v is permuted by
 * \( \pi \) on each side and m carried over to the new basis, \( m \leftarrow Q_L'^\top (Q_L m
 * Q_R^\top) Q_R' \). A parameter's first step only starts its statistics (\( L = (1 - \beta_s) G
 * G^\top \)) and takes the initial bases from their eigendecompositions ({@link
 * Eigenbasis#initial}, eigenvalues descending); it does not move the parameter, so that the basis
 * never includes the gradient it rotates. This is the algorithm of the reference code ({@code
 * nikhilvyas/SOAP}, {@code soap.py}, commit a1e5535), with \( t \) the count of taken steps minus
 * one (the first taken step starts every parameter present).
 *
 * <p>Departures from the reference, each for a reason: weight decay is decoupled as in AdamW and
 * every so4j optimizer (\( w - \eta (u + \omega w) \); the reference shrinks the already updated
 * weight, \( (w - \eta u)(1 - \eta\omega) \), which differs by \( \eta^2 \omega u \)); tensors of
 * order above 2 have two factors (the reference keeps one per dimension, four for a convolution
 * kernel) so that SOAP shares Shampoo's statistics; the eigendecomposition runs in float64 and the
 * QR's panels too (the reference: both in float32); m is not rotated out and back in on steps
 * without a refresh (an identity the reference computes with four products a step); a parameter
 * that appears after the first step is started at its first step and then counts Adam steps with
 * the others, as the shared transforms of every so4j optimizer count them.
 *
 * <p><b>Rejected steps and host reads.</b> The step is taken when every gradient, the new
 * statistics and the new second moments are finite, decided on the device; every change of state
 * (statistics, moments, bases, and the count of steps) waits for it, so a rejected step leaves no
 * trace. An ordinary step reads nothing from the device. The first step of any parameter and every
 * refresh step read: the step's decision (no basis is computed for a rejected step); at a first
 * step, one read of all the statistics for the eigendecompositions; at a refresh, one read per
 * panel of 32 columns of the QR of each size of side (one for sides up to 32, four for 128), and,
 * when rejected steps the host has not heard of could move the schedule, the step's index. Over n
 * clean steps with every parameter present from the first, \( 1 + \lfloor (n - 1) / f \rfloor \)
 * steps read.
 *
 * <p>Checkpoints ({@link #saveState}, {@link #loadState}) hold, by name per parameter, m and v
 * (rotated), L and R, and the bases, and the counters of {@link #health()}.
 *
 * <p>Defaults: the reference README's recommended settings, lr 3e-3, \( \beta_1 = \beta_2 = 0.95
 * \), weight decay 0.01, preconditionFrequency 10; the reference constructor's \( \epsilon =
 * 10^{-8} \), maxPreconditionerDim 10000, \( \beta_s = \beta_2 \) (its shampoo_beta -1), no 1-D
 * preconditioning, bias correction on, no gradient normalisation.
 *
 * <p><b>Cost</b> per step, for an m x n parameter with both sides rotated: 6 products, \( 6 m n (m
 * + n) \) flops (rotating into the basis and back, and the statistics), against O(mn) for AdamW,
 * and about 20 elementwise passes; every f steps, about \( \tfrac{14}{3} n^3 \) flops per side of
 * length n in products on the device (the power step and a blocked Householder QR whose panels are
 * factored on the host: 23 ms at n = 512 on a 2-core CPU, against 92 ms for the whole QR on the
 * host; see docs/soap.md), plus four products to carry m over. Memory: m, v and \( 2 (m^2 + n^2) \)
 * for statistics and bases.
 *
 * <p>{@link #stateBytes()} counts the checkpoint's arrays: per started parameter m and v, and for
 * each rotated side its statistic (L or R) and its basis.
 *
 * @see <a href="https://arxiv.org/abs/2409.11321">paper</a>
 */
public final class Soap extends SecondOrderOptimizer {

    private static final Logger logger = LoggerFactory.getLogger(Soap.class);

    private static final String PREFIX = "soap/";
    private static final String PARAMETERS = PREFIX + "parameters";
    private static final String[] COUNTERS = {
        "initialBases", "refreshedBases", "failedEigendecompositions"
    };

    /** Added to the update's root mean square before normalising by it (the reference's). */
    private static final double NORMALIZE_FLOOR = 1e-30;

    private final float beta1;
    private final float beta2;
    private final double shampooBeta;
    private final float epsilon;
    private final int preconditionFrequency;
    private final int maxPreconditionerDim;
    private final boolean precondition1d;
    private final boolean biasCorrection;
    private final boolean normalizeGradients;
    private final WeightDecay decay;

    /** Each parameter's state, by key. */
    private final Map<String, Slot> slots = new HashMap<>();

    private NDManager stateManager;

    /** initialBases, refreshedBases, failedEigendecompositions: factors, summed over parameters. */
    private final long[] counters = new long[COUNTERS.length];

    private boolean warnedFailure;

    private Soap(Builder builder) {
        super(builder);
        this.beta1 = builder.beta1;
        this.beta2 = builder.beta2;
        this.shampooBeta = builder.shampooBeta < 0 ? builder.beta2 : builder.shampooBeta;
        this.epsilon = builder.epsilon;
        this.preconditionFrequency = builder.preconditionFrequency;
        this.maxPreconditionerDim = builder.maxPreconditionerDim;
        this.precondition1d = builder.precondition1d;
        this.biasCorrection = builder.biasCorrection;
        this.normalizeGradients = builder.normalizeGradients;
        this.decay = weightDecay() == 0 ? null : WeightDecay.decoupled(weightDecay());
    }

    /**
     * Returns a builder with the defaults described in the class documentation.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** One parameter's state: its matrix view, statistics, bases and moments. */
    private static final class Slot implements AutoCloseable {

        final String name;
        final Shape shape;
        final long rows;
        final long columns;
        final DataType dataType;
        final NDManager manager;

        /** L and R for the rotated sides; null when neither side is rotated. */
        final KroneckerStatistics statistics;

        final boolean leftSide;
        final boolean rightSide;

        /** The moments in the rotated basis, (rows, columns); null until the first step. */
        NDArray m;

        NDArray v;

        /** The bases of the rotated sides; null for an unrotated side, or until the first step. */
        NDArray left;

        NDArray right;

        Slot(
                NDManager parent,
                String name,
                Shape shape,
                DataType dataType,
                double shampooBeta,
                int maxDim,
                boolean precondition1d) {
            if (dataType != DataType.FLOAT32 && dataType != DataType.FLOAT64) {
                throw new IllegalArgumentException(
                        "SOAP trains float32 and float64 parameters, but "
                                + name
                                + " is "
                                + dataType);
            }
            this.name = name;
            this.shape = shape;
            this.dataType = dataType;
            long[] dims = shape.getShape();
            this.rows = dims.length == 0 ? 1 : dims[0];
            this.columns = dims.length == 0 ? 1 : shape.size() / dims[0];
            this.leftSide = rows > 1 && rows <= maxDim && (dims.length >= 2 || precondition1d);
            this.rightSide = columns > 1 && columns <= maxDim;
            this.manager = parent.newSubManager();
            this.statistics =
                    leftSide || rightSide
                            ? new KroneckerStatistics(
                                    manager,
                                    name,
                                    new Shape(1, rows, columns),
                                    dataType,
                                    shampooBeta,
                                    leftSide,
                                    rightSide,
                                    false)
                            : null;
        }

        boolean started() {
            return m != null;
        }

        boolean rotated() {
            return statistics != null;
        }

        /** Replaces an array of this slot's state, closing the old one. */
        NDArray install(NDArray next, NDArray old) {
            if (next != null) {
                next.attach(manager);
            }
            if (old != null && old != next) {
                old.close();
            }
            return next;
        }

        @Override
        public void close() {
            manager.close();
        }
    }

    /** Candidate moments, in the rotated basis. */
    private record Moments(NDArray m, NDArray v) {}

    /** What one parameter's step computed before the commits. */
    private record Staged(Slot slot, Statistics statistics, NDArray m, NDArray v) {}

    /** {@inheritDoc} */
    @Override
    protected Map<String, NDArray> computeStep(
            List<ParameterGradient> parameters, NDManager owner, Step step) {
        NDManager scope = step.scope();
        NDArray scale = null;
        List<Staged> staged = new ArrayList<>(parameters.size());
        List<NDArray> checked = new ArrayList<>();
        Map<String, NDArray> directions = new HashMap<>();
        for (ParameterGradient p : parameters) {
            Slot slot = slot(p);
            NDArray g = p.gradient().reshape(slot.rows, slot.columns);
            Statistics next = null;
            if (slot.rotated()) {
                next =
                        slot.statistics.next(
                                slot.statistics.increments(g.reshape(1, slot.rows, slot.columns)));
                addIfPresent(checked, next.left());
                addIfPresent(checked, next.right());
            }
            if (!slot.started()) {
                staged.add(new Staged(slot, next, null, null));
                continue;
            }
            if (scale == null) {
                scale = biasScale(step.index());
            }
            Moments moments = adam(slot, p, g, scale, owner, step, directions);
            checked.add(moments.v());
            staged.add(new Staged(slot, next, moments.m(), moments.v()));
        }
        if (!checked.isEmpty()) {
            step.require(Finite.ofSums(checked));
        }
        boolean starting = staged.stream().anyMatch(s -> !s.slot().started());
        boolean refreshing =
                staged.stream().anyMatch(s -> s.slot().started() && s.slot().rotated())
                        && step.isDue(this::refreshDue);
        if ((starting || refreshing) && !step.accepted()) {
            return null;
        }
        if (starting) {
            start(staged, scope, step);
        }
        if (refreshing) {
            staged = refresh(staged, scope, step);
        }
        for (Staged s : staged) {
            Slot slot = s.slot();
            if (s.statistics() != null) {
                step.onCommit(
                        accepted ->
                                slot.statistics.commit(
                                        s.statistics(),
                                        (candidate, old) -> Step.select(accepted, candidate, old)));
            }
            if (s.m() != null) {
                step.onCommit(
                        accepted -> {
                            slot.m = slot.install(Step.select(accepted, s.m(), slot.m), slot.m);
                            slot.v = slot.install(Step.select(accepted, s.v(), slot.v), slot.v);
                        });
            }
        }
        return directions;
    }

    private static void addIfPresent(List<NDArray> list, NDArray array) {
        if (array != null) {
            list.add(array);
        }
    }

    /** Refreshes when the Adam step t = index - 1 is a positive multiple of the frequency. */
    private boolean refreshDue(long index) {
        return index > 1 && (index - 1) % preconditionFrequency == 0;
    }

    /**
     * \( \sqrt{1 - \beta_2^t} / (1 - \beta_1^t) \) with t = index - 1, a float64 scalar on the
     * device (1 without bias correction).
     */
    private NDArray biasScale(NDArray index) {
        NDArray t = index.sub(1);
        if (!biasCorrection) {
            return t.onesLike();
        }
        return BiasCorrection.of(beta2, t).sqrt().div(BiasCorrection.of(beta1, t));
    }

    /**
     * Adam in the rotated basis for one started parameter: puts its direction into {@code
     * directions} (owned by {@code owner}) and returns the candidate m and v (in the step's scope).
     */
    private Moments adam(
            Slot slot,
            ParameterGradient p,
            NDArray g,
            NDArray scale,
            NDManager owner,
            Step step,
            Map<String, NDArray> directions) {
        NDManager scope = step.scope();
        try (Workspace ws =
                new Workspace(scope, slot.m, slot.v, slot.left, slot.right, p.weight())) {
            NDArray rotated = rotate(g, slot.left, slot.right);
            NDArray m = slot.m.mul(beta1).addi(rotated.mul(1.0 - beta1));
            NDArray v = slot.v.mul(beta2).addi(rotated.square().muli(1.0 - beta2));
            NDArray u = rotateBack(m.div(v.sqrt().addi(epsilon)), slot.left, slot.right);
            if (normalizeGradients) {
                u = u.div(u.square().mean().sqrt().addi(NORMALIZE_FLOOR));
            }
            u = u.muli(scale).reshape(slot.shape);
            if (decay != null) {
                u =
                        decay.apply(
                                        u,
                                        new NDList(),
                                        new Transform.Context(
                                                p.gradient(), p.weight(), step.index()))
                                .direction();
            }
            directions.put(p.key(), ws.keep(u, owner));
            return new Moments(ws.keep(m, scope), ws.keep(v, scope));
        }
    }

    /** \( Q_L^\top G Q_R \), an unrotated side's basis being the identity. */
    private static NDArray rotate(NDArray g, NDArray left, NDArray right) {
        NDArray x = left == null ? g : left.transpose().matMul(g);
        return right == null ? x : x.matMul(right);
    }

    /** \( Q_L N Q_R^\top \). */
    private static NDArray rotateBack(NDArray n, NDArray left, NDArray right) {
        NDArray x = left == null ? n : left.matMul(n);
        return right == null ? x : x.matMul(right.transpose());
    }

    /**
     * The first step of new parameters (on a step known to be taken): bases from the
     * eigendecompositions of the statistics this step leaves, zero moments; installed with the
     * step.
     */
    private void start(List<Staged> staged, NDManager scope, Step step) {
        List<NDArray> factors = new ArrayList<>();
        for (Staged s : staged) {
            if (!s.slot().started() && s.statistics() != null) {
                addIfPresent(factors, matrix(s.statistics().left()));
                addIfPresent(factors, matrix(s.statistics().right()));
            }
        }
        Eigenbasis.Initial initial = Eigenbasis.initial(factors, scope);
        if (initial.failures() > 0) {
            String message =
                    initial.failures()
                            + " initial eigendecomposition(s) did not converge; those sides start"
                            + " from the identity";
            if (warnedFailure) {
                logger.debug("SOAP: {}", message);
            } else {
                logger.warn("SOAP: {} (reported once)", message);
                warnedFailure = true;
            }
        }
        List<NDArray> bases = initial.bases();
        int next = 0;
        List<Runnable> installs = new ArrayList<>();
        for (Staged s : staged) {
            Slot slot = s.slot();
            if (slot.started()) {
                continue;
            }
            NDArray left = slot.leftSide ? bases.get(next++) : null;
            NDArray right = slot.rightSide ? bases.get(next++) : null;
            installs.add(
                    () -> {
                        slot.left = slot.install(left, slot.left);
                        slot.right = slot.install(right, slot.right);
                        slot.m = slot.install(zeros(slot), null);
                        slot.v = slot.install(zeros(slot), null);
                    });
        }
        int factorCount = factors.size();
        int failures = initial.failures();
        step.onCommit(
                accepted -> {
                    installs.forEach(Runnable::run);
                    counters[0] += factorCount;
                    counters[2] += failures;
                });
    }

    private static NDArray zeros(Slot slot) {
        return slot.manager.zeros(new Shape(slot.rows, slot.columns), slot.dataType);
    }

    /** A (1, n, n) statistic as an n x n matrix; null stays null. */
    private static NDArray matrix(NDArray statistic) {
        return statistic == null ? null : statistic.reshape(statistic.getShape().slice(1));
    }

    /**
     * A refresh (on a step known to be taken): new bases of every started parameter's rotated sides
     * from the statistics this step leaves, its v permuted and its m carried over to them.
     *
     * @return the staged steps with the carried moments
     */
    private List<Staged> refresh(List<Staged> staged, NDManager scope, Step step) {
        List<NDArray> factors = new ArrayList<>();
        List<NDArray> current = new ArrayList<>();
        for (Staged s : staged) {
            Slot slot = s.slot();
            if (slot.started() && slot.rotated()) {
                if (slot.leftSide) {
                    factors.add(matrix(s.statistics().left()));
                    current.add(slot.left);
                }
                if (slot.rightSide) {
                    factors.add(matrix(s.statistics().right()));
                    current.add(slot.right);
                }
            }
        }
        List<Eigenbasis.Refreshed> refreshed = Eigenbasis.refresh(factors, current, scope);
        List<Staged> carried = new ArrayList<>(staged.size());
        int next = 0;
        for (Staged s : staged) {
            Slot slot = s.slot();
            if (!slot.started() || !slot.rotated()) {
                carried.add(s);
                continue;
            }
            Eigenbasis.Refreshed left = slot.leftSide ? refreshed.get(next++) : null;
            Eigenbasis.Refreshed right = slot.rightSide ? refreshed.get(next++) : null;
            NDArray newLeft = left == null ? null : left.basis();
            NDArray newRight = right == null ? null : right.basis();
            NDArray m;
            NDArray v = s.v();
            try (Workspace ws = new Workspace(scope, slot.left, slot.right)) {
                m = rotate(rotateBack(s.m(), slot.left, slot.right), newLeft, newRight);
                if (left != null) {
                    v = v.get(new NDIndex("{}, :", left.order()));
                }
                if (right != null) {
                    v = v.get(new NDIndex(":, {}", right.order()));
                }
                ws.keep(m, scope);
                ws.keep(v, scope);
            }
            carried.add(new Staged(slot, s.statistics(), m, v));
            step.onCommit(
                    accepted -> {
                        slot.left = slot.install(newLeft, slot.left);
                        slot.right = slot.install(newRight, slot.right);
                    });
        }
        int factorCount = factors.size();
        step.onCommit(accepted -> counters[1] += factorCount);
        return carried;
    }

    /** The parameter's state, created (not started) at its first step. */
    private Slot slot(ParameterGradient p) {
        Slot slot = slots.get(p.key());
        if (slot == null) {
            if (stateManager == null) {
                stateManager = p.weight().getManager().newSubManager();
            }
            slot =
                    new Slot(
                            stateManager,
                            nameOf(p.key()),
                            p.weight().getShape(),
                            p.gradient().getDataType(),
                            shampooBeta,
                            maxPreconditionerDim,
                            precondition1d);
            slots.put(p.key(), slot);
            logger.debug(
                    "SOAP sees {} as {} x {}, rotating {}",
                    slot.name,
                    slot.rows,
                    slot.columns,
                    slot.leftSide && slot.rightSide
                            ? "both sides"
                            : slot.leftSide ? "the rows" : slot.rightSide ? "the columns" : "none");
        }
        return slot;
    }

    /** {@inheritDoc} */
    @Override
    protected boolean parametersChanged(List<String> keys) {
        List<String> stale = slots.keySet().stream().filter(k -> !keys.contains(k)).toList();
        stale.forEach(key -> slots.remove(key).close());
        return !stale.isEmpty();
    }

    /**
     * Saves, by the model's name of each started parameter ({@code soap/parameters} lists them):
     * {@code soap/m/<name>} and {@code soap/v/<name>} (in the rotated basis, rows x columns),
     * {@code soap/left/<name>} and {@code soap/right/<name>} (L and R, shape (1, n, n)), {@code
     * soap/leftBasis/<name>} and {@code soap/rightBasis/<name>}, for the rotated sides only; and
     * the counters {@code soap/initialBases}, {@code soap/refreshedBases}, {@code
     * soap/failedEigendecompositions}.
     */
    @Override
    protected void writeState(OptimizerState state) {
        List<String> names = new ArrayList<>();
        slots.forEach(
                (key, slot) -> {
                    if (!slot.started()) {
                        return;
                    }
                    String name = state.nameOf(key);
                    names.add(name);
                    state.put(PREFIX + "m/" + name, slot.m).put(PREFIX + "v/" + name, slot.v);
                    if (slot.rotated()) {
                        Statistics s = slot.statistics.current();
                        putIfPresent(state, PREFIX + "left/" + name, s.left());
                        putIfPresent(state, PREFIX + "right/" + name, s.right());
                        putIfPresent(state, PREFIX + "leftBasis/" + name, slot.left);
                        putIfPresent(state, PREFIX + "rightBasis/" + name, slot.right);
                    }
                });
        state.putStrings(PARAMETERS, names.stream().sorted().toList());
        for (int i = 0; i < COUNTERS.length; i++) {
            state.putLong(PREFIX + COUNTERS[i], counters[i]);
        }
    }

    private static void putIfPresent(OptimizerState state, String name, NDArray array) {
        if (array != null) {
            state.put(name, array);
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Each saved parameter must have, under these settings, the same rotated sides (the same
     * maxPreconditionerDim and precondition1d for its shape) and the same shapes and dtypes.
     */
    @Override
    protected void readState(OptimizerState state) {
        NDManager manager =
                stateManager != null ? stateManager : state.parameterManager().newSubManager();
        Map<String, Slot> restored = new HashMap<>();
        long[] savedCounters = new long[COUNTERS.length];
        boolean done = false;
        try (NDManager scratch = manager.newSubManager()) {
            for (String name : state.getStrings(PARAMETERS)) {
                String key = state.keyOf(name);
                NDArray m = state.array(PREFIX + "m/" + name, scratch);
                Slot slot =
                        new Slot(
                                manager,
                                name,
                                state.shapeOf(key),
                                m.getDataType(),
                                shampooBeta,
                                maxPreconditionerDim,
                                precondition1d);
                restored.put(key, slot);
                NDArray v = state.array(PREFIX + "v/" + name, scratch);
                Shape moments = new Shape(slot.rows, slot.columns);
                checkShape("m", name, m, moments, slot.dataType);
                checkShape("v", name, v, moments, slot.dataType);
                NDArray left = optional(state, PREFIX + "leftBasis/" + name, scratch);
                NDArray right = optional(state, PREFIX + "rightBasis/" + name, scratch);
                if (slot.rotated()) {
                    slot.statistics.restore(
                            new Statistics(
                                    optional(state, PREFIX + "left/" + name, scratch),
                                    optional(state, PREFIX + "right/" + name, scratch),
                                    null));
                } else if (state.contains(PREFIX + "left/" + name)
                        || state.contains(PREFIX + "right/" + name)) {
                    throw new IllegalArgumentException(
                            "the checkpoint keeps statistics of "
                                    + name
                                    + ", but these settings rotate neither side of it");
                }
                checkBasis("left", name, left, slot.leftSide, slot.rows, slot.dataType);
                checkBasis("right", name, right, slot.rightSide, slot.columns, slot.dataType);
                slot.m = slot.install(Workspace.copy(m, slot.manager), null);
                slot.v = slot.install(Workspace.copy(v, slot.manager), null);
                slot.left = left == null ? null : Workspace.copy(left, slot.manager);
                slot.right = right == null ? null : Workspace.copy(right, slot.manager);
            }
            for (int i = 0; i < COUNTERS.length; i++) {
                savedCounters[i] = state.getLong(PREFIX + COUNTERS[i]);
            }
            done = true;
        } finally {
            if (!done) {
                restored.values().forEach(Slot::close);
                if (stateManager == null) {
                    manager.close();
                }
            }
        }
        slots.values().forEach(Slot::close);
        slots.clear();
        slots.putAll(restored);
        stateManager = manager;
        System.arraycopy(savedCounters, 0, counters, 0, COUNTERS.length);
    }

    private static NDArray optional(OptimizerState state, String name, NDManager owner) {
        return state.contains(name) ? state.array(name, owner) : null;
    }

    private static void checkShape(
            String what, String name, NDArray saved, Shape shape, DataType dataType) {
        if (!saved.getShape().equals(shape) || saved.getDataType() != dataType) {
            throw new IllegalArgumentException(
                    "the saved "
                            + what
                            + " of "
                            + name
                            + " is "
                            + saved.getDataType()
                            + " "
                            + saved.getShape()
                            + ", but these settings keep "
                            + dataType
                            + " "
                            + shape);
        }
    }

    private static void checkBasis(
            String side, String name, NDArray saved, boolean rotated, long n, DataType dataType) {
        if (saved == null && !rotated) {
            return;
        }
        if (saved == null || !rotated) {
            throw new IllegalArgumentException(
                    "the checkpoint "
                            + (saved == null ? "has no " : "has a ")
                            + side
                            + " basis of "
                            + name
                            + ", but these settings "
                            + (rotated ? "rotate" : "do not rotate")
                            + " that side");
        }
        checkShape(side + " basis", name, saved, new Shape(n, n), dataType);
    }

    /**
     * Returns the bases' counters for {@link #health()}: {@code initialBases} (sides started from
     * an eigendecomposition), {@code refreshedBases} (sides refreshed by power iteration and QR),
     * {@code failedEigendecompositions} (initial decompositions that did not converge; those sides
     * started from the identity).
     *
     * @return the counters by name
     */
    @Override
    protected Map<String, Object> curvatureHealth() {
        Map<String, Object> out = new LinkedHashMap<>();
        for (int i = 0; i < COUNTERS.length; i++) {
            out.put(COUNTERS[i], counters[i]);
        }
        return out;
    }

    /**
     * Returns \( \beta_1 \).
     *
     * @return the first moment's factor
     */
    public float getBeta1() {
        return beta1;
    }

    /**
     * Returns \( \beta_2 \).
     *
     * @return the second moment's factor
     */
    public float getBeta2() {
        return beta2;
    }

    /**
     * Returns \( \beta_s \), the factor of the statistics' exponential averages (resolved: \(
     * \beta_2 \) unless set).
     *
     * @return the statistics' factor
     */
    public double getShampooBeta() {
        return shampooBeta;
    }

    /**
     * Returns \( \epsilon \).
     *
     * @return the epsilon
     */
    public float getEpsilon() {
        return epsilon;
    }

    /**
     * Returns how often the bases are refreshed.
     *
     * @return the precondition frequency in Adam steps
     */
    public int getPreconditionFrequency() {
        return preconditionFrequency;
    }

    /**
     * Returns the longest side that is rotated.
     *
     * @return maxPreconditionerDim
     */
    public int getMaxPreconditionerDim() {
        return maxPreconditionerDim;
    }

    /**
     * Returns whether vectors are rotated.
     *
     * @return precondition1d
     */
    public boolean isPrecondition1d() {
        return precondition1d;
    }

    /**
     * Returns whether Adam's moments are bias-corrected.
     *
     * @return whether bias correction is on
     */
    public boolean isBiasCorrection() {
        return biasCorrection;
    }

    /**
     * Returns whether each update is divided by its root mean square.
     *
     * @return normalizeGradients
     */
    public boolean isNormalizeGradients() {
        return normalizeGradients;
    }

    /**
     * Builds {@link Soap}; every setting has the default described on {@link Soap}, and is checked,
     * with its name and value, at {@link #build()}.
     */
    public static final class Builder extends BaseBuilder<Builder> {

        private float beta1 = 0.95f;
        private float beta2 = 0.95f;
        private double shampooBeta = -1;
        private float epsilon = 1e-8f;
        private int preconditionFrequency = 10;
        private int maxPreconditionerDim = 10000;
        private boolean precondition1d;
        private boolean biasCorrection = true;
        private boolean normalizeGradients;

        Builder() {
            super(3e-3f);
            optWeightDecays(0.01f);
        }

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets \( \beta_1 \), the factor of the first moment.
         *
         * @param beta1 \( \beta_1 \) in [0, 1); default 0.95
         * @return this {@code Builder}
         */
        public Builder optBeta1(float beta1) {
            this.beta1 = beta1;
            return this;
        }

        /**
         * Sets \( \beta_2 \), the factor of the second moment.
         *
         * @param beta2 \( \beta_2 \) in [0, 1); default 0.95
         * @return this {@code Builder}
         */
        public Builder optBeta2(float beta2) {
            this.beta2 = beta2;
            return this;
        }

        /**
         * Sets \( \beta_s \), the factor of the statistics' exponential averages \( L \leftarrow
         * \beta_s L + (1 - \beta_s) G G^\top \) (the reference's shampoo_beta).
         *
         * @param shampooBeta \( \beta_s \) in [0, 1), or -1 for \( \beta_2 \) (the default)
         * @return this {@code Builder}
         */
        public Builder optShampooBeta(double shampooBeta) {
            this.shampooBeta = shampooBeta;
            return this;
        }

        /**
         * Sets \( \epsilon \), added to \( \sqrt{v} \) before dividing by it.
         *
         * @param epsilon \( \epsilon \), positive and finite; default 1e-8
         * @return this {@code Builder}
         */
        public Builder optEpsilon(float epsilon) {
            this.epsilon = epsilon;
            return this;
        }

        /**
         * Sets how often the bases are refreshed: after every f-th Adam step.
         *
         * @param preconditionFrequency f, at least 1; default 10
         * @return this {@code Builder}
         */
        public Builder optPreconditionFrequency(int preconditionFrequency) {
            this.preconditionFrequency = preconditionFrequency;
            return this;
        }

        /**
         * Sets the longest side that is rotated; longer sides keep the identity as their basis.
         *
         * @param maxPreconditionerDim at least 1; default 10000
         * @return this {@code Builder}
         */
        public Builder optMaxPreconditionerDim(int maxPreconditionerDim) {
            this.maxPreconditionerDim = maxPreconditionerDim;
            return this;
        }

        /**
         * Sets whether vectors (biases, norms' scales) are rotated by the eigenbasis of their outer
         * products; otherwise they run Adam.
         *
         * @param precondition1d whether to rotate vectors; default false
         * @return this {@code Builder}
         */
        public Builder optPrecondition1d(boolean precondition1d) {
            this.precondition1d = precondition1d;
            return this;
        }

        /**
         * Sets whether Adam's moments are bias-corrected.
         *
         * @param biasCorrection whether to bias-correct; default true
         * @return this {@code Builder}
         */
        public Builder optBiasCorrection(boolean biasCorrection) {
            this.biasCorrection = biasCorrection;
            return this;
        }

        /**
         * Sets whether each parameter's update is divided by its root mean square (the reference's
         * normalize_grads: it helps at large precondition frequencies, about 100).
         *
         * @param normalizeGradients whether to normalise; default false
         * @return this {@code Builder}
         */
        public Builder optNormalizeGradients(boolean normalizeGradients) {
            this.normalizeGradients = normalizeGradients;
            return this;
        }

        /**
         * Builds the optimizer.
         *
         * @return the optimizer
         * @throws IllegalArgumentException naming the setting and its value if one is invalid (the
         *     learning-rate tracker and the weight decay included)
         */
        public Soap build() {
            if (!(beta1 >= 0 && beta1 < 1)) {
                throw new IllegalArgumentException("beta1 must be in [0, 1), but was " + beta1);
            }
            if (!(beta2 >= 0 && beta2 < 1)) {
                throw new IllegalArgumentException("beta2 must be in [0, 1), but was " + beta2);
            }
            if (shampooBeta != -1 && !(shampooBeta >= 0 && shampooBeta < 1)) {
                throw new IllegalArgumentException(
                        "shampooBeta must be in [0, 1) or -1 (for beta2), but was " + shampooBeta);
            }
            if (!(epsilon > 0) || Float.isInfinite(epsilon)) {
                throw new IllegalArgumentException(
                        "epsilon must be positive and finite, but was " + epsilon);
            }
            if (preconditionFrequency < 1) {
                throw new IllegalArgumentException(
                        "preconditionFrequency must be at least 1, but was "
                                + preconditionFrequency);
            }
            if (maxPreconditionerDim < 1) {
                throw new IllegalArgumentException(
                        "maxPreconditionerDim must be at least 1, but was " + maxPreconditionerDim);
            }
            return new Soap(this);
        }
    }
}
