package io.github.so4j.curvature.shampoo;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.linalg.CoupledNewtonInverseRoot;
import io.github.so4j.curvature.linalg.EigenInverseRoot;
import io.github.so4j.curvature.linalg.InverseRootMethod;
import io.github.so4j.curvature.linalg.InverseRoots;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Shampoo's preconditioner for one parameter tensor: Kronecker statistics of its gradients, block
 * by block, and their inverse roots.
 *
 * <p>The tensor is seen as a matrix cut into blocks (see {@link BlockLayout}). For each block's
 * gradient \( G \) (r x c) the preconditioner keeps
 *
 * <p>\( L \leftarrow \beta_2 L + w\, G G^\top \), \( R \leftarrow \beta_2 R + w\, G^\top G \) (\( w
 * = 1 \) for \( \beta_2 = 1 \), running sums as in AdaGrad; \( w = 1 - \beta_2 \) otherwise)
 *
 * <p>and, refreshed only when {@link #updateRoots()} is called (every few steps: the amortized
 * part), the roots \( \hat L^{-1/p_L} \) and \( \hat R^{-1/p_R} \) of the bias-corrected statistics
 * \( \hat L = L / (1 - \beta_2^t) \) with the relative ridge \( \epsilon_{rel} \lambda_{\max} \)
 * (see {@link io.github.so4j.curvature.linalg.InverseRootMethod}). The preconditioned direction of
 * a block is
 *
 * <p>\( D = \hat L^{-1/p_L}\, G\, \hat R^{-1/p_R} \)
 *
 * <p>(the paper's \( L^{-1/4} G R^{-1/4} \) for \( p_L = p_R = 4 \); \( p = 2 \) on both sides is
 * "Shampoo squared"). Before the first root computation the roots are identities.
 *
 * <p>Failure ladder of a root computation, per factor matrix: a batch of b factors of size n goes
 * to the host eigendecomposition directly when its work is at most that of one factor of size
 * {@code hostRootMaxDim} (\( b n^3 \le \) hostRootMaxDim<sup>3</sup>), otherwise to the coupled
 * Newton iteration in the statistics' dtype. A root whose residual exceeds {@code
 * acceptableResidual} (or is not finite) is recomputed in float64 on the device (for float32
 * statistics), then on the host; if that fails too, the previous root is kept and the failure
 * counted. After more than {@code maxConsecutiveFailures} computations in a row with a failure,
 * {@link #updateRoots()} throws. Each rung is counted in {@link #health()} and logged at WARN the
 * first time it happens for this preconditioner.
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
    private NDArray left;
    private NDArray right;
    private NDArray leftRoots;
    private NDArray rightRoots;
    private long statisticsUpdates;

    private long computations;
    private long float64Retries;
    private long hostFallbacks;
    private long failedRoots;
    private int consecutiveFailures;
    private String lastProblem = "";
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
     * The complete state of a preconditioner, for checkpoints.
     *
     * @param left the statistics L (not bias-corrected), shape (blocks, r, r)
     * @param right the statistics R, shape (blocks, c, c)
     * @param leftRoots the current roots of L, shape (blocks, r, r)
     * @param rightRoots the current roots of R, shape (blocks, c, c)
     * @param statisticsUpdates the number of statistics updates (t in the bias correction)
     * @param health the root computations' counters
     */
    public record State(
            NDArray left,
            NDArray right,
            NDArray leftRoots,
            NDArray rightRoots,
            long statisticsUpdates,
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
        this.left = this.manager.zeros(new Shape(blocks, r, r), dataType);
        this.right = this.manager.zeros(new Shape(blocks, c, c), dataType);
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
        NDArray transposed = blocks.transpose(0, 2, 1);
        return new Increments(blocks.matMul(transposed), transposed.matMul(blocks));
    }

    /**
     * Adds the statistics of one gradient: \( L \leftarrow \beta_2 L + w \Delta L \), the same for
     * R.
     *
     * @param increments from {@link #increments}. Modified (scaled by w in place).
     */
    public void accumulate(Increments increments) {
        double beta2 = config.beta2();
        if (beta2 == 1) {
            left.addi(increments.left());
            right.addi(increments.right());
        } else {
            left.muli(beta2).addi(increments.left().muli(1 - beta2));
            right.muli(beta2).addi(increments.right().muli(1 - beta2));
        }
        statisticsUpdates++;
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
     *     + 1} in a row in which some factor failed (its previous root was kept)
     */
    public void updateRoots() {
        computations++;
        boolean[] failed = new boolean[1];
        NDArray newLeft = refresh(left, leftRoots, config.leftRoot(), "L", failed);
        NDArray newRight = refresh(right, rightRoots, config.rightRoot(), "R", failed);
        leftRoots.close();
        rightRoots.close();
        leftRoots = newLeft;
        rightRoots = newRight;
        if (!failed[0]) {
            consecutiveFailures = 0;
            return;
        }
        consecutiveFailures++;
        if (consecutiveFailures == 1) {
            logger.warn("Shampoo {}: {}; previous roots kept", name, lastProblem);
        }
        if (consecutiveFailures > config.maxConsecutiveFailures()) {
            throw new IllegalStateException(
                    "Shampoo "
                            + name
                            + ": inverse roots failed in "
                            + consecutiveFailures
                            + " consecutive computations (at most "
                            + config.maxConsecutiveFailures()
                            + " tolerated); last problem: "
                            + lastProblem);
        }
    }

    /** New roots of one side, owned by this object's manager; {@code previous} stays open. */
    private NDArray refresh(
            NDArray statistics, NDArray previous, int p, String side, boolean[] failed) {
        int n = Math.toIntExact(statistics.getShape().get(1));
        double epsilon = config.relativeEpsilon();
        try (Workspace ws = new Workspace(manager, statistics, previous)) {
            NDManager scope = ws.manager();
            NDArray corrected = biasCorrected(statistics);
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
                            newton.compute(
                                    block.toType(DataType.FLOAT64, false), p, epsilon, scope);
                    float64Retries++;
                    note(
                            where + ": float32 root residual " + residual + ", retried in float64",
                            !warnedRetry);
                    warnedRetry = true;
                    if (retry.within(0, config.acceptableResidual())) {
                        replacement = retry.roots().toType(dataType, false);
                    }
                    residual = retry.residuals()[0];
                }
                if (replacement == null && !host) {
                    InverseRoots fallback = eigen.compute(block, p, epsilon, scope);
                    hostFallbacks++;
                    note(
                            where + ": device root residual " + residual + ", computed on the host",
                            !warnedFallback);
                    warnedFallback = true;
                    if (fallback.within(0, config.acceptableResidual())) {
                        replacement = fallback.roots();
                    }
                    residual = fallback.residuals()[0];
                }
                if (replacement == null) {
                    failedRoots++;
                    failed[0] = true;
                    lastProblem = where + ": no acceptable root (residual " + residual + ")";
                    replacement = previous.get(new NDIndex("{}:{}", b, b + 1));
                }
                roots = replace(roots, b, replacement);
            }
            return ws.keep(roots, manager);
        }
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
        lastProblem = problem;
        if (warn) {
            logger.warn("Shampoo {}: {} (reported once per preconditioner)", name, problem);
        } else {
            logger.debug("Shampoo {}: {}", name, problem);
        }
    }

    private NDArray biasCorrected(NDArray statistics) {
        double beta2 = config.beta2();
        if (beta2 == 1 || !config.biasCorrection() || statisticsUpdates == 0) {
            return statistics;
        }
        return statistics.div(1 - Math.pow(beta2, statisticsUpdates));
    }

    /**
     * Applies the preconditioner to a gradient's blocks: \( \hat L^{-1/p_L} G \hat R^{-1/p_R} \)
     * per block.
     *
     * @param blocks shape (blocks, r, c), from {@link BlockLayout#toBlocks}. Not modified.
     * @return the directions' blocks, a new array in {@code blocks}' manager
     */
    public NDArray precondition(NDArray blocks) {
        checkBlocks(blocks);
        NDManager caller = blocks.getManager();
        try (Workspace ws = new Workspace(manager, blocks, leftRoots, rightRoots)) {
            return ws.keep(leftRoots.matMul(blocks).matMul(rightRoots), caller);
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
     * Returns a copy of the left statistics L (not bias-corrected), shape (blocks, r, r).
     *
     * @param owner the manager of the copy
     * @return the copy
     */
    public NDArray leftStatistics(NDManager owner) {
        return Workspace.copy(left, owner);
    }

    /**
     * Returns a copy of the right statistics R (not bias-corrected), shape (blocks, c, c).
     *
     * @param owner the manager of the copy
     * @return the copy
     */
    public NDArray rightStatistics(NDManager owner) {
        return Workspace.copy(right, owner);
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
     * next call that changes this preconditioner. The arrays must not be modified.
     *
     * @return the state
     */
    public State state() {
        return new State(left, right, leftRoots, rightRoots, statisticsUpdates, health());
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
        check("left statistics", state.left(), left);
        check("right statistics", state.right(), right);
        check("left roots", state.leftRoots(), leftRoots);
        check("right roots", state.rightRoots(), rightRoots);
        NDArray[] old = {left, right, leftRoots, rightRoots};
        left = Workspace.copy(state.left(), manager);
        right = Workspace.copy(state.right(), manager);
        leftRoots = Workspace.copy(state.leftRoots(), manager);
        rightRoots = Workspace.copy(state.rightRoots(), manager);
        for (NDArray array : old) {
            array.close();
        }
        statisticsUpdates = state.statisticsUpdates();
        RootHealth health = state.health();
        computations = health.computations();
        float64Retries = health.float64Retries();
        hostFallbacks = health.hostFallbacks();
        failedRoots = health.failedRoots();
        consecutiveFailures = health.consecutiveFailures();
        lastProblem = health.lastProblem();
    }

    private void check(String what, NDArray saved, NDArray current) {
        if (!saved.getShape().equals(current.getShape())
                || saved.getDataType() != current.getDataType()) {
            throw new IllegalArgumentException(
                    "the saved "
                            + what
                            + " of "
                            + name
                            + " are "
                            + saved.getDataType()
                            + " "
                            + saved.getShape()
                            + ", but this preconditioner's are "
                            + current.getDataType()
                            + " "
                            + current.getShape());
        }
    }

    /**
     * Returns the number of statistics updates so far (t in the bias correction).
     *
     * @return the number of updates
     */
    public long statisticsUpdates() {
        return statisticsUpdates;
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
        return new RootHealth(
                computations,
                float64Retries,
                hostFallbacks,
                failedRoots,
                consecutiveFailures,
                lastProblem);
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
