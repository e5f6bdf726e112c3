package io.github.so4j.curvature.kfac;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.DeviceCounters;
import io.github.so4j.curvature.Finite;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.commons.math3.exception.MathIllegalStateException;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The two running Kronecker factors of one layer's Fisher block, \( F \approx A \otimes G \), and
 * their damped inverse, applied to gradients in matrix form.
 *
 * <p>\( A \) (p x p) is the second moment of the layer's inputs and \( G \) (q x q) that of the
 * gradients of the loss with respect to its outputs; a layer's gradient is the q x p matrix \( M \)
 * with \( \mathrm{vec}(M) \) column-major, so that \( (A \otimes G) \mathrm{vec}(M) =
 * \mathrm{vec}(G M A) \). Each batch's statistics \( \hat A, \hat G \) enter a debiased exponential
 * moving average with decay \( \rho \) (kfac-jax's {@code WeightedMovingAverage}):
 *
 * <p>\( w_t = \rho w_{t-1} + 1 \), \( w_0 = 0 \)<br>
 * \( A_t = (1 - 1/w_t) A_{t-1} + (1/w_t) \hat A_t \) (the first update takes \( \hat A_1 \) as it
 * is; later ones approach the plain average with weight \( 1 - \rho \)), and the same for \( G \).
 *
 * <p><b>Guarded updates.</b> A training step that may still be rejected {@linkplain #stage stages}
 * its statistics: the candidate factors are computed on the device and nothing changes. {@link
 * #commit} then keeps the candidate where the step's decision (a boolean on the device) is true and
 * the old factors where it is false, bit for bit, without reading anything on the host. The
 * averaging weight \( w \) and the counts of updates and rejected statistics live on the device
 * beside the factors, so a rejected step leaves no trace in them either; {@link #health()} reads
 * them. {@link #update} stages and commits at once, for callers without a step guard.
 *
 * <p>The damped inverse is recomputed by {@link #refresh(double)}, as {@link InversionMode} says,
 * from the factors as they will be once the staged statistics (if any) are committed, and applied
 * to any number of gradients by {@link #precondition(NDArray)}. A refresh is host work that reads
 * from the device (see {@link #refresh}), so a caller with a step guard refreshes only on steps it
 * knows are taken. Failures follow a ladder: a refresh that throws or yields non-finite values
 * keeps the previous preconditioner and is counted; once {@link
 * KroneckerSettings#maxConsecutiveFailures()} refreshes in a row have failed, the next failure
 * throws. Each streak of problems is logged once at WARN.
 *
 * <p><b>Cost</b>: a staged update, \( 4(p^2 + q^2) \) flops and as many numbers of candidate state
 * until the commit, which selects entry by entry (\( p^2 + q^2 \) more passes); a refresh and a
 * product, see {@link InversionMode}. Memory: \( 2(p^2 + q^2) \) entries in the statistics' dtype
 * (factors and inverses; {@link InversionMode#EIGEN} adds pq; {@link InversionMode#LOW_RANK} keeps,
 * for a factor larger than 2k, 2nk entries and a float64 n x min(k + 10, n) start block instead of
 * the inverse).
 *
 * @see <a href="https://arxiv.org/abs/1503.05671">paper</a>
 */
public final class KroneckerFactors implements AutoCloseable {

    private static final Logger logger = LoggerFactory.getLogger(KroneckerFactors.class);

    /** A refresh that found no statistics folded in (the averaging weight is 0). */
    private static final NDArray[] NO_STATISTICS = new NDArray[0];

    private final NDManager manager;
    private final String name;
    private final long inputSize;
    private final long outputSize;
    private final KroneckerSettings settings;
    private final InversionMode mode;

    /**
     * On the device, from the first staged update on: the running factors, the sum of the averaging
     * weights (float64) and the counts of committed updates and rejected statistics (int64).
     */
    private NDArray inputFactor;

    private NDArray outputFactor;
    private NDArray weightSum;
    private DeviceCounters counts;
    private Candidate staged;

    /**
     * The preconditioner of the last successful refresh. INVERSE: the two damped inverses; EIGEN:
     * \( Q_G, Q_A \) and the inverse scale; LOW_RANK: per factor either its damped inverse ({@code
     * left} or {@code right}) or \( U \) there, \( W = U \mathrm{diag}(1/(\mu_i + s) - 1/s) \) and
     * the scalar \( 1/s \).
     */
    private NDArray left;

    private NDArray right;
    private NDArray scale;
    private NDArray leftWeights;
    private NDArray leftShift;
    private NDArray rightWeights;
    private NDArray rightShift;
    private LowRankOperands operands;

    /** LOW_RANK's fixed Gaussian start blocks, n x (k + o) in float64, made at first use. */
    private NDArray outputSketch;

    private NDArray inputSketch;

    private long refreshes;
    private long failedRefreshes;
    private int consecutiveFailures;
    private long rejectionsReported;

    /** The factors and averaging weight after a staged update, owned by this object. */
    private record Candidate(NDArray input, NDArray output, NDArray weightSum) {
        void close() {
            input.close();
            output.close();
            weightSum.close();
        }
    }

    /**
     * Creates empty factors.
     *
     * @param manager the manager whose device holds the factors; they live in a sub-manager
     * @param name the layer's name, for messages
     * @param inputSize p, the dimension of \( A \) (with the bias coordinate, if any)
     * @param outputSize q, the dimension of \( G \)
     * @param settings decay, inversion mode and failure policy
     * @throws IllegalArgumentException if a size is below 1
     */
    public KroneckerFactors(
            NDManager manager,
            String name,
            long inputSize,
            long outputSize,
            KroneckerSettings settings) {
        if (inputSize < 1 || outputSize < 1) {
            throw new IllegalArgumentException(
                    "factor sizes must be at least 1, but were "
                            + inputSize
                            + " and "
                            + outputSize);
        }
        this.manager = manager.newSubManager();
        this.name = name;
        this.inputSize = inputSize;
        this.outputSize = outputSize;
        this.settings = settings;
        long largest = Math.max(inputSize, outputSize);
        if (settings.inversion() == InversionMode.EIGEN && largest > settings.hostEigenLimit()) {
            logger.warn(
                    "K-FAC layer {}: factors of {} and {} exceed the host eigensolver's limit of"
                            + " {}; this layer uses INVERSE (factored Tikhonov damping) instead of"
                            + " EIGEN",
                    name,
                    inputSize,
                    outputSize,
                    settings.hostEigenLimit());
            this.mode = InversionMode.INVERSE;
        } else {
            this.mode = settings.inversion();
        }
    }

    /**
     * Computes the running factors that one batch's statistics would give, without changing
     * anything until {@link #commit}. A candidate staged earlier and never committed (its step
     * failed) is discarded. Reads nothing from the device.
     *
     * @param statistics \( \hat A \) (p x p) and \( \hat G \) (q x q), on the factors' device. Not
     *     modified.
     * @return whether both statistics are finite, a boolean scalar owned by the manager of {@code
     *     statistics.input()}
     * @throws IllegalArgumentException if a shape is wrong
     */
    public NDArray stage(FactorStatistics statistics) {
        checkSquare(statistics.input(), inputSize, "input statistic");
        checkSquare(statistics.output(), outputSize, "output statistic");
        discardStaged();
        NDManager caller = statistics.input().getManager();
        if (inputFactor == null) {
            inputFactor =
                    manager.zeros(
                            new Shape(inputSize, inputSize), statistics.input().getDataType());
            outputFactor =
                    manager.zeros(
                            new Shape(outputSize, outputSize), statistics.output().getDataType());
            weightSum = manager.create(0.0);
        }
        if (counts == null) {
            counts = new DeviceCounters(manager, 2);
        }
        try (Workspace ws =
                new Workspace(
                        manager,
                        inputFactor,
                        outputFactor,
                        weightSum,
                        statistics.input(),
                        statistics.output())) {
            NDArray sum = weightSum.mul(settings.factorDecay()).add(1);
            NDArray fresh = sum.onesLike().div(sum);
            NDArray keep = fresh.neg().add(1);
            NDArray input = blend(inputFactor, statistics.input(), fresh, keep);
            NDArray output = blend(outputFactor, statistics.output(), fresh, keep);
            NDArray finite =
                    Finite.flag(
                            List.of(
                                    Finite.probe(statistics.input()),
                                    Finite.probe(statistics.output())));
            staged =
                    new Candidate(
                            ws.keep(input, manager),
                            ws.keep(output, manager),
                            ws.keep(sum, manager));
            return ws.keep(finite, caller);
        }
    }

    /**
     * Keeps the staged candidate where {@code accepted} is true and the running factors where it is
     * false, and counts the update. Reads nothing from the device.
     *
     * @param accepted a boolean scalar on the device: whether the staged update takes effect
     * @param rejected a boolean scalar on the device: whether to count the staged statistics as
     *     rejected for not being finite
     * @throws IllegalStateException if nothing is staged
     */
    public void commit(NDArray accepted, NDArray rejected) {
        Candidate candidate = staged;
        if (candidate == null) {
            throw new IllegalStateException("K-FAC layer " + name + ": no update is staged");
        }
        staged = null;
        NDArray input = select(accepted, candidate.input(), inputFactor);
        NDArray output = select(accepted, candidate.output(), outputFactor);
        NDArray sum = select(accepted, candidate.weightSum(), weightSum);
        NDArray increment =
                NDArrays.stack(
                        new NDList(
                                accepted.toType(DataType.INT64, false),
                                rejected.toType(DataType.INT64, false)));
        NDArray next = counts.array().add(increment);
        candidate.close();
        inputFactor.close();
        outputFactor.close();
        weightSum.close();
        counts.replace(next);
        inputFactor = input;
        outputFactor = output;
        weightSum = sum;
    }

    /**
     * Folds one batch's statistics into the running factors at once: {@link #stage} and {@link
     * #commit} with the update accepted. The caller vouches for the statistics.
     *
     * @param statistics \( \hat A \) (p x p) and \( \hat G \) (q x q), on the factors' device. Not
     *     modified.
     * @throws IllegalArgumentException if a shape is wrong
     */
    public void update(FactorStatistics statistics) {
        try (NDManager scope = manager.newSubManager()) {
            stage(statistics).attach(scope);
            commit(scope.create(true), scope.create(false));
        }
    }

    /**
     * Counts statistics that the caller found not finite and did not stage; the running factors are
     * kept.
     */
    public void rejectUpdate() {
        if (counts == null) {
            counts = new DeviceCounters(manager, 2);
        }
        try (NDManager scope = manager.newSubManager()) {
            NDArray next = counts.array().add(scope.create(new long[] {0, 1}));
            counts.replace(next);
        }
    }

    /**
     * Recomputes the damped inverse from the running factors, or from the staged candidate if there
     * is one: call it only when that candidate will be committed. Reads from the device ({@link
     * HostReads}): INVERSE, two inversions and one read of whether statistics were folded in and
     * the inverses are finite; EIGEN, one read of both factors; LOW_RANK, one read of the small
     * sketch matrices of both factors (with the averaging weight and the traces), plus one
     * inversion for each factor of at most 2k.
     *
     * @param damping \( \lambda \), positive and finite
     * @return whether a new preconditioner is in place; {@code false} if this computation failed
     *     and the previous one (if any) is kept, or if no statistics have been committed yet
     * @throws IllegalStateException if no statistics have been staged yet, or if this failure is
     *     one more than {@link KroneckerSettings#maxConsecutiveFailures()} in a row (the cause is
     *     chained)
     * @throws IllegalArgumentException if the damping is not positive and finite
     */
    public boolean refresh(double damping) {
        if (!(damping > 0) || Double.isInfinite(damping)) {
            throw new IllegalArgumentException(
                    "damping must be positive and finite, but was " + damping);
        }
        if (inputFactor == null) {
            throw new IllegalStateException(
                    "K-FAC layer " + name + ": no statistics to invert yet");
        }
        NDArray a = staged != null ? staged.input() : inputFactor;
        NDArray g = staged != null ? staged.output() : outputFactor;
        NDArray w = staged != null ? staged.weightSum() : weightSum;
        RuntimeException cause;
        try {
            NDArray[] candidate =
                    switch (mode) {
                        case EIGEN -> eigenbasis(a, g, w, damping);
                        case LOW_RANK -> lowRank(a, g, w, damping);
                        default -> inverses(a, g, w, damping);
                    };
            if (candidate == NO_STATISTICS) {
                return false;
            }
            if (candidate != null) {
                install(candidate);
                refreshes++;
                consecutiveFailures = 0;
                return true;
            }
            cause = new ArithmeticException("the damped inverse has NaN or infinite entries");
        } catch (EngineException | MathIllegalStateException | ArithmeticException e) {
            cause = e;
        }
        failedRefreshes++;
        consecutiveFailures++;
        if (consecutiveFailures > settings.maxConsecutiveFailures()) {
            throw new IllegalStateException(
                    "K-FAC layer "
                            + name
                            + ": the damped inverse failed "
                            + consecutiveFailures
                            + " times in a row (more than maxConsecutiveFailures = "
                            + settings.maxConsecutiveFailures()
                            + "); a larger damping may help",
                    cause);
        }
        if (consecutiveFailures == 1) {
            logger.warn(
                    "K-FAC layer {}: the damped inverse failed ({}); the previous preconditioner is"
                            + " kept",
                    name,
                    cause.getMessage());
        }
        return false;
    }

    /**
     * Whether {@link #precondition} can be called: a refresh has succeeded at least once.
     *
     * @return whether a preconditioner exists
     */
    public boolean hasPreconditioner() {
        return left != null;
    }

    /**
     * Applies the damped inverse of the last successful refresh to a gradient in matrix form.
     *
     * @param gradient \( M \), q x p, on the factors' device. Not modified.
     * @return \( V \), q x p, a new array owned by {@code gradient}'s manager
     * @throws IllegalStateException if there is no preconditioner yet
     */
    public NDArray precondition(NDArray gradient) {
        if (left == null) {
            throw new IllegalStateException(
                    "K-FAC layer " + name + ": no preconditioner yet (refresh first)");
        }
        if (hasLowRankSides()) {
            NDList product = preconditionLowRank(gradient, null);
            try (NDArray factor = product.get(1)) {
                return product.get(0).muli(factor);
            }
        }
        NDManager caller = gradient.getManager();
        try (Workspace ws =
                new Workspace(
                        manager,
                        left,
                        right,
                        scale,
                        leftWeights,
                        leftShift,
                        rightWeights,
                        rightShift,
                        gradient)) {
            NDArray result;
            if (mode == InversionMode.EIGEN) {
                NDArray rotated = left.transpose().matMul(gradient).matMul(right);
                result = left.matMul(rotated.muli(scale)).matMul(right.transpose());
            } else if (mode == InversionMode.LOW_RANK) {
                NDArray projected =
                        rightWeights == null
                                ? gradient.matMul(right)
                                : gradient.matMul(right)
                                        .matMul(rightWeights.transpose())
                                        .addi(gradient.mul(rightShift));
                result =
                        leftWeights == null
                                ? left.matMul(projected)
                                : leftWeights
                                        .matMul(left.transpose().matMul(projected))
                                        .addi(projected.muli(leftShift));
            } else {
                result = left.matMul(gradient).matMul(right);
            }
            return ws.keep(result, caller);
        }
    }

    /**
     * Whether the preconditioner is LOW_RANK's with both factors low-rank, the case of {@link
     * #preconditionLowRank}.
     *
     * @return whether both sides of the last successful refresh are low-rank
     */
    public boolean hasLowRankSides() {
        return mode == InversionMode.LOW_RANK && leftWeights != null && rightWeights != null;
    }

    /**
     * LOW_RANK's product with both factors low-rank, for a gradient given as its first p - 1
     * columns and its last (a layer's weight and bias) or whole, with its factor \( s = c_G c_A \)
     * left to the caller. Expanding \( V = (W_G U_G^\top + c_G I) M (U_A W_A^\top + c_A I) \) with
     * \( X = M U_A \) and \( C = U_G^\top X \):
     *
     * <p>\( V = s \big(M + [X,\ W_G] \big[ W_A^\top / c_A ;\ U_G^\top M / c_G + C W_A^\top / s
     * \big]\big) \)
     *
     * <p>with \( X = W U_A^{(1:p-1)} + b\, U_A^{(p)} \) and the right-hand factor split by the same
     * columns. Every factor that depends only on the preconditioner (the scaled and sliced bases,
     * made contiguous) is made once per refresh, so that a product is three large products (\( 2qp
     * k_A \), \( 2qp k_G \) and \( 2qp(k_A + k_G) \) flops, the last accumulated onto W as BLAS's C
     * = AB + C) and a few small operations; the q x p matrix \( [W, b] \) is never formed, and V
     * never scaled.
     *
     * @param weight W, q x (p - 1) with a bias column, else q x p. Not modified.
     * @param bias b, q x 1, or {@code null} when W is the whole gradient. Not modified.
     * @return \( W + L R^{(1:p-1)} \), then (with a bias) \( b + L R^{(p)} \) (q x 1), then s; new
     *     arrays owned by {@code weight}'s manager
     * @throws IllegalStateException unless {@link #hasLowRankSides()}
     */
    public NDList preconditionLowRank(NDArray weight, NDArray bias) {
        if (!hasLowRankSides()) {
            throw new IllegalStateException(
                    "K-FAC layer "
                            + name
                            + ": no LOW_RANK preconditioner with both sides low-rank");
        }
        long columns = weight.getShape().get(1);
        LowRankOperands o = lowRankOperands(columns);
        NDManager caller = weight.getManager();
        try (Workspace ws = new Workspace(manager, o.arrays(), weight, bias)) {
            NDArray x = weight.matMul(o.inputHead());
            if (bias != null) {
                x.addi(bias.matMul(o.inputTail()));
            }
            NDArray core = o.outputT().matMul(x);
            NDArray l = x.concat(leftWeights, 1);
            NDArray rows =
                    o.weightsHead()
                            .concat(
                                    o.outputScaledT()
                                            .matMul(weight)
                                            .addi(core.matMul(o.coreWeightsHead())),
                                    0);
            // W + L R as one product accumulated onto W (linear's matrix bias: BLAS with beta 1)
            NDList out =
                    new NDList(
                            l.getNDArrayInternal()
                                    .linear(l, rows.transpose(), weight)
                                    .singletonOrThrow());
            if (bias != null) {
                NDArray biasRows =
                        o.weightsTail()
                                .concat(
                                        o.outputScaledT()
                                                .matMul(bias)
                                                .addi(core.matMul(o.coreWeightsTail())),
                                        0);
                out.add(
                        l.getNDArrayInternal()
                                .linear(l, biasRows.transpose(), bias)
                                .singletonOrThrow());
            }
            out.add(o.scale().duplicate());
            return ws.keep(out, caller);
        }
    }

    /**
     * The factors of {@link #preconditionLowRank} that depend only on the preconditioner, for
     * gradients whose first {@code columns} columns are the weight's: \( U_A \)'s rows split at
     * that column, \( U_G^\top \), \( U_G^\top / c_G \), \( W_A^\top / c_A \) and \( W_A^\top / s
     * \) split by columns, and s; tails null without a bias column.
     */
    private record LowRankOperands(
            long columns,
            NDArray inputHead,
            NDArray inputTail,
            NDArray outputT,
            NDArray outputScaledT,
            NDArray weightsHead,
            NDArray weightsTail,
            NDArray coreWeightsHead,
            NDArray coreWeightsTail,
            NDArray scale) {

        NDList arrays() {
            NDList list = new NDList();
            for (NDArray a :
                    new NDArray[] {
                        inputHead,
                        inputTail,
                        outputT,
                        outputScaledT,
                        weightsHead,
                        weightsTail,
                        coreWeightsHead,
                        coreWeightsTail,
                        scale
                    }) {
                if (a != null) {
                    list.add(a);
                }
            }
            return list;
        }
    }

    /**
     * {@link LowRankOperands} of the current preconditioner, made at the first product after it.
     */
    private LowRankOperands lowRankOperands(long columns) {
        if (operands != null && operands.columns() == columns) {
            return operands;
        }
        discardOperands();
        try (Workspace ws =
                new Workspace(
                        manager, left, right, leftWeights, leftShift, rightWeights, rightShift)) {
            boolean split = columns < inputSize;
            NDIndex head = new NDIndex("0:{}", columns);
            NDIndex tail = new NDIndex("{}:", columns);
            NDIndex headColumns = new NDIndex(":, 0:{}", columns);
            NDIndex tailColumns = new NDIndex(":, {}:", columns);
            NDArray both = leftShift.mul(rightShift);
            NDArray weights = rightWeights.transpose().div(rightShift);
            NDArray coreWeights = rightWeights.transpose().div(both);
            NDList all =
                    new NDList(
                            split ? right.get(head).duplicate() : right.duplicate(),
                            split ? right.get(tail).duplicate() : null,
                            left.transpose().duplicate(),
                            left.transpose().div(leftShift),
                            split ? weights.get(headColumns).duplicate() : weights,
                            split ? weights.get(tailColumns).duplicate() : null,
                            split ? coreWeights.get(headColumns).duplicate() : coreWeights,
                            split ? coreWeights.get(tailColumns).duplicate() : null,
                            both);
            NDArray[] kept = new NDArray[all.size()];
            for (int i = 0; i < all.size(); i++) {
                kept[i] = all.get(i) == null ? null : ws.keep(all.get(i), manager);
            }
            operands =
                    new LowRankOperands(
                            columns, kept[0], kept[1], kept[2], kept[3], kept[4], kept[5], kept[6],
                            kept[7], kept[8]);
            return operands;
        }
    }

    private void discardOperands() {
        if (operands != null) {
            operands.arrays().close();
            operands = null;
        }
    }

    /**
     * Whether {@link #preconditionRows} is cheaper than {@link #precondition} for a gradient of R
     * rows: in {@link InversionMode#INVERSE}, \( 2R(q^2 + p^2 + qp) &lt; 2qp(q + p) \) flops (for
     * the K-FAC MLP's 785 x 256 layer at R = 128, 0.23 against 0.42 GFLOP); never in {@link
     * InversionMode#EIGEN}, whose rotations back cost \( 2qp(q + p) \) either way, nor in {@link
     * InversionMode#LOW_RANK}, whose product is already cheaper than the factored form.
     *
     * @param rows R, the number of rows of the gradient's factored form
     * @return whether the factored form is cheaper
     */
    public boolean rowsAreCheaper(long rows) {
        if (mode != InversionMode.INVERSE) {
            return false;
        }
        double p = inputSize;
        double q = outputSize;
        return rows * (q * q + p * p + q * p) < q * p * (q + p);
    }

    /**
     * Applies the damped inverse of the last successful refresh to a gradient given in factored
     * form, \( M = D^\top \bar P \) with \( \bar P = [P, 1] \) (or P without the homogeneous
     * coordinate): \( V = \big((G + d_G I)^{-1} D^\top\big) \big(\bar P (A + d_A I)^{-1}\big) \),
     * which is {@link #precondition}'s \( (G + d_G I)^{-1} M (A + d_A I)^{-1} \) with the products
     * grouped otherwise (the same up to rounding). \( \bar P (A + d_A I)^{-1} \) is \( P \) times
     * the first p - 1 rows of the inverse plus its last row, so the column of ones is never built.
     * {@link InversionMode#INVERSE} only.
     *
     * <p><b>Cost</b>: \( 2R(q^2 + p^2 + qp) \) flops against {@link #precondition}'s \( 2qp(q + p)
     * \) (see {@link #rowsAreCheaper}).
     *
     * @param outputRows D, R x q. Not modified.
     * @param inputRows P, R x (p - 1) when {@code homogeneous}, else R x p. Not modified.
     * @param homogeneous whether the last coordinate of the inputs is the constant 1 (a bias)
     * @return \( V \), q x p, a new array owned by {@code outputRows}' manager
     * @throws IllegalStateException if there is no preconditioner yet or the mode is EIGEN
     */
    public NDArray preconditionRows(NDArray outputRows, NDArray inputRows, boolean homogeneous) {
        if (left == null) {
            throw new IllegalStateException(
                    "K-FAC layer " + name + ": no preconditioner yet (refresh first)");
        }
        if (mode != InversionMode.INVERSE) {
            throw new IllegalStateException(
                    "K-FAC layer " + name + ": the factored form needs INVERSE, not " + mode);
        }
        NDManager caller = outputRows.getManager();
        try (Workspace ws = new Workspace(manager, left, right, outputRows, inputRows)) {
            NDArray projected;
            if (homogeneous) {
                long columns = inputSize - 1;
                projected =
                        inputRows
                                .matMul(right.get(new NDIndex(":{}", columns)))
                                .addi(right.get(new NDIndex("{}", columns)));
            } else {
                projected = inputRows.matMul(right);
            }
            return ws.keep(left.matMul(outputRows.transpose()).matMul(projected), caller);
        }
    }

    /**
     * Returns the running \( A \); it belongs to this object and must not be modified or closed.
     *
     * @return \( A \), p x p (zero while no update was committed), or {@code null} before the first
     *     update was staged
     */
    public NDArray inputFactor() {
        return inputFactor;
    }

    /**
     * Returns the running \( G \); it belongs to this object and must not be modified or closed.
     *
     * @return \( G \), q x q (zero while no update was committed), or {@code null} before the first
     *     update was staged
     */
    public NDArray outputFactor() {
        return outputFactor;
    }

    /**
     * Returns the inversion mode in use: the one asked for, or {@link InversionMode#INVERSE} when a
     * factor exceeds the host eigensolver's limit.
     *
     * @return the mode
     */
    public InversionMode mode() {
        return mode;
    }

    /**
     * Returns what this block has done. Reads the device counts (one {@link HostReads} read; after
     * the model's arrays were freed, the counts as they were then), and logs at WARN when more
     * statistics were rejected since the last look.
     *
     * @return a snapshot of its counters
     */
    public KroneckerHealth health() {
        long[] values = counts == null ? new long[2] : counts.read();
        long updates = values[0];
        long rejected = values[1];
        if (rejected > rejectionsReported) {
            logger.warn(
                    "K-FAC layer {}: statistics with NaN or infinite entries were rejected {}"
                            + " time(s) so far; the running factors were kept",
                    name,
                    rejected);
            rejectionsReported = rejected;
        }
        return new KroneckerHealth(
                updates,
                rejected,
                refreshes,
                failedRefreshes,
                mode == settings.inversion() ? 0 : 1);
    }

    /**
     * Returns every array these factors hold between steps, for measuring their memory: \( A \) and
     * \( G \), the averaging weight (float64 scalar), the two device counts (int64) and the
     * preconditioner of the last successful refresh; none before the first update. This object's
     * own arrays, not copies, not to be modified; nothing is read from the device.
     *
     * @return the arrays
     */
    public NDList arrays() {
        NDList arrays = new NDList();
        NDArray[] held = {
            inputFactor,
            outputFactor,
            weightSum,
            counts == null || !counts.isOpen() ? null : counts.array(),
            left,
            right,
            scale,
            leftWeights,
            leftShift,
            rightWeights,
            rightShift,
            outputSketch,
            inputSketch
        };
        for (NDArray array : held) {
            if (array != null) {
                arrays.add(array);
            }
        }
        return arrays;
    }

    /**
     * Everything the next updates, refreshes and preconditionings depend on, for checkpoints.
     *
     * @param inputFactor the running \( A \), or {@code null} before the first update
     * @param outputFactor the running \( G \), or {@code null} before the first update
     * @param weightSum the sum of the averaging weights (for the bias correction)
     * @param preconditioner the arrays of the last successful refresh (INVERSE: \( (G + d_G
     *     I)^{-1}, (A + d_A I)^{-1} \); EIGEN: \( Q_G, Q_A \) and the scale; LOW_RANK: for G, then
     *     for A, either the damped inverse or \( U, W \) and \( 1/s \), as {@link
     *     InversionMode#LOW_RANK} says for the factor's size), empty before the first
     * @param counters factor updates, rejected factor updates, refreshes, failed refreshes and
     *     consecutive failures, in that order
     */
    public record State(
            NDArray inputFactor,
            NDArray outputFactor,
            double weightSum,
            NDList preconditioner,
            long[] counters) {}

    /**
     * Returns the committed state: this object's own arrays, valid until the next commit or refresh
     * and not to be modified. Reads the averaging weight and the counts from the device (two {@link
     * HostReads} reads).
     *
     * @return the state
     */
    public State state() {
        NDList preconditioner = new NDList();
        NDArray[] held =
                mode == InversionMode.LOW_RANK
                        ? new NDArray[] {
                            left, leftWeights, leftShift, right, rightWeights, rightShift
                        }
                        : new NDArray[] {left, right, scale};
        for (NDArray array : held) {
            if (array != null) {
                preconditioner.add(array);
            }
        }
        double sum = weightSum == null ? 0 : HostReads.toDouble(weightSum);
        long[] values = counts == null ? new long[2] : counts.read();
        return new State(
                inputFactor,
                outputFactor,
                sum,
                preconditioner,
                new long[] {values[0], values[1], refreshes, failedRefreshes, consecutiveFailures});
    }

    /**
     * Replaces the state with copies of another's, saved from factors of the same sizes and mode. A
     * staged candidate is discarded.
     *
     * <p><b>Cost</b>: one copy of \( 2(p^2 + q^2) \) numbers at most.
     *
     * @param state the state to copy. Not modified.
     * @throws IllegalArgumentException naming what does not match; the factors are then unchanged
     */
    public void restore(State state) {
        if ((state.inputFactor() == null) != (state.outputFactor() == null)) {
            throw new IllegalArgumentException(
                    "K-FAC layer " + name + ": the saved state has only one of its two factors");
        }
        if (state.inputFactor() != null) {
            checkSquare(state.inputFactor(), inputSize, "saved input factor");
            checkSquare(state.outputFactor(), outputSize, "saved output factor");
        }
        int expected =
                switch (mode) {
                    case EIGEN -> 3;
                    case LOW_RANK ->
                            (isLowRank(outputSize) ? 3 : 1) + (isLowRank(inputSize) ? 3 : 1);
                    default -> 2;
                };
        int size = state.preconditioner().size();
        if (size != 0 && size != expected) {
            throw new IllegalArgumentException(
                    "K-FAC layer "
                            + name
                            + ": the saved preconditioner has "
                            + size
                            + " arrays, but mode "
                            + mode
                            + " has "
                            + expected);
        }
        if (size != 0 && mode == InversionMode.LOW_RANK) {
            int next = checkSide(state.preconditioner(), 0, outputSize, "left");
            checkSide(state.preconditioner(), next, inputSize, "right");
        } else if (size != 0) {
            checkSquare(state.preconditioner().get(0), outputSize, "saved left preconditioner");
            checkSquare(state.preconditioner().get(1), inputSize, "saved right preconditioner");
        }
        if (state.counters().length != 5) {
            throw new IllegalArgumentException(
                    "K-FAC layer "
                            + name
                            + ": the saved state has "
                            + state.counters().length
                            + " counters, not 5");
        }
        discardStaged();
        for (NDArray array : new NDArray[] {inputFactor, outputFactor, weightSum}) {
            closeIfPresent(array);
        }
        if (counts != null) {
            counts.close();
        }
        inputFactor =
                state.inputFactor() == null ? null : Workspace.copy(state.inputFactor(), manager);
        outputFactor =
                state.outputFactor() == null ? null : Workspace.copy(state.outputFactor(), manager);
        weightSum = inputFactor == null ? null : manager.create(state.weightSum());
        long[] c = state.counters();
        counts = new DeviceCounters(manager, new long[] {c[0], c[1]});
        if (size == 0) {
            install(new NDArray[7]);
        } else if (mode == InversionMode.LOW_RANK) {
            NDArray[] copies = new NDArray[size];
            for (int i = 0; i < size; i++) {
                copies[i] = Workspace.copy(state.preconditioner().get(i), manager);
            }
            boolean lowLeft = isLowRank(outputSize);
            int r = lowLeft ? 3 : 1;
            install(
                    new NDArray[] {
                        copies[0],
                        copies[r],
                        null,
                        lowLeft ? copies[1] : null,
                        lowLeft ? copies[2] : null,
                        size - r == 3 ? copies[r + 1] : null,
                        size - r == 3 ? copies[r + 2] : null
                    });
        } else {
            install(
                    new NDArray[] {
                        Workspace.copy(state.preconditioner().get(0), manager),
                        Workspace.copy(state.preconditioner().get(1), manager),
                        size == 3 ? Workspace.copy(state.preconditioner().get(2), manager) : null
                    });
        }
        refreshes = c[2];
        failedRefreshes = c[3];
        consecutiveFailures = (int) c[4];
        rejectionsReported = c[1];
    }

    /** Frees the factors and the preconditioner. */
    @Override
    public void close() {
        manager.close();
    }

    /**
     * factor (1 - fresh) + statistic fresh. With decay 0 it is a copy of the statistic, whatever
     * the running factor holds; with decay above 0, fresh is 1 only at the first update, when the
     * running factor is zeros, and the result is then the statistic exactly too.
     */
    private NDArray blend(NDArray factor, NDArray statistic, NDArray fresh, NDArray keep) {
        if (settings.factorDecay() == 0) {
            return statistic.duplicate();
        }
        return factor.mul(keep).addi(statistic.mul(fresh));
    }

    /** The candidate where the flag is true, else the other: NaN-safe, in candidate's manager. */
    private static NDArray select(NDArray flag, NDArray candidate, NDArray other) {
        return candidate.getNDArrayInternal().where(flag.broadcast(candidate.getShape()), other);
    }

    private void discardStaged() {
        if (staged != null) {
            staged.close();
            staged = null;
        }
    }

    /**
     * (G + dG I)^{-1} and (A + dA I)^{-1} in float64 on the device; null if not finite, {@link
     * #NO_STATISTICS} if the averaging weight is 0.
     */
    private NDArray[] inverses(NDArray a, NDArray g, NDArray w, double damping) {
        try (Workspace ws = new Workspace(manager, a, g, w)) {
            NDArray pi = piCorrection(meanDiagonal(a), meanDiagonal(g));
            double root = Math.sqrt(damping);
            NDArray rightInverse = dampedInverse(a, pi.mul(root), ws.manager());
            NDArray leftInverse = dampedInverse(g, ws.manager().create(root).div(pi), ws.manager());
            double[] status =
                    HostReads.toDoubles(
                            NDArrays.stack(
                                    new NDList(
                                            w.gt(0).toType(DataType.FLOAT64, false),
                                            Finite.probe(leftInverse)
                                                    .toType(DataType.FLOAT64, false),
                                            Finite.probe(rightInverse)
                                                    .toType(DataType.FLOAT64, false))));
            if (status[0] == 0) {
                return NO_STATISTICS;
            }
            if (status[1] != 0 || status[2] != 0) {
                return null;
            }
            return new NDArray[] {
                ws.keep(leftInverse, manager), ws.keep(rightInverse, manager), null
            };
        }
    }

    /** tr(m) / n in float64 (DJL's PyTorch engine does not implement trace()). */
    private static NDArray meanDiagonal(NDArray m) {
        return m.diagonal().toType(DataType.FLOAT64, false).mean();
    }

    /**
     * \( \pi = \sqrt{(\mathrm{tr} A / p) / (\mathrm{tr} G / q)} \), or 1 when either trace is not
     * positive (a zero factor gives no information on the split of the damping).
     */
    static double piCorrection(double meanInputEigenvalue, double meanOutputEigenvalue) {
        double pi = Math.sqrt(meanInputEigenvalue / meanOutputEigenvalue);
        return meanInputEigenvalue > 0 && meanOutputEigenvalue > 0 && Double.isFinite(pi) ? pi : 1;
    }

    /** {@link #piCorrection(double, double)} on the device, from float64 scalars. */
    private static NDArray piCorrection(NDArray meanInput, NDArray meanOutput) {
        NDArray pi = meanInput.div(meanOutput).sqrt();
        NDArray usable =
                meanInput.gt(0).logicalAnd(meanOutput.gt(0)).logicalAnd(Finite.probe(pi).eq(0));
        return pi.getNDArrayInternal().where(usable, pi.onesLike());
    }

    private static NDArray dampedInverse(NDArray factor, NDArray shift, NDManager scope) {
        int n = Math.toIntExact(factor.getShape().get(0));
        // Not toType(FLOAT64, true).addi(...): for a float64 factor DJL's PyTorch engine returns
        // an array that shares the factor's storage even when asked for a copy.
        NDArray shifted =
                factor.toType(DataType.FLOAT64, false)
                        .add(scope.eye(n, n, 0, DataType.FLOAT64).mul(shift));
        // PyTorch's inverse is column-major; reshaping through one axis copies it row-major, the
        // layout a checkpoint restores, so that a resumed run multiplies in the same order.
        return HostReads.inverse(shifted)
                .toType(factor.getDataType(), false)
                .reshape(-1)
                .reshape(n, n);
    }

    /**
     * Q_G, Q_A and 1 / (lambda_G lambda_A^T + lambda), from float64 host eigendecompositions of
     * both factors, read at once; {@link #NO_STATISTICS} if the averaging weight is 0.
     */
    @SuppressWarnings("try") // the workspace scopes the temporaries made from the factors
    private NDArray[] eigenbasis(NDArray a, NDArray g, NDArray w, double damping) {
        int p = Math.toIntExact(inputSize);
        int q = Math.toIntExact(outputSize);
        double[] flat;
        try (Workspace ws = new Workspace(manager, a, g, w)) {
            flat =
                    HostReads.toDoubles(
                            NDArrays.concat(
                                    new NDList(
                                            a.toType(DataType.FLOAT64, false).reshape(-1),
                                            g.toType(DataType.FLOAT64, false).reshape(-1),
                                            w.reshape(1))));
        }
        if (flat[p * p + q * q] == 0) {
            return NO_STATISTICS;
        }
        Eigen input = Eigen.of(flat, 0, p);
        Eigen output = Eigen.of(flat, p * p, q);
        double[] inverseScale = new double[q * p];
        for (int i = 0; i < q; i++) {
            for (int j = 0; j < p; j++) {
                double value = 1 / (output.values[i] * input.values[j] + damping);
                if (!Double.isFinite(value)) {
                    return null;
                }
                inverseScale[i * p + j] = value;
            }
        }
        if (!input.finite() || !output.finite()) {
            return null;
        }
        DataType type = a.getDataType();
        try (NDManager scope = manager.newSubManager()) {
            NDArray qg = upload(scope, output.vectors, q, q, type);
            NDArray qa = upload(scope, input.vectors, p, p, type);
            NDArray s = upload(scope, inverseScale, q, p, type);
            qg.attach(manager);
            qa.attach(manager);
            s.attach(manager);
            return new NDArray[] {qg, qa, s};
        }
    }

    /** Extra columns of LOW_RANK's sketch beyond k (Halko, Martinsson and Tropp's usual 10). */
    static final int OVERSAMPLING = 10;

    /**
     * Gram eigenvalues below this fraction of the largest are dropped when whitening: with
     * unit-norm columns the largest is at most the width l and float64 rounding puts noise of about
     * 1e-16 times it on every eigenvalue; 1e-12 leaves four digits of margin above it.
     */
    static final double GRAM_CUTOFF = 1e-12;

    /** The seed of LOW_RANK's Gaussian start blocks (with the factor's size mixed in). */
    private static final long SKETCH_SEED = 0x5EED_4FACL;

    /** Whether LOW_RANK keeps k eigenpairs of an n x n factor rather than its exact inverse. */
    private boolean isLowRank(long n) {
        int k = settings.factorRank();
        return n > 2L * k;
    }

    /** The width of an n x n factor's sketch: k + {@link #OVERSAMPLING}, at most n. */
    private int sketchWidth(long n) {
        return (int) Math.min(settings.factorRank() + (long) OVERSAMPLING, n);
    }

    /** Checks one factor's saved LOW_RANK arrays from {@code from}; returns the next index. */
    private int checkSide(NDList saved, int from, long n, String side) {
        if (!isLowRank(n)) {
            checkSquare(saved.get(from), n, "saved " + side + " preconditioner");
            return from + 1;
        }
        Shape basis = new Shape(n, settings.factorRank());
        for (int i = 0; i < 2; i++) {
            if (!saved.get(from + i).getShape().equals(basis)) {
                throw new IllegalArgumentException(
                        "saved "
                                + side
                                + " low-rank basis must have shape "
                                + basis
                                + ", but had "
                                + saved.get(from + i).getShape());
            }
        }
        if (saved.get(from + 2).getShape().dimension() != 0) {
            throw new IllegalArgumentException(
                    "saved "
                            + side
                            + " low-rank shift must be a scalar, but had shape "
                            + saved.get(from + 2).getShape());
        }
        return from + 3;
    }

    /**
     * LOW_RANK's refresh: for each factor, either its damped inverse (as INVERSE) or \( U, W, 1/s
     * \) from randomized subspace iteration and a host Rayleigh-Ritz step. One read of the
     * averaging weight, both mean diagonals, the dense inverses' finiteness and the sketches' small
     * matrices (plus one counted inversion per dense factor); null if not finite, {@link
     * #NO_STATISTICS} if the averaging weight is 0.
     */
    private NDArray[] lowRank(NDArray a, NDArray g, NDArray w, double damping) {
        boolean lowG = isLowRank(outputSize);
        boolean lowA = isLowRank(inputSize);
        int k = settings.factorRank();
        int lg = sketchWidth(outputSize);
        int la = sketchWidth(inputSize);
        if (lowG && outputSketch == null) {
            outputSketch = gaussian(outputSize, lg);
        }
        if (lowA && inputSketch == null) {
            inputSketch = gaussian(inputSize, la);
        }
        try (Workspace ws = new Workspace(manager, a, g, w, outputSketch, inputSketch)) {
            NDManager m = ws.manager();
            NDArray meanA = meanDiagonal(a);
            NDArray meanG = meanDiagonal(g);
            NDArray pi = piCorrection(meanA, meanG);
            double root = Math.sqrt(damping);
            NDArray denseG = lowG ? null : dampedInverse(g, m.create(root).div(pi), m);
            NDArray denseA = lowA ? null : dampedInverse(a, pi.mul(root), m);
            NDArray[] sketchG = lowG ? sketch(g, outputSketch) : null;
            NDArray[] sketchA = lowA ? sketch(a, inputSketch) : null;
            NDList read = new NDList(w.reshape(1), meanA.reshape(1), meanG.reshape(1));
            for (NDArray dense : new NDArray[] {denseG, denseA}) {
                if (dense != null) {
                    read.add(Finite.probe(dense).toType(DataType.FLOAT64, false).reshape(1));
                }
            }
            for (NDArray[] sketch : new NDArray[][] {sketchG, sketchA}) {
                if (sketch != null) {
                    read.add(sketch[1].reshape(-1));
                    read.add(sketch[2].reshape(-1));
                }
            }
            double[] values = HostReads.toDoubles(NDArrays.concat(read));
            if (values[0] == 0) {
                return NO_STATISTICS;
            }
            int at = 3;
            for (NDArray dense : new NDArray[] {denseG, denseA}) {
                if (dense != null && values[at++] != 0) {
                    return null;
                }
            }
            double pin = piCorrection(values[1], values[2]);
            DataType type = a.getDataType();
            NDArray[] candidate = new NDArray[7];
            if (lowG) {
                NDArray[] side = lowRankSide(sketchG[0], values, at, lg, k, root / pin, type);
                at += 2 * lg * lg;
                candidate[0] = ws.keep(side[0], manager);
                candidate[3] = ws.keep(side[1], manager);
                candidate[4] = ws.keep(side[2], manager);
            } else {
                candidate[0] = ws.keep(denseG, manager);
            }
            if (lowA) {
                NDArray[] side = lowRankSide(sketchA[0], values, at, la, k, pin * root, type);
                candidate[1] = ws.keep(side[0], manager);
                candidate[5] = ws.keep(side[1], manager);
                candidate[6] = ws.keep(side[2], manager);
            } else {
                candidate[1] = ws.keep(denseA, manager);
            }
            return candidate;
        }
    }

    /**
     * A seeded standard Gaussian n x l block in float64, owned by this object: made once per factor
     * from {@link Random} (the same numbers on every machine), so a resumed run rebuilds it without
     * a checkpoint entry.
     */
    private NDArray gaussian(long n, int l) {
        Random random = new Random(SKETCH_SEED ^ (n * 0x9E3779B97F4A7C15L));
        double[] data = new double[Math.toIntExact(n * l)];
        for (int i = 0; i < data.length; i++) {
            data[i] = random.nextGaussian();
        }
        return manager.create(data, new Shape(n, l));
    }

    /**
     * Randomized subspace iteration in float64: \( Y = F (F \Omega) \) with unit-norm columns after
     * each product, and the small \( Y^\top Y \) and \( Y^\top F Y \). Returns Y and the two.
     */
    private static NDArray[] sketch(NDArray factor, NDArray start) {
        NDArray f = factor.toType(DataType.FLOAT64, false);
        NDArray y = unitColumns(f.matMul(start));
        y = unitColumns(f.matMul(y));
        NDArray yt = y.transpose();
        return new NDArray[] {y, yt.matMul(y), yt.matMul(f.matMul(y))};
    }

    /** Each column divided by its norm (a zero column stays zero). */
    private static NDArray unitColumns(NDArray y) {
        return y.div(y.norm(new int[] {0}, true).add(Double.MIN_NORMAL));
    }

    /**
     * Rayleigh-Ritz on the host for one factor from its read \( Y^\top Y \) and \( Y^\top F Y \) (l
     * x l each, row-major at {@code offset}): the top k Ritz pairs \( (\mu_i, Y t_i) \), then \( U
     * = Y T \) and \( W = U \mathrm{diag}(1/(\mu_i + s) - 1/s) \) on the device and the scalar \(
     * 1/s \), all in {@code type}. Missing pairs (Y of rank below k) are zero columns, which leave
     * \( I/s \) alone.
     */
    private static NDArray[] lowRankSide(
            NDArray y, double[] values, int offset, int l, int k, double shift, DataType type) {
        double[] tAndCoefficients = ritz(values, offset, l, k, shift);
        NDManager m = y.getManager();
        NDArray t = m.create(Arrays.copyOf(tAndCoefficients, l * k), new Shape(l, k));
        NDArray coefficients =
                m.create(Arrays.copyOfRange(tAndCoefficients, l * k, l * k + k), new Shape(1, k));
        NDArray u = y.matMul(t);
        NDArray weights = u.mul(coefficients);
        return new NDArray[] {
            u.toType(type, false),
            weights.toType(type, false),
            m.create(1 / shift).toType(type, false)
        };
    }

    /**
     * The host half of {@link #lowRankSide}: T (l x k, row-major) followed by the k coefficients \(
     * 1/(\mu_i + s) - 1/s \), from \( B = Y^\top Y \) and \( C = Y^\top F Y \). With \( B = V
     * \mathrm{diag}(b) V^\top \) and \( T_1 = V_r \mathrm{diag}(b_r^{-1/2}) \) over the r
     * eigenvalues above {@link #GRAM_CUTOFF} of the largest, \( Y T_1 \) is orthonormal; with \(
     * T_1^\top C T_1 = X \mathrm{diag}(\mu) X^\top \), \( T = T_1 X \) restricted to the k largest
     * \( \mu \) (clipped at 0: a second moment is positive semi-definite).
     */
    static double[] ritz(double[] values, int offset, int l, int k, double shift) {
        for (int i = offset; i < offset + 2 * l * l; i++) {
            if (!Double.isFinite(values[i])) {
                throw new ArithmeticException("a low-rank sketch has NaN or infinite entries");
            }
        }
        RealMatrix gram = symmetric(values, offset, l);
        RealMatrix projected = symmetric(values, offset + l * l, l);
        EigenDecomposition whitening = new EigenDecomposition(gram);
        double[] b = whitening.getRealEigenvalues();
        double largest = 0;
        for (double value : b) {
            largest = Math.max(largest, value);
        }
        int r = 0;
        for (double value : b) {
            if (value > GRAM_CUTOFF * largest) {
                r++;
            }
        }
        double[] result = new double[l * k + k];
        if (r == 0) {
            return result;
        }
        RealMatrix t1 = new Array2DRowRealMatrix(l, r);
        RealMatrix v = whitening.getV();
        int column = 0;
        for (int j = 0; j < l; j++) {
            if (b[j] > GRAM_CUTOFF * largest) {
                double norm = 1 / Math.sqrt(b[j]);
                for (int i = 0; i < l; i++) {
                    t1.setEntry(i, column, v.getEntry(i, j) * norm);
                }
                column++;
            }
        }
        RealMatrix whitened = t1.transpose().multiply(projected).multiply(t1);
        whitened = whitened.add(whitened.transpose()).scalarMultiply(0.5);
        EigenDecomposition ritz = new EigenDecomposition(whitened);
        double[] mu = ritz.getRealEigenvalues();
        Integer[] order = new Integer[r];
        for (int i = 0; i < r; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (i, j) -> Double.compare(mu[j], mu[i]));
        RealMatrix t = t1.multiply(ritz.getV());
        for (int c = 0; c < Math.min(k, r); c++) {
            int j = order[c];
            for (int i = 0; i < l; i++) {
                result[i * k + c] = t.getEntry(i, j);
            }
            double value = Math.max(mu[j], 0);
            result[l * k + c] = 1 / (value + shift) - 1 / shift;
        }
        for (double value : result) {
            if (!Double.isFinite(value)) {
                throw new ArithmeticException("the low-rank inverse has NaN or infinite entries");
            }
        }
        return result;
    }

    /** The symmetric part of the l x l row-major matrix at {@code offset}. */
    private static RealMatrix symmetric(double[] values, int offset, int l) {
        double[][] data = new double[l][l];
        for (int i = 0; i < l; i++) {
            for (int j = 0; j < l; j++) {
                data[i][j] = 0.5 * (values[offset + i * l + j] + values[offset + j * l + i]);
            }
        }
        return new Array2DRowRealMatrix(data, false);
    }

    private static NDArray upload(
            NDManager scope, double[] data, int rows, int columns, DataType type) {
        return scope.create(data, new Shape(rows, columns)).toType(type, false);
    }

    /**
     * Replaces the preconditioner: left, right, scale, then LOW_RANK's left weights and shift and
     * right weights and shift (absent entries null; a shorter array leaves the rest null).
     */
    private void install(NDArray[] candidate) {
        discardOperands();
        for (NDArray array :
                new NDArray[] {
                    left, right, scale, leftWeights, leftShift, rightWeights, rightShift
                }) {
            closeIfPresent(array);
        }
        NDArray[] all = Arrays.copyOf(candidate, 7);
        left = all[0];
        right = all[1];
        scale = all[2];
        leftWeights = all[3];
        leftShift = all[4];
        rightWeights = all[5];
        rightShift = all[6];
    }

    private static void closeIfPresent(NDArray array) {
        if (array != null) {
            array.close();
        }
    }

    private static void checkSquare(NDArray array, long size, String what) {
        Shape expected = new Shape(size, size);
        if (!array.getShape().equals(expected)) {
            throw new IllegalArgumentException(
                    what + " must have shape " + expected + ", but had " + array.getShape());
        }
    }

    /** A symmetric eigendecomposition on the host: eigenvalues (clipped at 0) and row-major Q. */
    private record Eigen(double[] values, double[] vectors) {

        /** Decomposes the n x n row-major matrix at {@code offset} of {@code flat}. */
        static Eigen of(double[] flat, int offset, int n) {
            for (int i = 0; i < n * n; i++) {
                if (!Double.isFinite(flat[offset + i])) {
                    throw new ArithmeticException("a factor has NaN or infinite entries");
                }
            }
            double[][] symmetric = new double[n][n];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j <= i; j++) {
                    double value = 0.5 * (flat[offset + i * n + j] + flat[offset + j * n + i]);
                    symmetric[i][j] = value;
                    symmetric[j][i] = value;
                }
            }
            EigenDecomposition decomposition =
                    new EigenDecomposition(new Array2DRowRealMatrix(symmetric, false));
            double[] values = decomposition.getRealEigenvalues();
            // A second moment is positive semi-definite: negative eigenvalues are rounding.
            for (int i = 0; i < n; i++) {
                values[i] = Math.max(values[i], 0);
            }
            RealMatrix v = decomposition.getV();
            double[] vectors = new double[n * n];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    vectors[i * n + j] = v.getEntry(i, j);
                }
            }
            return new Eigen(values, vectors);
        }

        boolean finite() {
            for (double v : values) {
                if (!Double.isFinite(v)) {
                    return false;
                }
            }
            for (double v : vectors) {
                if (!Double.isFinite(v)) {
                    return false;
                }
            }
            return true;
        }
    }
}
