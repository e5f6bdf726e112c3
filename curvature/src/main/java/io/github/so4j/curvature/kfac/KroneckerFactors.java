package io.github.so4j.curvature.kfac;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Workspace;
import java.util.List;
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
 * <p>The damped inverse is recomputed by {@link #refresh(double)}, as {@link InversionMode} says,
 * and applied to any number of gradients by {@link #precondition(NDArray)}. Failures follow a
 * ladder: statistics that the caller found non-finite are rejected with {@link #rejectUpdate()}
 * (the running factors stay); a refresh that throws or yields non-finite values keeps the previous
 * preconditioner and is counted; once {@link KroneckerSettings#maxConsecutiveFailures()} refreshes
 * in a row have failed, the next failure throws. Each streak of problems is logged once at WARN.
 *
 * <p><b>Cost</b>: an update, \( 2(p^2 + q^2) \) flops; a refresh and a product, see {@link
 * InversionMode}. Memory: \( 2(p^2 + q^2) \) entries in the statistics' dtype (factors and
 * inverses; {@link InversionMode#EIGEN} adds pq).
 *
 * @see <a href="https://arxiv.org/abs/1503.05671">paper</a>
 */
public final class KroneckerFactors implements AutoCloseable {

    private static final Logger logger = LoggerFactory.getLogger(KroneckerFactors.class);

    private final NDManager manager;
    private final String name;
    private final long inputSize;
    private final long outputSize;
    private final KroneckerSettings settings;
    private final InversionMode mode;

    private NDArray inputFactor;
    private NDArray outputFactor;
    private double weightSum;
    private NDArray left;
    private NDArray right;
    private NDArray scale;

    private long factorUpdates;
    private long rejectedFactorUpdates;
    private long refreshes;
    private long failedRefreshes;
    private int consecutiveFailures;
    private boolean rejecting;

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
     * Folds one batch's statistics into the running factors. The caller has checked that they are
     * finite (see {@link FactorStatistics#finiteProbe()}).
     *
     * @param statistics \( \hat A \) (p x p) and \( \hat G \) (q x q), on the factors' device. Not
     *     modified.
     * @throws IllegalArgumentException if a shape is wrong
     */
    public void update(FactorStatistics statistics) {
        checkSquare(statistics.input(), inputSize, "input statistic");
        checkSquare(statistics.output(), outputSize, "output statistic");
        weightSum = settings.factorDecay() * weightSum + 1;
        double fresh = 1 / weightSum;
        if (inputFactor == null || fresh == 1) {
            closeIfPresent(inputFactor);
            closeIfPresent(outputFactor);
            inputFactor = Workspace.copy(statistics.input(), manager);
            outputFactor = Workspace.copy(statistics.output(), manager);
        } else {
            blend(inputFactor, statistics.input(), fresh);
            blend(outputFactor, statistics.output(), fresh);
        }
        factorUpdates++;
        rejecting = false;
    }

    /** Counts statistics that were not finite; the running factors are kept. */
    public void rejectUpdate() {
        rejectedFactorUpdates++;
        if (!rejecting) {
            logger.warn(
                    "K-FAC layer {}: statistics with NaN or infinite entries; the running factors"
                            + " are kept",
                    name);
        }
        rejecting = true;
    }

    /**
     * Recomputes the damped inverse from the running factors.
     *
     * @param damping \( \lambda \), positive and finite
     * @return whether a new preconditioner is in place; {@code false} if this computation failed
     *     and the previous one (if any) is kept
     * @throws IllegalStateException if no statistics have been folded in yet, or if this failure is
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
        RuntimeException cause;
        try {
            NDArray[] candidate =
                    mode == InversionMode.EIGEN ? eigenbasis(damping) : inverses(damping);
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
        NDManager caller = gradient.getManager();
        try (Workspace ws = new Workspace(manager, left, right, scale, gradient)) {
            NDArray result;
            if (mode == InversionMode.EIGEN) {
                NDArray rotated = left.transpose().matMul(gradient).matMul(right);
                result = left.matMul(rotated.muli(scale)).matMul(right.transpose());
            } else {
                result = left.matMul(gradient).matMul(right);
            }
            return ws.keep(result, caller);
        }
    }

    /**
     * Returns the running \( A \); it belongs to this object and must not be modified or closed.
     *
     * @return \( A \), p x p, or {@code null} before the first update
     */
    public NDArray inputFactor() {
        return inputFactor;
    }

    /**
     * Returns the running \( G \); it belongs to this object and must not be modified or closed.
     *
     * @return \( G \), q x q, or {@code null} before the first update
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
     * Returns what this block has done.
     *
     * @return a snapshot of its counters
     */
    public KroneckerHealth health() {
        return new KroneckerHealth(
                factorUpdates,
                rejectedFactorUpdates,
                refreshes,
                failedRefreshes,
                mode == settings.inversion() ? 0 : 1);
    }

    /**
     * Everything the next updates, refreshes and preconditionings depend on, for checkpoints.
     *
     * @param inputFactor the running \( A \), or {@code null} before the first update
     * @param outputFactor the running \( G \), or {@code null} before the first update
     * @param weightSum the sum of the averaging weights (for the bias correction)
     * @param preconditioner the arrays of the last successful refresh (INVERSE: \( (G + d_G
     *     I)^{-1}, (A + d_A I)^{-1} \); EIGEN: \( Q_G, Q_A \) and the scale), empty before the
     *     first
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
     * Returns the state: this object's own arrays, valid until the next update or refresh and not
     * to be modified.
     *
     * @return the state
     */
    public State state() {
        NDList preconditioner = new NDList();
        for (NDArray array : new NDArray[] {left, right, scale}) {
            if (array != null) {
                preconditioner.add(array);
            }
        }
        return new State(
                inputFactor,
                outputFactor,
                weightSum,
                preconditioner,
                new long[] {
                    factorUpdates,
                    rejectedFactorUpdates,
                    refreshes,
                    failedRefreshes,
                    consecutiveFailures
                });
    }

    /**
     * Replaces the state with copies of another's, saved from factors of the same sizes and mode.
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
        int expected = mode == InversionMode.EIGEN ? 3 : 2;
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
        if (size != 0) {
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
        closeIfPresent(inputFactor);
        closeIfPresent(outputFactor);
        inputFactor =
                state.inputFactor() == null ? null : Workspace.copy(state.inputFactor(), manager);
        outputFactor =
                state.outputFactor() == null ? null : Workspace.copy(state.outputFactor(), manager);
        weightSum = state.weightSum();
        if (size == 0) {
            install(new NDArray[3]);
        } else {
            install(
                    new NDArray[] {
                        Workspace.copy(state.preconditioner().get(0), manager),
                        Workspace.copy(state.preconditioner().get(1), manager),
                        size == 3 ? Workspace.copy(state.preconditioner().get(2), manager) : null
                    });
        }
        long[] c = state.counters();
        factorUpdates = c[0];
        rejectedFactorUpdates = c[1];
        refreshes = c[2];
        failedRefreshes = c[3];
        consecutiveFailures = (int) c[4];
        rejecting = false;
    }

    /** Frees the factors and the preconditioner. */
    @Override
    public void close() {
        manager.close();
    }

    /** (G + dG I)^{-1} and (A + dA I)^{-1} in float64 on the device; null if not finite. */
    private NDArray[] inverses(double damping) {
        try (Workspace ws = new Workspace(manager, inputFactor, outputFactor)) {
            NDArray traces =
                    NDArrays.stack(
                            new NDList(meanDiagonal(inputFactor), meanDiagonal(outputFactor)));
            double[] meanEigenvalues = traces.toDoubleArray();
            double pi = piCorrection(meanEigenvalues[0], meanEigenvalues[1]);
            double root = Math.sqrt(damping);
            NDArray rightInverse = dampedInverse(inputFactor, pi * root, ws.manager());
            NDArray leftInverse = dampedInverse(outputFactor, root / pi, ws.manager());
            boolean[] finite =
                    FiniteProbe.resolve(
                            List.of(FiniteProbe.of(leftInverse), FiniteProbe.of(rightInverse)));
            if (!finite[0] || !finite[1]) {
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

    private static NDArray dampedInverse(NDArray factor, double shift, NDManager scope) {
        int n = Math.toIntExact(factor.getShape().get(0));
        // Not toType(FLOAT64, true).addi(...): for a float64 factor DJL's PyTorch engine returns
        // an array that shares the factor's storage even when asked for a copy.
        NDArray shifted =
                factor.toType(DataType.FLOAT64, false)
                        .add(scope.eye(n, n, 0, DataType.FLOAT64).muli(shift));
        // PyTorch's inverse is column-major; reshaping through one axis copies it row-major, the
        // layout a checkpoint restores, so that a resumed run multiplies in the same order.
        return shifted.inverse().toType(factor.getDataType(), false).reshape(-1).reshape(n, n);
    }

    /** Q_G, Q_A and 1 / (lambda_G lambda_A^T + lambda), from float64 host eigendecompositions. */
    @SuppressWarnings("try")
    private NDArray[] eigenbasis(double damping) {
        Eigen input;
        Eigen output;
        try (Workspace ws = new Workspace(manager, inputFactor, outputFactor)) {
            input = Eigen.of(inputFactor);
            output = Eigen.of(outputFactor);
        }
        int q = output.values.length;
        int p = input.values.length;
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
        DataType type = inputFactor.getDataType();
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

    private static NDArray upload(
            NDManager scope, double[] data, int rows, int columns, DataType type) {
        return scope.create(data, new Shape(rows, columns)).toType(type, false);
    }

    private void install(NDArray[] candidate) {
        closeIfPresent(left);
        closeIfPresent(right);
        closeIfPresent(scale);
        left = candidate[0];
        right = candidate[1];
        scale = candidate[2];
    }

    private static void closeIfPresent(NDArray array) {
        if (array != null) {
            array.close();
        }
    }

    /** factor <- (1 - fresh) factor + fresh statistic, in place; the temporary is scoped. */
    @SuppressWarnings("try")
    private void blend(NDArray factor, NDArray statistic, double fresh) {
        try (Workspace ws = new Workspace(manager, statistic)) {
            factor.muli(1 - fresh).addi(statistic.mul(fresh));
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

        static Eigen of(NDArray factor) {
            int n = Math.toIntExact(factor.getShape().get(0));
            double[] flat = factor.toType(DataType.FLOAT64, false).toDoubleArray();
            for (double value : flat) {
                if (!Double.isFinite(value)) {
                    throw new ArithmeticException("a factor has NaN or infinite entries");
                }
            }
            double[][] symmetric = new double[n][n];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j <= i; j++) {
                    double value = 0.5 * (flat[i * n + j] + flat[j * n + i]);
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
