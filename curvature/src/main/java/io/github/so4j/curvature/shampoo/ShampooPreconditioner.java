package io.github.so4j.curvature.shampoo;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.linalg.CoupledNewtonInverseRoot;
import io.github.so4j.curvature.linalg.EigenInverseRoot;
import io.github.so4j.curvature.linalg.InverseRootMethod;
import io.github.so4j.curvature.linalg.InverseRoots;
import java.util.function.BinaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Shampoo's preconditioner for one parameter tensor: Kronecker statistics of its gradients, block
 * by block, and their inverse roots.
 *
 * <p>The tensor is seen as a matrix cut into blocks (see {@link BlockLayout}). For each block's
 * gradient \( G \) (r x c) the preconditioner keeps (in {@link KroneckerStatistics}, which SOAP
 * shares)
 *
 * <p>\( L \leftarrow \beta_2 L + w\, G G^\top \), \( R \leftarrow \beta_2 R + w\, G^\top G \) (\( w
 * = 1 \) for \( \beta_2 = 1 \), running sums as in AdaGrad; \( w = 1 - \beta_2 \) otherwise)
 *
 * <p>and, refreshed only when asked (every few steps: the amortized part), the roots \( \hat
 * L^{-1/p_L} \) and \( \hat R^{-1/p_R} \) of the bias-corrected statistics \( \hat L = L / (1 -
 * \beta_2^n) \) (n the number of statistics updates, counted on the device) with the relative ridge
 * \( \epsilon_{rel} \lambda_{\max} \) (see {@link
 * io.github.so4j.curvature.linalg.InverseRootMethod}). The preconditioned direction of a block is
 *
 * <p>\( D = \hat L^{-1/p_L}\, G\, \hat R^{-1/p_R} \)
 *
 * <p>(the paper's \( L^{-1/4} G R^{-1/4} \) for \( p_L = p_R = 4 \); \( p = 2 \) on both sides is
 * "Shampoo squared"). Before the first root computation the roots are identities.
 *
 * <p><b>Staged changes.</b> An optimizer that decides on the device whether a step is taken
 * computes the candidates first, {@link #next(NDArray)} for the statistics and {@link #nextRoots}
 * for the roots, and installs them afterwards with {@link #commit(Statistics, BinaryOperator)}
 * (which chooses, array by array, between the candidate and the current value) and {@link
 * #commit(Roots)}. Nothing changes before a commit. {@link #update(NDArray)} and {@link
 * #updateRoots()} do both at once. Updating the statistics reads nothing from the device; a root
 * computation reads through {@link HostReads} (the host eigendecomposition, the Newton residuals).
 *
 * <p>Failure ladder of a root computation, per factor matrix: a batch of b factors of size n goes
 * to the host eigendecomposition directly when its work is at most that of one factor of size
 * {@code hostRootMaxDim} (\( b n^3 \le \) hostRootMaxDim<sup>3</sup>), otherwise to the coupled
 * Newton iteration in the statistics' dtype. A root whose residual exceeds {@code
 * acceptableResidual} (or is not finite) is recomputed in float64 on the device (for float32
 * statistics), then on the host; if that fails too, the previous root is kept and the failure
 * counted. After more than {@code maxConsecutiveFailures} computations in a row with a failure, the
 * computation throws (and changes nothing). Each rung is counted in {@link #health()} and logged at
 * WARN the first time it happens for this preconditioner.
 *
 * <p><b>Cost</b> for an m x n tensor in blocks of r x c: statistics \( m n (r + c) \) multiply-adds
 * per update, the direction as much again; memory \( 2 (m r + n c) \) for the statistics and roots
 * (padded sizes). A root computation costs about 4 r<sup>3</sup> per Newton step per left factor (p
 * = 4), 20 steps for \( \kappa = 10^6 \), and the same for the right.
 *
 * @see <a href="https://arxiv.org/abs/1802.09568">paper</a>
 */
public final class ShampooPreconditioner implements AutoCloseable {

    private static final Logger logger = LoggerFactory.getLogger(ShampooPreconditioner.class);

    private final String name;
    private final NDManager manager;
    private final BlockLayout layout;
    private final ShampooConfig config;
    private final DataType dataType;
    private final CoupledNewtonInverseRoot newton;
    private final EigenInverseRoot eigen = new EigenInverseRoot();
    private final KroneckerStatistics statistics;
    private NDArray leftRoots;
    private NDArray rightRoots;
    private RootHealth health = RootHealth.EMPTY;
    private boolean warnedRetry;
    private boolean warnedFallback;

    /**
     * The statistics contributed by one gradient, before they are added (so that a caller can check
     * them first).
     *
     * @param left \( G G^\top \) per block, shape (blocks, r, r)
     * @param right \( G^\top G \) per block, shape (blocks, c, c)
     */
    public record Increments(NDArray left, NDArray right) {}

    /**
     * Statistics: the current ones, or candidates not yet committed.
     *
     * @param left L per block (not bias-corrected), shape (blocks, r, r)
     * @param right R per block, shape (blocks, c, c)
     * @param updates the number of updates they contain (n in the bias correction), an int64 scalar
     *     on the device
     */
    public record Statistics(NDArray left, NDArray right, NDArray updates) {}

    /**
     * Inverse roots: the current ones, or candidates not yet committed.
     *
     * @param left the roots of L per block, shape (blocks, r, r)
     * @param right the roots of R per block, shape (blocks, c, c)
     * @param health the root computations' counters including the one that made these roots
     */
    public record Roots(NDArray left, NDArray right, RootHealth health) {}

    /**
     * The complete state of a preconditioner, for checkpoints.
     *
     * @param left the statistics L (not bias-corrected), shape (blocks, r, r)
     * @param right the statistics R, shape (blocks, c, c)
     * @param leftRoots the current roots of L, shape (blocks, r, r)
     * @param rightRoots the current roots of R, shape (blocks, c, c)
     * @param statisticsUpdates the number of statistics updates (n in the bias correction), an
     *     int64 scalar
     * @param health the root computations' counters
     */
    public record State(
            NDArray left,
            NDArray right,
            NDArray leftRoots,
            NDArray rightRoots,
            NDArray statisticsUpdates,
            RootHealth health) {}

    /**
     * Creates the preconditioner of one tensor, with zero statistics and identity roots.
     *
     * @param manager the manager whose device holds the state; this object owns a sub-manager
     * @param name a name for messages (e.g. the parameter's)
     * @param shape the tensor's shape; must be {@linkplain BlockLayout#preconditionable
     *     preconditionable}
     * @param dataType the dtype of the gradients and the state: float32 or float64
     * @param config the settings
     * @throws IllegalArgumentException naming the argument and its value if one is invalid
     */
    public ShampooPreconditioner(
            NDManager manager, String name, Shape shape, DataType dataType, ShampooConfig config) {
        if (dataType != DataType.FLOAT32 && dataType != DataType.FLOAT64) {
            throw new IllegalArgumentException(
                    "dataType must be float32 or float64, but was " + dataType);
        }
        this.layout = BlockLayout.of(shape, config.maxPreconditionerDim());
        this.name = name;
        this.config = config;
        this.dataType = dataType;
        this.newton =
                new CoupledNewtonInverseRoot(
                        config.newtonMaxIterations(), config.newtonTolerance());
        this.manager = manager.newSubManager();
        long blocks = layout.blockCount();
        long r = layout.rowBlockSize();
        long c = layout.columnBlockSize();
        this.statistics =
                new KroneckerStatistics(
                        this.manager,
                        name,
                        new Shape(blocks, r, c),
                        dataType,
                        config.beta2(),
                        true,
                        true,
                        true);
        this.leftRoots = identities(blocks, r);
        this.rightRoots = identities(blocks, c);
    }

    private NDArray identities(long blocks, long size) {
        try (NDManager scope = manager.newSubManager()) {
            int n = Math.toIntExact(size);
            NDArray eye = scope.eye(n, n, 0, dataType).expandDims(0).repeat(0, blocks);
            eye.attach(manager);
            return eye;
        }
    }

    /**
     * Computes the statistics of one gradient without adding them.
     *
     * @param blocks the gradient's blocks, from {@link BlockLayout#toBlocks}. Not modified.
     * @return \( G G^\top \) and \( G^\top G \) per block, in {@code blocks}' manager
     */
    public Increments increments(NDArray blocks) {
        checkBlocks(blocks);
        return statistics.increments(blocks);
    }

    /**
     * Computes the candidate statistics after one more gradient, without changing anything: \(
     * \beta_2 L + w\, G G^\top \), the same for R, and the update count plus one.
     *
     * @param blocks the gradient's blocks, from {@link BlockLayout#toBlocks}. Not modified.
     * @return new arrays in {@code blocks}' manager
     */
    public Statistics next(NDArray blocks) {
        return next(increments(blocks));
    }

    private Statistics next(Increments increments) {
        return statistics.next(increments);
    }

    /**
     * Installs statistics: for each array, whatever {@code keep} chooses between the candidate and
     * the current value (the candidate itself, or a device-side selection by the step's decision).
     *
     * @param candidate from {@link #next(NDArray)}. Not modified unless {@code keep} returns its
     *     arrays, which then move to this preconditioner.
     * @param keep (candidate, current) to the array to keep; must not read from the device
     */
    public void commit(Statistics candidate, BinaryOperator<NDArray> keep) {
        statistics.commit(candidate, keep);
    }

    private NDArray kept(NDArray array) {
        array.attach(manager);
        return array;
    }

    /**
     * Adds the statistics of one gradient: \( L \leftarrow \beta_2 L + w \Delta L \), the same for
     * R.
     *
     * @param increments from {@link #increments}. Not modified.
     */
    public void accumulate(Increments increments) {
        commit(next(increments), (candidate, current) -> candidate);
    }

    /**
     * Adds the statistics of one gradient tensor (cuts it into blocks, computes and adds the
     * increments).
     *
     * @param gradient an array of the layout's shape. Not modified.
     */
    @SuppressWarnings("try") // the workspace only collects the temporaries of the body
    public void update(NDArray gradient) {
        try (Workspace ws = new Workspace(manager, gradient)) {
            accumulate(increments(layout.toBlocks(gradient)));
        }
    }

    /**
     * Recomputes the inverse roots of every block's factors from the current statistics (the
     * amortized computation), climbing the failure ladder where a root is not acceptable.
     *
     * @throws IllegalStateException if this is the computation number {@code maxConsecutiveFailures
     *     + 1} in a row in which some factor failed (nothing changes then)
     */
    public void updateRoots() {
        commit(nextRoots(statistics.current(), manager));
    }

    /**
     * Computes candidate inverse roots of the given statistics, climbing the failure ladder where a
     * root is not acceptable, without changing the preconditioner (the once-per-preconditioner
     * warnings aside). Reads from the device through {@link HostReads}.
     *
     * @param statistics the statistics to root: {@link #statistics()} or a candidate. Not modified.
     * @param owner the manager that will own the candidate roots
     * @return the roots, and the counters with this computation included
     * @throws IllegalStateException if this is the computation number {@code maxConsecutiveFailures
     *     + 1} in a row in which some factor failed
     */
    public Roots nextRoots(Statistics statistics, NDManager owner) {
        long[] tally = {
            health.computations() + 1,
            health.float64Retries(),
            health.hostFallbacks(),
            health.failedRoots()
        };
        String[] problem = {health.lastProblem()};
        long failedBefore = tally[3];
        NDArray newLeft;
        NDArray newRight;
        try (Workspace ws =
                new Workspace(
                        owner,
                        statistics.left(),
                        statistics.right(),
                        statistics.updates(),
                        leftRoots,
                        rightRoots)) {
            NDArray n = statistics.updates();
            newLeft =
                    refresh(
                            statistics.left(),
                            n,
                            leftRoots,
                            config.leftRoot(),
                            "L",
                            tally,
                            problem);
            newRight =
                    refresh(
                            statistics.right(),
                            n,
                            rightRoots,
                            config.rightRoot(),
                            "R",
                            tally,
                            problem);
            ws.keep(newLeft, owner);
            ws.keep(newRight, owner);
        }
        boolean failed = tally[3] > failedBefore;
        RootHealth next =
                new RootHealth(
                        tally[0],
                        tally[1],
                        tally[2],
                        tally[3],
                        failed ? health.consecutiveFailures() + 1 : 0,
                        problem[0]);
        if (next.consecutiveFailures() > config.maxConsecutiveFailures()) {
            newLeft.close();
            newRight.close();
            throw new IllegalStateException(
                    "Shampoo "
                            + name
                            + ": inverse roots failed in "
                            + next.consecutiveFailures()
                            + " consecutive computations (at most "
                            + config.maxConsecutiveFailures()
                            + " tolerated); last problem: "
                            + next.lastProblem());
        }
        if (next.consecutiveFailures() == 1) {
            logger.warn("Shampoo {}: {}; previous roots kept", name, next.lastProblem());
        }
        return new Roots(newLeft, newRight, next);
    }

    /**
     * Installs roots from {@link #nextRoots}, with their counters.
     *
     * @param roots the candidate roots; their arrays move to this preconditioner
     */
    public void commit(Roots roots) {
        NDArray[] old = {leftRoots, rightRoots};
        leftRoots = kept(roots.left());
        rightRoots = kept(roots.right());
        health = roots.health();
        for (NDArray array : old) {
            array.close();
        }
    }

    /**
     * New roots of one side, in the workspace that borrowed {@code statistics} (and {@code
     * previous}); counts the rungs in {@code tally} (computations, float64 retries, host fallbacks,
     * failed roots) and keeps the last problem in {@code problem}.
     */
    private NDArray refresh(
            NDArray statistics,
            NDArray updates,
            NDArray previous,
            int p,
            String side,
            long[] tally,
            String[] problem) {
        int n = Math.toIntExact(statistics.getShape().get(1));
        double epsilon = config.relativeEpsilon();
        NDManager scope = statistics.getManager();
        NDArray corrected = biasCorrected(statistics, updates);
        long batch = statistics.getShape().get(0);
        double hostSize = config.hostRootMaxDim();
        boolean host = batch * Math.pow(n, 3) <= Math.pow(hostSize, 3);
        InverseRootMethod first = host ? eigen : newton;
        InverseRoots result = first.compute(corrected, p, epsilon, scope);
        NDArray roots = result.roots();
        for (int b = 0; b < result.residuals().length; b++) {
            if (result.within(b, config.acceptableResidual())) {
                continue;
            }
            String where = side + " of block " + b + " (" + n + " x " + n + ")";
            NDArray block = corrected.get(new NDIndex("{}:{}", b, b + 1));
            NDArray replacement = null;
            double residual = result.residuals()[b];
            if (!host && dataType != DataType.FLOAT64) {
                InverseRoots retry =
                        newton.compute(block.toType(DataType.FLOAT64, false), p, epsilon, scope);
                tally[1]++;
                problem[0] = where + ": float32 root residual " + residual + ", retried in float64";
                note(problem[0], !warnedRetry);
                warnedRetry = true;
                if (retry.within(0, config.acceptableResidual())) {
                    replacement = retry.roots().toType(dataType, false);
                }
                residual = retry.residuals()[0];
            }
            if (replacement == null && !host) {
                InverseRoots fallback = eigen.compute(block, p, epsilon, scope);
                tally[2]++;
                problem[0] =
                        where + ": device root residual " + residual + ", computed on the host";
                note(problem[0], !warnedFallback);
                warnedFallback = true;
                if (fallback.within(0, config.acceptableResidual())) {
                    replacement = fallback.roots();
                }
                residual = fallback.residuals()[0];
            }
            if (replacement == null) {
                tally[3]++;
                problem[0] = where + ": no acceptable root (residual " + residual + ")";
                replacement = previous.get(new NDIndex("{}:{}", b, b + 1));
            }
            roots = replace(roots, b, replacement);
        }
        return roots;
    }

    /** Roots with block b replaced; a new array in the workspace of {@code roots}. */
    private static NDArray replace(NDArray roots, int b, NDArray replacement) {
        long blocks = roots.getShape().get(0);
        NDList parts = new NDList();
        if (b > 0) {
            parts.add(roots.get(new NDIndex("0:{}", b)));
        }
        parts.add(replacement);
        if (b + 1 < blocks) {
            parts.add(roots.get(new NDIndex("{}:", b + 1)));
        }
        return parts.size() == 1 ? parts.head() : NDArrays.concat(parts);
    }

    private void note(String problem, boolean warn) {
        if (warn) {
            logger.warn("Shampoo {}: {} (reported once per preconditioner)", name, problem);
        } else {
            logger.debug("Shampoo {}: {}", name, problem);
        }
    }

    /**
     * \( S / (1 - \beta_2^n) \) on the device, n being the update count (at least 1: zero
     * statistics need no correction); S itself for running sums or without bias correction.
     */
    private NDArray biasCorrected(NDArray statistics, NDArray updates) {
        double beta2 = config.beta2();
        if (beta2 == 1 || !config.biasCorrection()) {
            return statistics;
        }
        NDArray n = updates.toType(DataType.FLOAT64, false).maximum(1);
        NDArray correction = n.mul(Math.log(beta2)).exp().neg().add(1);
        return statistics.div(correction);
    }

    /**
     * Applies the preconditioner to a gradient's blocks: \( \hat L^{-1/p_L} G \hat R^{-1/p_R} \)
     * per block, with the current roots.
     *
     * @param blocks shape (blocks, r, c), from {@link BlockLayout#toBlocks}. Not modified.
     * @return the directions' blocks, a new array in {@code blocks}' manager
     */
    public NDArray precondition(NDArray blocks) {
        return precondition(blocks, roots());
    }

    /**
     * Applies given roots (current or candidate) to a gradient's blocks: \( X_L G X_R \) per block.
     *
     * @param blocks shape (blocks, r, c), from {@link BlockLayout#toBlocks}. Not modified.
     * @param roots the roots, from {@link #roots()} or {@link #nextRoots}. Not modified.
     * @return the directions' blocks, a new array in {@code blocks}' manager
     */
    public NDArray precondition(NDArray blocks, Roots roots) {
        checkBlocks(blocks);
        NDManager caller = blocks.getManager();
        try (Workspace ws = new Workspace(caller, blocks, roots.left(), roots.right())) {
            return ws.keep(roots.left().matMul(blocks).matMul(roots.right()), caller);
        }
    }

    /**
     * Applies the preconditioner to a tensor (cut into blocks and put back together).
     *
     * @param tensor an array of the layout's shape. Not modified.
     * @return the direction, a new array of the same shape in {@code tensor}'s manager
     */
    public NDArray preconditionTensor(NDArray tensor) {
        NDManager caller = tensor.getManager();
        try (Workspace ws = new Workspace(manager, tensor)) {
            NDArray blocks = layout.toBlocks(tensor);
            return ws.keep(layout.fromBlocks(precondition(blocks)), caller);
        }
    }

    private void checkBlocks(NDArray blocks) {
        Shape expected =
                new Shape(layout.blockCount(), layout.rowBlockSize(), layout.columnBlockSize());
        if (!blocks.getShape().equals(expected)) {
            throw new IllegalArgumentException(
                    "blocks must have shape " + expected + ", but had " + blocks.getShape());
        }
        if (blocks.getDataType() != dataType) {
            throw new IllegalArgumentException(
                    "blocks must be " + dataType + ", but were " + blocks.getDataType());
        }
    }

    /**
     * Returns the current statistics: the live arrays, valid until the next commit. They must not
     * be modified.
     *
     * @return the statistics
     */
    public Statistics statistics() {
        return statistics.current();
    }

    /**
     * Returns the current roots: the live arrays, valid until the next commit. They must not be
     * modified.
     *
     * @return the roots and the counters
     */
    public Roots roots() {
        return new Roots(leftRoots, rightRoots, health);
    }

    /**
     * Returns a copy of the left statistics L (not bias-corrected), shape (blocks, r, r).
     *
     * @param owner the manager of the copy
     * @return the copy
     */
    public NDArray leftStatistics(NDManager owner) {
        return Workspace.copy(statistics.current().left(), owner);
    }

    /**
     * Returns a copy of the right statistics R (not bias-corrected), shape (blocks, c, c).
     *
     * @param owner the manager of the copy
     * @return the copy
     */
    public NDArray rightStatistics(NDManager owner) {
        return Workspace.copy(statistics.current().right(), owner);
    }

    /**
     * Returns a copy of the current left roots, shape (blocks, r, r).
     *
     * @param owner the manager of the copy
     * @return the copy
     */
    public NDArray leftRoots(NDManager owner) {
        return Workspace.copy(leftRoots, owner);
    }

    /**
     * Returns a copy of the current right roots, shape (blocks, c, c).
     *
     * @param owner the manager of the copy
     * @return the copy
     */
    public NDArray rightRoots(NDManager owner) {
        return Workspace.copy(rightRoots, owner);
    }

    /**
     * Returns the complete state, for a checkpoint: the live arrays, not copies, valid until the
     * next commit. The arrays must not be modified.
     *
     * @return the state
     */
    public State state() {
        Statistics s = statistics.current();
        return new State(s.left(), s.right(), leftRoots, rightRoots, s.updates(), health);
    }

    /**
     * Replaces the state with a saved one (copies of its arrays); the once-per-preconditioner
     * warnings are not part of the state. Nothing changes unless every array matches.
     *
     * @param state a state from {@link #state()} of a preconditioner with the same layout and
     *     dtype. Not modified.
     * @throws IllegalArgumentException naming the first array whose shape or dtype differs
     */
    public void restore(State state) {
        Statistics saved = new Statistics(state.left(), state.right(), state.statisticsUpdates());
        statistics.checkRestorable(saved);
        KroneckerStatistics.checkSaved("left roots", name, state.leftRoots(), leftRoots);
        KroneckerStatistics.checkSaved("right roots", name, state.rightRoots(), rightRoots);
        statistics.restore(saved);
        NDArray[] old = {leftRoots, rightRoots};
        leftRoots = Workspace.copy(state.leftRoots(), manager);
        rightRoots = Workspace.copy(state.rightRoots(), manager);
        for (NDArray array : old) {
            array.close();
        }
        health = state.health();
    }

    /**
     * Returns the number of statistics updates so far (n in the bias correction). It lives on the
     * device: this reads it (one counted read, {@link HostReads}).
     *
     * @return the number of updates
     */
    public long statisticsUpdates() {
        return HostReads.toLong(statistics.current().updates());
    }

    /**
     * Returns the layout of the tensor.
     *
     * @return the layout
     */
    public BlockLayout layout() {
        return layout;
    }

    /**
     * Returns the settings.
     *
     * @return the settings
     */
    public ShampooConfig config() {
        return config;
    }

    /**
     * Returns what the root computations have done so far.
     *
     * @return a snapshot of the counters
     */
    public RootHealth health() {
        return health;
    }

    /**
     * Returns the name given at construction (the parameter's, for messages and reports).
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "ShampooPreconditioner[" + name + ", " + layout + "]";
    }

    /** Frees the statistics and roots. */
    @Override
    public void close() {
        manager.close();
    }
}
