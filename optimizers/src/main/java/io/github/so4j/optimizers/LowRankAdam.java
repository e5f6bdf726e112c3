package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.lowrank.RandomizedSubspaceIteration;
import io.github.so4j.optimizers.transform.Chain;
import io.github.so4j.optimizers.transform.SecondMoment;
import io.github.so4j.optimizers.transform.Transform;
import io.github.so4j.optimizers.transform.WeightDecay;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Adam with low-rank optimizer state: the base of {@link DctAdam}, {@link GaLore} and {@link
 * OnlineSubspaceDescent}, which differ only in how they choose the subspace.
 *
 * <p>A parameter is seen as an m x n matrix G (a dense weight; a convolution kernel (out, in, kh,
 * kw) as out x in·kh·kw). It is projected on one side: the left (its rows, length s = m) or the
 * right (its columns, s = n), by a basis B (s x r) that the method keeps or recomputes. With t the
 * step's index among taken steps, \( \eta_t \) the learning rate, \( \alpha \) the scale and \(
 * \omega \) the weight decay:
 *
 * <p>\( R = B^\top G \) (left, r x n) or \( R = G B \) (right, m x r)<br>
 * \( M \leftarrow \beta_1 M + (1 - \beta_1) R \), \( V \leftarrow \beta_2 V + (1 - \beta_2) R^2 \)
 * <br>
 * \( N = \hat M / (\sqrt{\hat V} + \epsilon) \) with \( \hat M = M / (1 - \beta_1^t) \), \( \hat V
 * = V / (1 - \beta_2^t) \) ({@link SecondMoment#adamChain})<br>
 * \( W \leftarrow W - \eta_t (\alpha B N + \omega W) \) (left) or \( W - \eta_t (\alpha N B^\top +
 * \omega W) \) (right) ({@link WeightDecay#decoupled})
 *
 * <p>so Adam's moments have the shape of R, r instead of s along the projected side. The moments
 * are kept across changes of B, as GaLore's reference keeps them, unless the method carries them to
 * the new basis ({@link DctAdam} can).
 *
 * <p><b>Which parameters are projected, and at what rank.</b> A parameter of 2 or more dimensions
 * that the {@link ParameterRule} accepts (by default every one but gains, biases and embeddings)
 * with smaller side \( s_{\min} = \min(m, n) \) gets the rank \( r = \min(r_0, \lfloor f \,
 * s_{\min} \rfloor) \), with \( r_0 \) the rank setting and f the maximal rank fraction (default
 * 1/4); it is projected when \( r \) is at least the minimal rank (default 4), and moves by plain
 * AdamW otherwise (vectors, and matrices too small to gain: a smaller side below 16 by default).
 * The cap f keeps the state of a projected matrix, about \( 2 r \max(m, n) \) numbers, at most half
 * of Adam's 2mn. The side is a {@link ProjectionSide}; by default the references' rule: the right
 * (columns) when \( m \ge n \), the left (rows) otherwise, which projects the shorter side. Every
 * other parameter moves by AdamW with the same \( \beta_1, \beta_2, \epsilon \), learning rate and
 * weight decay ({@link TransformState}, entries named {@code <prefix>/adamw/...}). Groups are
 * decided at a parameter's first step and logged.
 *
 * <p><b>Rejected steps and host reads.</b> Every state change (moments, bases, selected columns,
 * the method's own state) is a candidate committed with the step's decision on the device ({@link
 * Step#select}), so a step with a non-finite gradient leaves no trace. An ordinary step reads
 * nothing from the device. A step on which a basis starts (a parameter's first step) or is
 * refreshed is decided on the host first ({@link Step#accepted()}, one read): no basis is computed
 * for a rejected step, the method may read on the way, and the host then knows the exact count of
 * taken steps, so that the next steps' schedule needs no read ({@link Step#isDue} reads the count
 * when steps the host has not heard of could move a refresh). A gradient whose Frobenius norm
 * exceeds its dtype's range overflows the projection (as it overflows Adam's second moment); the
 * base class rejects gradients whose sum is not finite.
 *
 * <p>Checkpoints hold, by parameter name, each projected parameter's moments ({@code
 * <prefix>/lowRank/adam/firstMoment/m/<name>}, {@code .../secondMoment/v/<name>}) and its method
 * state ({@code <prefix>/lowRank/<state>/<name>}), the list of projected parameters, the count of
 * host refreshes (which seeds the random starts), and the AdamW group's moments; a restored
 * optimizer continues bit for bit.
 *
 * <p>{@link #health()} reports {@code lowRankParameters}, {@code adamParameters}, {@code
 * stateBytes} (moments, bases, indices and every other array the optimizer keeps, shared bases
 * once) and {@code adamStateBytes} (Adam's two moments of every parameter, for comparison).
 *
 * <p><b>Cost</b> per step for a projected m x n parameter at rank r: 2 products, \( 4 m n r \)
 * flops (down and up the projection), plus the method's own work, and Adam's passes over the \( r
 * \max(m, n) \) moments (the scale among them); over the mn entries, the product's output and, with
 * weight decay, 2 passes. Memory: the moments, \( 2 r \max(m, n) \) numbers (the projected side's
 * length s replaced by r), and the method's state.
 */
public abstract class LowRankAdam extends SecondOrderOptimizer {

    private static final Logger logger = LoggerFactory.getLogger(LowRankAdam.class);

    /** Which side of a gradient matrix a basis projects. */
    public enum ProjectionSide {
        /**
         * The references' rule (GaLore's {@code std}, DCT-AdamW's and Online Subspace Descent's):
         * the right (columns) when rows &ge; columns, the left (rows) otherwise.
         */
        AUTO,
        /** The rows: \( R = B^\top G \), B is m x r. */
        LEFT,
        /** The columns: \( R = G B \), B is n x r. */
        RIGHT
    }

    /** Which parameters may be projected; the rank rule decides among them. */
    @FunctionalInterface
    public interface ParameterRule {

        /**
         * Parameters of 2 or more dimensions except gains, shifts and biases (DJL's {@code gamma},
         * {@code beta}, {@code bias}) and embedding tables (DJL's {@code embedding}, or a model
         * name containing "embed"), as the references leave embeddings to Adam.
         */
        ParameterRule MATRICES =
                (name, djlName, shape) ->
                        shape.dimension() >= 2
                                && !Muon.ParameterInfo.isGainOrBias(djlName)
                                && !Muon.ParameterInfo.isEmbedding(name, djlName);

        /**
         * Tells whether a parameter may be projected.
         *
         * @param name the model's name for the parameter (see {@link #nameParameters}), else DJL's
         * @param djlName DJL's name ({@code weight}, {@code bias}, ...), or {@code ""}
         * @param shape the parameter's shape
         * @return whether it may be projected (it must have 2 or more dimensions)
         */
        boolean project(String name, String djlName, Shape shape);
    }

    /**
     * How a projected parameter is laid out.
     *
     * @param name the parameter's name, for messages
     * @param shape its shape
     * @param dataType its dtype (float32 or float64)
     * @param rows m
     * @param columns n (the product of the other dimensions)
     * @param left whether the rows are projected (else the columns)
     * @param rank r
     * @param heads the attention heads that share one basis (1: none; see {@link GaLore})
     */
    protected record Layout(
            String name,
            Shape shape,
            DataType dataType,
            long rows,
            long columns,
            boolean left,
            int rank,
            int heads) {

        /**
         * Returns s, the length of the projected side.
         *
         * @return m when projecting the rows, n otherwise
         */
        public long side() {
            return left ? rows : columns;
        }

        /**
         * Returns the shape of the projected gradient R and of Adam's moments.
         *
         * @return (r, n) or (m, r)
         */
        public Shape lowShape() {
            return left ? new Shape(rank, columns) : new Shape(rows, rank);
        }

        /**
         * Returns the shape of the basis B.
         *
         * @return (s, r)
         */
        public Shape basisShape() {
            return new Shape(side(), rank);
        }

        /**
         * Returns the gradient matrix oriented with the projected side first: G (left) or \( G^\top
         * \) (right), s x the other side.
         *
         * @param g the gradient as an m x n matrix
         * @return a view
         */
        public NDArray oriented(NDArray g) {
            return left ? g : g.transpose();
        }
    }

    /**
     * A method's projection of one parameter for one step.
     *
     * @param basis B (s x r) that projects this step's gradient
     * @param next the method's candidate state after the step (in the order of {@link
     *     #projectorStateNames()}), or {@code null} to keep the current one
     * @param low the projected gradient R when the method computed it on the way, else {@code null}
     */
    protected record Projection(NDArray basis, NDList next, NDArray low) {}

    /**
     * The shape and dtype of one array of a method's per-parameter state.
     *
     * @param shape the shape
     * @param dataType the dtype
     */
    protected record StateSpec(Shape shape, DataType dataType) {}

    private final String prefix;
    private final int rank;
    private final int updatePeriod;
    private final double maxRankFraction;
    private final int minRank;
    private final ProjectionSide side;
    private final float scale;
    private final float beta1;
    private final float beta2;
    private final float epsilon;
    private final ParameterRule rule;
    private final Chain adam;
    private final Chain projectedAdam;
    private final WeightDecay decay;
    private final Transform adamwUpdate;

    private TransformState adamw;

    /** The layout of every projected parameter seen, by key. */
    private final Map<String, Layout> layouts = new HashMap<>();

    /** The shape and dtype of every AdamW parameter seen, by key. */
    private final Map<String, StateSpec> plain = new HashMap<>();

    /** Each projected parameter's state, by key, from its first taken step. */
    private final Map<String, Slot> slots = new HashMap<>();

    private NDManager stateManager;

    /** Steps whose projections were computed on the host (seeds the random starts). */
    private long hostRefreshes;

    /**
     * Initializes the shared settings.
     *
     * @param builder the builder
     * @param prefix the prefix of the checkpoint entries
     */
    protected LowRankAdam(Builder<?> builder, String prefix) {
        super(builder);
        this.prefix = prefix;
        this.rank = builder.rank;
        this.updatePeriod = builder.updatePeriod;
        this.maxRankFraction = builder.maxRankFraction;
        this.minRank = builder.minRank;
        this.side = builder.side;
        this.scale = builder.scale;
        this.beta1 = builder.beta1;
        this.beta2 = builder.beta2;
        this.epsilon = builder.epsilon;
        this.rule = builder.rule;
        this.adam = SecondMoment.adamChain(beta1, beta2, epsilon);
        // the projected moments are named adam/firstMoment/m and adam/secondMoment/v
        this.projectedAdam = Chain.named("projected", adam);
        // weightDecay(): DJL's optWeightDecays; the transform rejects negative or non-finite values
        WeightDecay d = WeightDecay.decoupled(weightDecay());
        this.decay = d.decay() == 0 ? null : d;
        this.adamwUpdate =
                decay == null ? Chain.named("adamw", adam) : Chain.named("adamw", adam, d);
        this.adamw = new TransformState(adamwUpdate);
    }

    /** One projected parameter's state: Adam's low-rank moments and the method's arrays. */
    private static final class Slot implements AutoCloseable {

        final Layout layout;
        final NDManager manager;
        NDList moments;
        NDList projector;

        Slot(Layout layout, NDManager parent) {
            this.layout = layout;
            this.manager = parent.newSubManager();
        }

        void install(NDList nextMoments, NDList nextProjector) {
            nextMoments.attach(manager);
            if (moments != null) {
                moments.close();
            }
            moments = nextMoments;
            if (nextProjector != null) {
                nextProjector.attach(manager);
                if (projector != null) {
                    projector.close();
                }
                projector = nextProjector;
            }
        }

        NDList borrowed() {
            NDList all = new NDList(moments);
            all.addAll(projector);
            return all;
        }

        @Override
        public void close() {
            manager.close();
        }
    }

    /**
     * Returns the names of the method's per-parameter state arrays, for checkpoints.
     *
     * @return the names, such as {@code projection}
     */
    protected abstract List<String> projectorStateNames();

    /**
     * Returns the shapes and dtypes of the method's state arrays for a layout, in the order of
     * {@link #projectorStateNames()}, to check restored checkpoints.
     *
     * @param layout the parameter's layout
     * @return one spec per state array
     */
    protected abstract List<StateSpec> projectorStateSpecs(Layout layout);

    /**
     * Tells whether the bases of parameters started before are refreshed at this step.
     *
     * @param index the step's 1-based index among taken steps
     * @return whether a refresh is due
     */
    protected abstract boolean refreshDue(long index);

    /**
     * Computes one parameter's projection for this step. May read from the device only when {@code
     * refresh}; the step is then known to be taken.
     *
     * @param layout the parameter's layout
     * @param state the method's current state, or {@code null} at the parameter's first step
     * @param g the gradient as an m x n matrix. Not modified.
     * @param refresh whether the basis is started or refreshed this step
     * @param scope the manager of the returned arrays (a workspace that borrows the state)
     * @return the basis for this step and the candidate state
     */
    protected abstract Projection project(
            Layout layout, NDList state, NDArray g, boolean refresh, NDManager scope);

    /**
     * Carries Adam's moments over a change of basis, before they take this step's gradient. By
     * default they are kept as they are, as GaLore's reference keeps them.
     *
     * @param layout the parameter's layout
     * @param state the method's state before the step. Not modified.
     * @param next the method's candidate state. Not modified.
     * @param moments m and v in the old basis. Not modified.
     * @return m and v for the new basis ({@code moments} itself when unchanged)
     */
    protected NDList carry(Layout layout, NDList state, NDList next, NDList moments) {
        return moments;
    }

    /**
     * Returns long-lived arrays the method reads while projecting a parameter (such as a shared
     * basis), to borrow into the step's workspace.
     *
     * @param layout the parameter's layout
     * @return the arrays; none by default
     */
    protected NDList shared(Layout layout) {
        return new NDList();
    }

    /**
     * Returns the bytes of state shared between parameters (such as bases), for {@code stateBytes}.
     *
     * @param layouts the layouts of the started parameters
     * @return the bytes; 0 by default
     */
    protected long sharedStateBytes(List<Layout> layouts) {
        return 0;
    }

    /**
     * Returns the layout of a parameter under these settings, or {@code null} if it moves by AdamW.
     * Subclasses may refine it (GaLore's heads).
     *
     * @param name the parameter's name
     * @param djlName DJL's name for it
     * @param shape its shape
     * @param dataType its dtype
     * @return the layout, or {@code null}
     */
    protected Layout layout(String name, String djlName, Shape shape, DataType dataType) {
        if (shape.dimension() < 2
                || (dataType != DataType.FLOAT32 && dataType != DataType.FLOAT64)
                || !rule.project(name, djlName, shape)) {
            return null;
        }
        long rows = shape.get(0);
        long columns = shape.size() / rows;
        long smaller = Math.min(rows, columns);
        int r = (int) Math.min(rank, (long) Math.floor(maxRankFraction * smaller));
        if (r < minRank) {
            return null;
        }
        boolean left =
                side == ProjectionSide.LEFT || (side == ProjectionSide.AUTO && rows < columns);
        return new Layout(name, shape, dataType, rows, columns, left, r, 1);
    }

    /**
     * Returns the manager of the optimizer's state, under the parameters' manager (on their
     * device); set from a parameter's first step or a restored checkpoint on.
     *
     * @return the manager
     */
    protected final NDManager stateManager() {
        return stateManager;
    }

    /**
     * Returns a seeded source of the random start of a basis computed on the host: a function of
     * the seed, the count of earlier host refreshes and the parameter's shape, so that it does not
     * depend on the order DJL hands parameters over, and a restored checkpoint draws the same.
     *
     * @param seed the method's seed
     * @param layout the parameter's layout
     * @return a new generator
     */
    protected final Random start(long seed, Layout layout) {
        long mixed = seed;
        mixed = mixed * 0x9E3779B97F4A7C15L + hostRefreshes;
        mixed = mixed * 0x9E3779B97F4A7C15L + layout.rows();
        mixed = mixed * 0x9E3779B97F4A7C15L + layout.columns();
        return new Random(mixed);
    }

    /** {@inheritDoc} */
    @Override
    protected Map<String, NDArray> computeStep(
            List<ParameterGradient> parameters, NDManager owner, Step step) {
        assignGroups(parameters);
        boolean starting = false;
        boolean started = false;
        for (ParameterGradient p : parameters) {
            if (layouts.containsKey(p.key())) {
                if (slots.containsKey(p.key())) {
                    started = true;
                } else {
                    starting = true;
                }
            }
        }
        boolean due = started && step.isDue(this::refreshDue);
        boolean hostDecided = starting || due;
        if (hostDecided && !step.accepted()) {
            return null;
        }
        if (stateManager == null) {
            stateManager = parameters.get(0).weight().getManager().newSubManager();
        }
        Map<String, NDArray> directions = new HashMap<>();
        for (ParameterGradient p : parameters) {
            Layout layout = layouts.get(p.key());
            NDArray d =
                    layout == null
                            ? adamw.apply(p.key(), p.gradient(), p.gradient(), p.weight(), step)
                            : lowRankStep(p, layout, due, owner, step);
            d.attach(owner);
            directions.put(p.key(), d);
        }
        if (hostDecided) {
            step.onCommit(accepted -> hostRefreshes++);
        }
        return directions;
    }

    /** The projected update of one parameter; stages its state for the step's decision. */
    private NDArray lowRankStep(
            ParameterGradient p, Layout layout, boolean due, NDManager owner, Step step) {
        NDManager scope = step.scope();
        Slot slot = slots.get(p.key());
        NDList borrowed = slot == null ? new NDList() : slot.borrowed();
        borrowed.addAll(shared(layout));
        borrowed.add(p.weight());
        NDArray direction;
        NDList moments;
        NDList next;
        try (Workspace ws = new Workspace(scope, borrowed)) {
            NDArray g =
                    layout.shape().dimension() == 2
                            ? p.gradient()
                            : p.gradient().reshape(layout.rows(), layout.columns());
            Projection projection =
                    project(
                            layout,
                            slot == null ? null : slot.projector,
                            g,
                            slot == null || due,
                            ws.manager());
            NDArray basis = projection.basis();
            NDArray low = projection.low();
            if (low == null) {
                low = layout.left() ? basis.transpose().matMul(g) : g.matMul(basis);
            }
            NDList old =
                    slot == null
                            ? projectedAdam.init(low)
                            : projection.next() == null
                                    ? slot.moments
                                    : carry(
                                            layout,
                                            slot.projector,
                                            projection.next(),
                                            slot.moments);
            Transform.Result adamStep = projectedAdam.apply(low, old, step.context(low, low));
            NDArray n = adamStep.direction();
            if (decay == null) {
                // masked on the r-sized side: B and the weights are finite, so B 0 = 0 and the
                // base class need not mask the full-size direction
                n = step.mask(n);
            }
            if (scale != 1) {
                // alpha B N = B (alpha N): the scale on the r-sized side
                n = n.muli(scale);
            }
            NDArray u = layout.left() ? basis.matMul(n) : n.matMul(basis.transpose());
            if (layout.shape().dimension() != 2) {
                u = u.reshape(layout.shape());
            }
            if (decay != null) {
                u =
                        decay.apply(u, new NDList(), step.context(p.gradient(), p.weight()))
                                .direction();
            }
            direction = ws.keep(u, owner);
            if (decay == null) {
                step.zeroWhenRejected(direction);
            }
            moments = ws.keep(adamStep.state(), scope);
            next = projection.next() == null ? null : ws.keep(projection.next(), scope);
        }
        String key = p.key();
        if (slot == null) {
            // a parameter's first step is decided on the host: it is taken
            step.onCommit(
                    accepted -> {
                        Slot fresh = new Slot(layout, stateManager);
                        fresh.install(moments, next);
                        slots.put(key, fresh);
                    });
        } else {
            step.onCommit(
                    accepted ->
                            slot.install(
                                    select(accepted, moments, slot.moments),
                                    next == null ? null : select(accepted, next, slot.projector)));
        }
        return direction;
    }

    private static NDList select(NDArray accepted, NDList candidate, NDList old) {
        NDList out = new NDList(candidate.size());
        for (int i = 0; i < candidate.size(); i++) {
            out.add(Step.select(accepted, candidate.get(i), old.get(i)));
        }
        return out;
    }

    /** Decides the group of every parameter seen for the first time, and logs the new ones. */
    private void assignGroups(List<ParameterGradient> parameters) {
        Map<String, String> projected = new TreeMap<>();
        List<String> others = new ArrayList<>();
        for (ParameterGradient p : parameters) {
            String key = p.key();
            if (layouts.containsKey(key) || plain.containsKey(key)) {
                continue;
            }
            NDArray w = p.weight();
            String djlName = w.getName() == null ? "" : w.getName();
            String name = nameOf(key);
            Layout layout = layout(name, djlName, w.getShape(), w.getDataType());
            if (layout == null) {
                plain.put(key, new StateSpec(w.getShape(), w.getDataType()));
                others.add(name);
            } else {
                layouts.put(key, layout);
                projected.put(name, describe(layout));
            }
        }
        if (!projected.isEmpty() || !others.isEmpty()) {
            logger.info(
                    "{} projects {}; AdamW moves {}",
                    getClass().getSimpleName(),
                    projected,
                    others.stream().sorted().toList());
        }
    }

    private static String describe(Layout layout) {
        return layout.rows()
                + "x"
                + layout.columns()
                + " at rank "
                + layout.rank()
                + " on the "
                + (layout.left() ? "left" : "right")
                + (layout.heads() > 1 ? ", one basis for " + layout.heads() + " heads" : "");
    }

    /** {@inheritDoc} */
    @Override
    protected boolean parametersChanged(List<String> keys) {
        List<String> stale = slots.keySet().stream().filter(k -> !keys.contains(k)).toList();
        stale.forEach(key -> slots.remove(key).close());
        boolean forgotten = adamw.retain(keys) | !stale.isEmpty();
        layouts.keySet().retainAll(keys);
        plain.keySet().retainAll(keys);
        return forgotten;
    }

    private String entry(String state, String name) {
        return prefix + "/lowRank/" + state + "/" + name;
    }

    /**
     * Saves, by parameter name, each projected parameter's moments and method state, the list of
     * projected parameters ({@code <prefix>/lowRank/parameters}), the count of host refreshes
     * ({@code <prefix>/hostRefreshes}) and the AdamW group ({@code <prefix>/adamw}).
     */
    @Override
    protected void writeState(OptimizerState state) {
        adamw.write(state, prefix + "/adamw");
        List<String> names = new ArrayList<>();
        List<String> momentNames = projectedAdam.stateNames();
        List<String> stateNames = projectorStateNames();
        slots.forEach(
                (key, slot) -> {
                    String name = state.nameOf(key);
                    names.add(name);
                    for (int i = 0; i < momentNames.size(); i++) {
                        state.put(entry(momentNames.get(i), name), slot.moments.get(i));
                    }
                    for (int i = 0; i < stateNames.size(); i++) {
                        state.put(entry(stateNames.get(i), name), slot.projector.get(i));
                    }
                });
        state.putStrings(prefix + "/lowRank/parameters", names.stream().sorted().toList());
        state.putLong(prefix + "/hostRefreshes", hostRefreshes);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Each saved projected parameter must be projectable under these settings with the saved
     * shapes (the same rank, side and method state); the groups are those of the checkpoint.
     */
    @Override
    protected void readState(OptimizerState state) {
        TransformState restoredAdamw = new TransformState(adamwUpdate);
        NDManager manager =
                stateManager != null ? stateManager : state.parameterManager().newSubManager();
        Map<String, Slot> restored = new HashMap<>();
        Map<String, Layout> restoredLayouts = new HashMap<>();
        Map<String, StateSpec> restoredPlain = new HashMap<>();
        boolean done = false;
        try (NDManager scratch = manager.newSubManager()) {
            restoredAdamw.read(state, prefix + "/adamw");
            for (String name : state.getStrings(prefix + "/adamw/parameters")) {
                String key = state.keyOf(name);
                restoredPlain.put(key, new StateSpec(state.shapeOf(key), null));
            }
            List<String> momentNames = projectedAdam.stateNames();
            List<String> stateNames = projectorStateNames();
            for (String name : state.getStrings(prefix + "/lowRank/parameters")) {
                String key = state.keyOf(name);
                NDArray first = required(state, entry(momentNames.get(0), name), scratch);
                Shape shape = state.shapeOf(key);
                Layout layout = layout(name, djlNameOf(name), shape, first.getDataType());
                if (layout == null) {
                    throw new IllegalArgumentException(
                            "the checkpoint projects "
                                    + name
                                    + " "
                                    + shape
                                    + ", which these settings move by AdamW");
                }
                if (restoredPlain.containsKey(key)) {
                    throw new IllegalArgumentException(
                            "the checkpoint moves " + name + " both projected and by AdamW");
                }
                NDList moments = new NDList();
                for (String m : momentNames) {
                    NDArray saved = required(state, entry(m, name), scratch);
                    check(
                            entry(m, name),
                            saved,
                            new StateSpec(layout.lowShape(), layout.dataType()));
                    moments.add(saved);
                }
                List<StateSpec> specs = projectorStateSpecs(layout);
                NDList projector = new NDList();
                for (int i = 0; i < stateNames.size(); i++) {
                    String entry = entry(stateNames.get(i), name);
                    NDArray saved = required(state, entry, scratch);
                    check(entry, saved, specs.get(i));
                    projector.add(saved);
                }
                Slot slot = new Slot(layout, manager);
                restored.put(key, slot);
                slot.install(copy(moments, slot.manager), copy(projector, slot.manager));
                restoredLayouts.put(key, layout);
            }
            long refreshes = state.getLong(prefix + "/hostRefreshes");
            done = true;
            adamw.close();
            adamw = restoredAdamw;
            slots.values().forEach(Slot::close);
            slots.clear();
            slots.putAll(restored);
            layouts.clear();
            layouts.putAll(restoredLayouts);
            plain.clear();
            restoredPlain.forEach(
                    (key, spec) ->
                            plain.put(
                                    key,
                                    new StateSpec(
                                            spec.shape(), adamw.get(key).head().getDataType())));
            stateManager = manager;
            hostRefreshes = refreshes;
        } finally {
            if (!done) {
                restoredAdamw.close();
                restored.values().forEach(Slot::close);
                if (stateManager == null) {
                    manager.close();
                }
            }
        }
    }

    /**
     * DJL's name of a parameter from the model's ({@code 01Linear_weight} gives {@code weight}).
     */
    private static String djlNameOf(String name) {
        int cut = name.lastIndexOf('_');
        return cut < 0 ? name : name.substring(cut + 1);
    }

    private static NDArray required(OptimizerState state, String entry, NDManager owner) {
        if (!state.contains(entry)) {
            throw new IllegalArgumentException("the checkpoint has no entry '" + entry + "'");
        }
        return state.array(entry, owner);
    }

    private static void check(String entry, NDArray saved, StateSpec spec) {
        if (!saved.getShape().equals(spec.shape()) || saved.getDataType() != spec.dataType()) {
            throw new IllegalArgumentException(
                    "the saved '"
                            + entry
                            + "' is "
                            + saved.getDataType()
                            + " "
                            + saved.getShape()
                            + ", but these settings keep "
                            + spec.dataType()
                            + " "
                            + spec.shape());
        }
    }

    private static NDList copy(NDList arrays, NDManager owner) {
        NDList out = new NDList(arrays.size());
        for (NDArray a : arrays) {
            out.add(Workspace.copy(a, owner));
        }
        return out;
    }

    /**
     * Returns {@code lowRankParameters}, {@code adamParameters}, {@code stateBytes} and {@code
     * adamStateBytes}.
     *
     * @return the counters by name
     */
    @Override
    protected Map<String, Object> curvatureHealth() {
        long bytes = 0;
        long adamBytes = 0;
        List<Layout> started = new ArrayList<>();
        for (Slot slot : slots.values()) {
            started.add(slot.layout);
            bytes += bytes(slot.moments) + bytes(slot.projector);
            adamBytes += 2 * slot.layout.shape().size() * slot.layout.dataType().getNumOfBytes();
        }
        long adamParameters = 0;
        for (Map.Entry<String, StateSpec> e : plain.entrySet()) {
            NDList moments = adamw.get(e.getKey());
            if (moments != null) {
                adamParameters++;
                long b = 2 * e.getValue().shape().size() * e.getValue().dataType().getNumOfBytes();
                bytes += b;
                adamBytes += b;
            }
        }
        bytes += sharedStateBytes(started);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("lowRankParameters", (long) slots.size());
        out.put("adamParameters", adamParameters);
        out.put("stateBytes", bytes);
        out.put("adamStateBytes", adamBytes);
        return out;
    }

    private static long bytes(NDList arrays) {
        long total = 0;
        for (NDArray a : arrays) {
            total += a.size() * a.getDataType().getNumOfBytes();
        }
        return total;
    }

    /**
     * Returns the layouts of the projected parameters started so far, by the model's name for them.
     *
     * @return rank, side and shape of each, sorted by name
     */
    public Map<String, String> projectedParameters() {
        Map<String, String> named = new TreeMap<>();
        slots.forEach((key, slot) -> named.put(nameOf(key), describe(slot.layout)));
        return named;
    }

    /**
     * Returns the rank setting \( r_0 \).
     *
     * @return the rank
     */
    public int getRank() {
        return rank;
    }

    /**
     * Returns the period T: the refresh period of {@link DctAdam}'s and {@link GaLore}'s bases, in
     * taken steps, and 1/T is the learning rate of {@link OnlineSubspaceDescent}'s basis.
     *
     * @return T
     */
    public int getUpdatePeriod() {
        return updatePeriod;
    }

    /**
     * Returns the maximal rank as a fraction f of a matrix's smaller side.
     *
     * @return f
     */
    public double getMaxRankFraction() {
        return maxRankFraction;
    }

    /**
     * Returns the smallest rank at which a matrix is projected.
     *
     * @return the minimal rank
     */
    public int getMinRank() {
        return minRank;
    }

    /**
     * Returns the projection side.
     *
     * @return the side
     */
    public ProjectionSide getProjectionSide() {
        return side;
    }

    /**
     * Returns the scale \( \alpha \) of the projected update.
     *
     * @return \( \alpha \)
     */
    public float getScale() {
        return scale;
    }

    /**
     * Returns Adam's \( \beta_1 \).
     *
     * @return \( \beta_1 \)
     */
    public float getBeta1() {
        return beta1;
    }

    /**
     * Returns Adam's \( \beta_2 \).
     *
     * @return \( \beta_2 \)
     */
    public float getBeta2() {
        return beta2;
    }

    /**
     * Returns Adam's \( \epsilon \).
     *
     * @return \( \epsilon \)
     */
    public float getEpsilon() {
        return epsilon;
    }

    /**
     * Returns the rule that chooses the parameters that may be projected.
     *
     * @return the rule
     */
    public ParameterRule getParameterRule() {
        return rule;
    }

    /**
     * The settings shared by the low-rank methods, in DJL's builder idiom; each has the default
     * given by the method, and is checked, with its name and value, at {@code build()}.
     *
     * @param <T> the concrete builder
     */
    public abstract static class Builder<T extends Builder<T>> extends BaseBuilder<T> {

        private int rank;
        private int updatePeriod = 200;
        private double maxRankFraction = 0.25;
        private int minRank = 4;
        private ProjectionSide side = ProjectionSide.AUTO;
        private float scale;
        private float beta1 = 0.9f;
        private float beta2 = 0.999f;
        private float epsilon;
        private ParameterRule rule = ParameterRule.MATRICES;

        /**
         * Creates a builder with a method's defaults.
         *
         * @param learningRate the default learning rate
         * @param rank the default rank
         * @param scale the default scale
         * @param epsilon the default epsilon
         */
        protected Builder(float learningRate, int rank, float scale, float epsilon) {
            super(learningRate);
            this.rank = rank;
            this.scale = scale;
            this.epsilon = epsilon;
        }

        /**
         * Sets the rank \( r_0 \); a matrix gets \( \min(r_0, \lfloor f s_{\min} \rfloor) \).
         *
         * @param rank at least 1
         * @return this {@code Builder}
         */
        public T optRank(int rank) {
            this.rank = rank;
            return self();
        }

        /**
         * Sets the period T: {@link DctAdam} chooses its columns again at every taken step t
         * divisible by T; {@link GaLore} recomputes its bases at every taken step t with t - 1
         * divisible by T; {@link OnlineSubspaceDescent} moves its basis at the rate 1/T (the
         * references' {@code update_proj_gap}).
         *
         * @param updatePeriod T, at least 1; default 200
         * @return this {@code Builder}
         */
        public T optUpdatePeriod(int updatePeriod) {
            this.updatePeriod = updatePeriod;
            return self();
        }

        /**
         * Sets f, the largest rank as a fraction of a matrix's smaller side.
         *
         * @param maxRankFraction in (0, 1]; default 0.25
         * @return this {@code Builder}
         */
        public T optMaxRankFraction(double maxRankFraction) {
            this.maxRankFraction = maxRankFraction;
            return self();
        }

        /**
         * Sets the smallest rank at which a matrix is projected; smaller ones move by AdamW.
         *
         * @param minRank from 1 to the rank; default 4
         * @return this {@code Builder}
         */
        public T optMinRank(int minRank) {
            this.minRank = minRank;
            return self();
        }

        /**
         * Sets the projected side.
         *
         * @param side the side; default {@link ProjectionSide#AUTO}
         * @return this {@code Builder}
         */
        public T optProjectionSide(ProjectionSide side) {
            this.side = side;
            return self();
        }

        /**
         * Sets the scale \( \alpha \) of the projected update.
         *
         * @param scale positive and finite
         * @return this {@code Builder}
         */
        public T optScale(float scale) {
            this.scale = scale;
            return self();
        }

        /**
         * Sets Adam's \( \beta_1 \) and \( \beta_2 \).
         *
         * @param beta1 in [0, 1); default 0.9
         * @param beta2 in [0, 1); default 0.999
         * @return this {@code Builder}
         */
        public T optBetas(float beta1, float beta2) {
            this.beta1 = beta1;
            this.beta2 = beta2;
            return self();
        }

        /**
         * Sets Adam's \( \epsilon \).
         *
         * @param epsilon positive and finite
         * @return this {@code Builder}
         */
        public T optEpsilon(float epsilon) {
            this.epsilon = epsilon;
            return self();
        }

        /**
         * Sets the rule that chooses the parameters that may be projected.
         *
         * @param rule the rule; default {@link ParameterRule#MATRICES}
         * @return this {@code Builder}
         */
        public T optParameterRule(ParameterRule rule) {
            this.rule = rule;
            return self();
        }

        /**
         * Checks the shared settings.
         *
         * @throws IllegalArgumentException naming the setting and its value if one is invalid
         */
        protected void validate() {
            if (rank < 1) {
                throw new IllegalArgumentException("rank must be at least 1, but was " + rank);
            }
            if (updatePeriod < 1) {
                throw new IllegalArgumentException(
                        "updatePeriod must be at least 1, but was " + updatePeriod);
            }
            if (!(maxRankFraction > 0 && maxRankFraction <= 1)) {
                throw new IllegalArgumentException(
                        "maxRankFraction must be in (0, 1], but was " + maxRankFraction);
            }
            if (minRank < 1 || minRank > rank) {
                throw new IllegalArgumentException(
                        "minRank must be from 1 to the rank (" + rank + "), but was " + minRank);
            }
            if (side == null) {
                throw new IllegalArgumentException("projectionSide must not be null");
            }
            if (!(scale > 0) || Float.isInfinite(scale)) {
                throw new IllegalArgumentException(
                        "scale must be positive and finite, but was " + scale);
            }
            if (!(beta1 >= 0 && beta1 < 1)) {
                throw new IllegalArgumentException("beta1 must be in [0, 1), but was " + beta1);
            }
            if (!(beta2 >= 0 && beta2 < 1)) {
                throw new IllegalArgumentException("beta2 must be in [0, 1), but was " + beta2);
            }
            if (!(epsilon > 0) || Float.isInfinite(epsilon)) {
                throw new IllegalArgumentException(
                        "epsilon must be positive and finite, but was " + epsilon);
            }
            if (rule == null) {
                throw new IllegalArgumentException("parameterRule must not be null");
            }
        }
    }

    /**
     * The settings of methods that compute a basis by {@link RandomizedSubspaceIteration}: its
     * power iterations and oversampling, and the seed of its random starts.
     *
     * @param <T> the concrete builder
     */
    public abstract static class SubspaceIterationBuilder<T extends SubspaceIterationBuilder<T>>
            extends Builder<T> {

        private int powerIterations = RandomizedSubspaceIteration.DEFAULT_POWER_ITERATIONS;
        private int oversampling = RandomizedSubspaceIteration.DEFAULT_OVERSAMPLING;
        private long seed;

        /**
         * Creates a builder with a method's defaults.
         *
         * @param learningRate the default learning rate
         * @param rank the default rank
         * @param scale the default scale
         * @param epsilon the default epsilon
         */
        protected SubspaceIterationBuilder(
                float learningRate, int rank, float scale, float epsilon) {
            super(learningRate, rank, scale, epsilon);
        }

        /**
         * Sets the subspace iteration's number of power iterations q.
         *
         * @param powerIterations at least 0; default 2
         * @return this {@code Builder}
         */
        public T optPowerIterations(int powerIterations) {
            this.powerIterations = powerIterations;
            return self();
        }

        /**
         * Sets the subspace iteration's oversampling p (k = r + p columns, at most the smaller
         * side).
         *
         * @param oversampling at least 0; default 8
         * @return this {@code Builder}
         */
        public T optOversampling(int oversampling) {
            this.oversampling = oversampling;
            return self();
        }

        /**
         * Sets the seed of the random starts.
         *
         * @param seed any value; default 0
         * @return this {@code Builder}
         */
        public T optSeed(long seed) {
            this.seed = seed;
            return self();
        }

        /**
         * Returns the seed.
         *
         * @return the seed
         */
        protected long seed() {
            return seed;
        }

        /**
         * Returns the configured iteration.
         *
         * @return the iteration
         * @throws IllegalArgumentException naming the setting and its value if one is invalid
         */
        protected RandomizedSubspaceIteration iteration() {
            return new RandomizedSubspaceIteration(powerIterations, oversampling);
        }

        /** {@inheritDoc} */
        @Override
        protected void validate() {
            super.validate();
            iteration();
        }
    }
}
