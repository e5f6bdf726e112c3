package io.github.so4j.curvature.mfac;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Finite;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The dynamic M-FAC algorithm: products with the inverse of a damped empirical Fisher over a
 * sliding window of the last m gradients.
 *
 * <p>For the gradients \( g_1, \dots, g_m \) in the window (rows of \( G \), m x d; empty slots
 * count as zero gradients, as in the paper's reference code) and a damping \( \lambda > 0 \):
 *
 * <p>\( F = \lambda I + \frac{1}{m} \sum_{i=1}^m g_i g_i^\top = \lambda I + \frac{1}{m} G^\top G \)
 * <br>
 * \( F^{-1} x = \frac{1}{\lambda} \left( x - G^\top (m \lambda I + G G^\top)^{-1} G x \right) \)
 * (Woodbury)
 *
 * <p>The window is a ring buffer on the device of the gradients, in their dtype, stored per segment
 * in chunks of about {@value ChunkedLayout#CHUNK} coordinates, shape (k, m, c): both products with
 * it are then batched matrix products over the k chunks, which run at close to the memory bandwidth
 * of a plain reduction, where a single m x d matrix-vector product runs at about half of it on a
 * CPU. The last chunk is padded with zeros. The Gram matrix \( K = G G^\top \) and \( M = (m\lambda
 * I + K)^{-1} \) are kept in float64 (m x m), because dot products of float32 gradients lose digits
 * that a small \( \lambda \) would amplify. Adding a gradient to slot k (the oldest, once the
 * window is full) replaces row and column k of \( K \) by the new gradient's dot products with the
 * window, and updates \( M \) for that rank-2 change in O(m<sup>2</sup>) instead of inverting anew.
 *
 * <p><b>Updating M</b>: with \( A = K + m \lambda I \), the two-term Woodbury form \( M' = M - M U
 * (S + U^\top M U)^{-1} U^\top M \) (\( U = [e_k, a] \), \( a = \delta - \frac{\delta_k}{2} e_k \),
 * \( \delta \) the change of row k, \( S = \left(\begin{smallmatrix} 0 &amp; 1 \\ 1 &amp; 0
 * \end{smallmatrix}\right) \)) is unstable: its 2 x 2 matrix has entries of size \( \|a\|^2 \|M\|
 * \) and a determinant of size 1, so rounding errors grow by up to \( \kappa(A)^2 \) per add
 * (measured: a relative error of 2e-3 in \( M \) after three adds of one repeated gradient at \(
 * \lambda = 10^{-3} \), and overflow within 20 cycles of random gradients at \( \lambda = 10^{-5}
 * \)). The same change is therefore made in two rank-1 steps in which no term exceeds \( \|M\| \le
 * 1 / (m\lambda) \): removing slot k, \( N = M - M e_k e_k^\top M / M_{kk} \) with row and column k
 * set to 0 (the inverse of A without row and column k, bordered by zeros), then bordering with the
 * new row r (b: r with entry k set to 0): \( y = N b \) and \( z^\top = b^\top N \), each improved
 * by one step of iterative refinement against A without row and column k (without it the Schur
 * complement loses \( \kappa(A)^2 \) digits instead of \( \kappa(A) \)), \( \sigma = r_k + m\lambda
 * - b^\top y \) (at least \( m\lambda \), clamped there), and \( M' = N + (y - e_k)(z - e_k)^\top /
 * \sigma \). No step inverts a matrix, so none synchronises with the host.
 *
 * <p><b>Refreshing M</b>: the column j of a Newton–Schulz step \( X \leftarrow X (2I - A X) \) is
 * \( x_j + X (e_j - A x_j) \); it squares that column's residual and leaves the other columns
 * alone, so the step is spread over the adds: each add refines \( b = \lceil m / T \rceil \)
 * columns of \( M' \), evenly spaced around the ring half a gap away from slot k (whose column was
 * just recomputed), and every column is refined at least once every T accepted adds. (Mirroring a
 * refined column into its row, to keep \( M \) symmetric, proved unstable: it changes every other
 * column by up to \( \kappa(A) \) times the correction. \( M \) is therefore only nearly symmetric,
 * and the update above uses its row and column k separately.) The refresh period T is m by default:
 * one column per add, about 9m<sup>2</sup> flops, a third of the update. Measured in float64 (m = 4
 * and 16, \( \lambda \) from 0.1 to \( 10^{-5} \), 40 cycles each of random gradients, gradients
 * whose norms span \( 10^{\pm 2} \), one repeated gradient, near-duplicates, gradients from a
 * 2-dimensional subspace, \( \kappa(A) \) up to \( 5 \cdot 10^7 \)): \( M \) stays within \( 0.7
 * \kappa(A) \cdot 2^{-53} \) of a fresh LU inverse (relative, Frobenius; within \( 5 \cdot 10^{-16}
 * \) when \( \kappa(A) &lt; 10 \)) with or without the refresh, so a shorter period buys no
 * accuracy. The refresh removes error that the window's turnover does not: after a relative
 * perturbation of \( 10^{-6} \) of \( M \) (m = 16, \( \lambda = 10^{-3} \)), T = m brings the
 * error below \( 10^{-11} \) within four cycles and T = m / 4 down to the floor within one, while
 * without a refresh it stays near \( 10^{-6} \) for a repeated gradient and grows to \( 10^{-4} \)
 * and beyond for the subspace.
 *
 * <p>A vector may be one array (of any shape with d elements) or an {@link NDList} of segments,
 * such as one array per model parameter: the window stores the segments side by side and sums their
 * dot products in sorted order, so the result does not depend on the order of the segments'
 * contributions. The paper's global window over all parameters is the segmented case.
 *
 * <p><b>No host reads on the hot path</b>: {@link #propose(NDList)} computes the window with one
 * more gradient, the product \( F'^{-1} g \) with it, and a flag on the device telling whether they
 * are finite; {@link Proposal#commit} takes a boolean scalar on the device and makes the proposal
 * the window's state where it is true, leaving the state bit for bit as it was where it is false.
 * The cursor (the slot the next gradient goes to, and the number of filled slots) is a pair of
 * int64 scalars on the device advanced by that flag, and the new row is written at the device's
 * slot: nothing in {@link #propose}, {@link Proposal#commit} or {@link #inverseTimes} reads a value
 * back (see {@link HostReads}), and the scalars this class needs on the device are made once, not
 * per step (DJL's PyTorch engine copies a Java number to the device, synchronously, for every
 * scalar operation). {@link #add} and {@link #addAndInverseTimes} decide on the host (one read
 * each); {@link #state}, {@link #getFilled} and {@link #setDamping} read too.
 *
 * <p><b>Cost</b>: a product reads the window twice, 2dm + m<sup>2</sup> flops; {@link #propose}
 * reads it twice too, 2dm + about (28 + 9b) m<sup>2</sup> flops on m x m float64 data; {@link
 * Proposal#commit} reads the old row and writes the new one (d each) and selects among m x m
 * matrices; {@link #add} reads the window once. Memory: dm in the gradients' dtype (plus at most
 * one chunk of padding per segment) and 2m<sup>2</sup> float64, plus 2m<sup>2</sup> float64 and d
 * numbers while a proposal is open. A rejected gradient (one whose dot products, \( M' \) or
 * product are not finite, or one the caller rejects) leaves the state unchanged.
 *
 * @see <a href="https://arxiv.org/abs/2107.03356">paper</a>
 */
public final class SlidingWindowFisher implements AutoCloseable {

    private final NDManager manager;
    private final Shape[] segmentShapes;
    private final long dimension;
    private final int capacity;
    private final int refreshPeriod;
    private final DataType dataType;
    private final ChunkedLayout layout;
    private final NDArray[] windows;
    private final NDArray[][] padding;

    /** 0, 1, ..., m - 1 (int64), to turn device slots into one-hot vectors. */
    private final NDArray positions;

    /** The refined columns' offsets from the slot (int64, b of them), or null if none. */
    private final NDArray refreshOffsets;

    /** m (int64), on the device, so that no step copies it there. */
    private final NDArray capacityIndex;

    /** \( m \lambda \) (float64) and \( -1 / \lambda \) (the dtype), remade by setDamping. */
    private NDArray shift;

    private NDArray negativeReciprocal;
    private double damping;
    private NDArray gram;
    private NDArray inverse;

    /** The slot the next gradient goes to: int64, shape (1), on the device. */
    private NDArray cursor;

    /** The number of filled slots: int64, shape (1), on the device. */
    private NDArray count;

    /** Bumped by every change of state, so that a stale proposal cannot be committed. */
    private long version;

    /**
     * Creates an empty float32 window over flat vectors of dimension d, with the default refresh
     * period m.
     *
     * @param manager the manager whose device holds the window; the window owns a sub-manager
     * @param dimension d, the number of coordinates, at least 1
     * @param windowSize m, the number of gradients kept, at least 1
     * @param damping \( \lambda \), positive and finite
     * @throws IllegalArgumentException naming the parameter and value if one is invalid
     */
    public SlidingWindowFisher(NDManager manager, long dimension, int windowSize, double damping) {
        this(manager, new Shape[] {new Shape(dimension)}, windowSize, damping, DataType.FLOAT32);
    }

    /**
     * Creates an empty window over segmented vectors, with the default refresh period m.
     *
     * @param manager the manager whose device holds the window; the window owns a sub-manager
     * @param segmentShapes the shape of each segment of a vector (e.g. one per parameter)
     * @param windowSize m, the number of gradients kept, at least 1
     * @param damping \( \lambda \), positive and finite
     * @param dataType the dtype of the gradients and of the window: float32 or float64
     * @throws IllegalArgumentException naming the parameter and value if one is invalid
     */
    public SlidingWindowFisher(
            NDManager manager,
            Shape[] segmentShapes,
            int windowSize,
            double damping,
            DataType dataType) {
        this(manager, segmentShapes, windowSize, damping, dataType, windowSize);
    }

    /**
     * Creates an empty window over segmented vectors with a chosen refresh period.
     *
     * @param manager the manager whose device holds the window; the window owns a sub-manager
     * @param segmentShapes the shape of each segment of a vector (e.g. one per parameter)
     * @param windowSize m, the number of gradients kept, at least 1
     * @param damping \( \lambda \), positive and finite
     * @param dataType the dtype of the gradients and of the window: float32 or float64
     * @param refreshPeriod T, between 1 and m: every column of \( M \) gets a Newton–Schulz
     *     refinement at least once every T accepted adds, \( \lceil m / T \rceil \) columns per add
     *     (about 9m<sup>2</sup> flops each); or 0 for none, which leaves errors in \( M \) that the
     *     window's turnover does not remove (for measurements)
     * @throws IllegalArgumentException naming the parameter and value if one is invalid
     */
    public SlidingWindowFisher(
            NDManager manager,
            Shape[] segmentShapes,
            int windowSize,
            double damping,
            DataType dataType,
            int refreshPeriod) {
        if (segmentShapes.length == 0) {
            throw new IllegalArgumentException("segmentShapes must not be empty");
        }
        long total = 0;
        for (Shape shape : segmentShapes) {
            if (shape.size() < 1) {
                throw new IllegalArgumentException(
                        "every segment needs at least one element, but one had shape " + shape);
            }
            total += shape.size();
        }
        if (windowSize < 1) {
            throw new IllegalArgumentException(
                    "windowSize must be at least 1, but was " + windowSize);
        }
        checkDamping(damping);
        if (dataType != DataType.FLOAT32 && dataType != DataType.FLOAT64) {
            throw new IllegalArgumentException(
                    "dataType must be float32 or float64, but was " + dataType);
        }
        if (refreshPeriod < 0 || refreshPeriod > windowSize) {
            throw new IllegalArgumentException(
                    "refreshPeriod must be between 0 and windowSize = "
                            + windowSize
                            + ", but was "
                            + refreshPeriod);
        }
        this.manager = manager.newSubManager();
        this.segmentShapes = segmentShapes.clone();
        this.dimension = total;
        this.capacity = windowSize;
        this.refreshPeriod = refreshPeriod;
        this.dataType = dataType;
        this.damping = damping;
        this.layout = new ChunkedLayout(segmentShapes);
        this.windows = new NDArray[layout.groupCount()];
        this.padding = new NDArray[layout.groupCount()][];
        for (int g = 0; g < windows.length; g++) {
            windows[g] = this.manager.zeros(layout.windowShape(g, windowSize), dataType);
            int members = layout.group(g).members.size();
            padding[g] = new NDArray[members];
            for (int i = 0; i < members; i++) {
                long zeros = layout.padding(g, i);
                padding[g][i] = zeros == 0 ? null : this.manager.zeros(new Shape(zeros), dataType);
            }
        }
        this.positions = this.manager.arange(0L, (long) windowSize, 1L, DataType.INT64);
        if (refreshPeriod == 0) {
            this.refreshOffsets = null;
        } else {
            // b columns, evenly spaced: gaps of floor or ceil(m / b) <= T between refinements
            int columns = (windowSize + refreshPeriod - 1) / refreshPeriod;
            long[] offsets = new long[columns];
            for (int j = 0; j < columns; j++) {
                offsets[j] = ((2L * j + 1) * windowSize / (2L * columns)) % windowSize;
            }
            this.refreshOffsets = this.manager.create(offsets);
        }
        this.capacityIndex = this.manager.create((long) windowSize);
        makeConstants();
        this.gram = this.manager.zeros(new Shape(windowSize, windowSize), DataType.FLOAT64);
        try (NDArray identity = this.manager.eye(windowSize, windowSize, 0, DataType.FLOAT64)) {
            this.inverse = identity.div(windowSize * damping);
        }
        this.cursor = this.manager.create(new long[] {0});
        this.count = this.manager.create(new long[] {0});
    }

    /**
     * Adds a gradient, replacing the oldest one once the window is full. Not the hot path: one
     * counted host read decides whether it was accepted (see {@link #propose} for the read-free
     * form).
     *
     * @param gradient d elements in one array, on the window's device, in its dtype. Not modified.
     * @return whether it was added; {@code false} if it was rejected as non-finite (state
     *     unchanged)
     */
    public boolean add(NDArray gradient) {
        return add(new NDList(gradient));
    }

    /**
     * Adds a segmented gradient, replacing the oldest one once the window is full. Not the hot
     * path: one counted host read decides whether it was accepted.
     *
     * @param gradient one array per segment, shaped as declared. Not modified.
     * @return whether it was added; {@code false} if it was rejected as non-finite (state
     *     unchanged)
     */
    public boolean add(NDList gradient) {
        return update(gradient, false) != null;
    }

    /**
     * Computes \( F^{-1} x \), without host reads.
     *
     * @param x d elements in one array. Not modified.
     * @return \( F^{-1} x \), shaped as {@code x}, a new array owned by {@code x}'s manager
     */
    public NDArray inverseTimes(NDArray x) {
        return inverseTimes(new NDList(x)).head();
    }

    /**
     * Computes \( F^{-1} x \) for a segmented vector, without host reads.
     *
     * @param x one array per segment. Not modified.
     * @return \( F^{-1} x \), segment by segment, new arrays owned by the first segment's manager
     */
    public NDList inverseTimes(NDList x) {
        checkVector(x, "x");
        NDManager caller = x.head().getManager();
        try (Workspace ws =
                new Workspace(manager, x, new NDList(windows), gram, inverse, negativeReciprocal)) {
            NDArray[] rows = rows(flatten(x));
            NDArray dots = sortedSum(partialDots(rows, false));
            NDArray coefficients = inverse.matMul(dots);
            return ws.keep(combine(rows, coefficients, null), caller);
        }
    }

    /**
     * Adds a gradient, then computes \( F^{-1} g \) with the new window, reusing the gradient's dot
     * products with the window. Not the hot path: one counted host read decides whether it was
     * accepted; an optimizer uses {@link #propose} and {@link Proposal#commit} instead.
     *
     * @param gradient d elements in one array. Not modified.
     * @return \( F^{-1} g \), a new array owned by {@code gradient}'s manager; {@code null} if the
     *     gradient was rejected as non-finite (state unchanged)
     */
    public NDArray addAndInverseTimes(NDArray gradient) {
        NDList result = addAndInverseTimes(new NDList(gradient));
        return result == null ? null : result.head();
    }

    /**
     * Adds a segmented gradient, then computes \( F^{-1} g \) with the new window. Not the hot
     * path: one counted host read decides whether it was accepted.
     *
     * @param gradient one array per segment. Not modified.
     * @return \( F^{-1} g \), segment by segment, new arrays owned by the first segment's manager;
     *     {@code null} if the gradient was rejected as non-finite (state unchanged)
     */
    public NDList addAndInverseTimes(NDList gradient) {
        return update(gradient, true);
    }

    /** Propose, commit where finite, then one read of the flag. */
    private NDList update(NDList gradient, boolean multiply) {
        try (Proposal proposal = propose(gradient, multiply)) {
            NDArray finite = proposal.finite();
            try {
                proposal.commit(finite);
                if (!HostReads.toBoolean(finite)) {
                    return null;
                }
            } finally {
                finite.close();
            }
            return multiply ? proposal.direction() : new NDList();
        }
    }

    /**
     * Computes the window with one more gradient without changing this window or reading from the
     * device (the optimizer's hot path): the new gradient goes to the slot the cursor points at;
     * row and column k of \( K \), the updated \( M \) (with its share of the refresh; see the
     * class documentation), \( F'^{-1} g \) with the new window and a finiteness flag are computed.
     * {@link Proposal#commit} makes it the window's state where the caller's flag on the device
     * says so; closing the proposal without committing rejects it.
     *
     * <p>Only the latest state can be committed: a proposal becomes stale once another proposal is
     * committed or the window is restored or re-damped.
     *
     * <p><b>Cost</b>: reads the window twice, 2dm flops, plus about (28 + 9b) m<sup>2</sup> flops
     * on m x m float64 data (b the refined columns per add, 1 by default); holds 2m<sup>2</sup>
     * float64 and d numbers until closed.
     *
     * @param gradient d elements in one array, on the window's device, in its dtype. Not modified,
     *     and not to be modified until the proposal is committed or closed.
     * @return the proposal, to be closed by the caller
     */
    public Proposal propose(NDArray gradient) {
        return propose(new NDList(gradient));
    }

    /**
     * Computes the window with one more segmented gradient without changing this window or reading
     * from the device; see {@link #propose(NDArray)}.
     *
     * @param gradient one array per segment, shaped as declared. Not modified, and not to be
     *     modified until the proposal is committed or closed.
     * @return the proposal, to be closed by the caller
     */
    public Proposal propose(NDList gradient) {
        return propose(gradient, true);
    }

    private Proposal propose(NDList gradient, boolean multiply) {
        checkVector(gradient, "gradient");
        NDManager caller = gradient.head().getManager();
        NDManager scope = manager.newSubManager();
        boolean done = false;
        try (Workspace ws =
                new Workspace(
                        manager,
                        gradient,
                        new NDList(windows),
                        gram,
                        inverse,
                        cursor,
                        positions,
                        refreshOffsets,
                        capacityIndex,
                        shift,
                        negativeReciprocal)) {
            NDArray[] rows = rows(flatten(gradient));
            NDArray hit = positions.eq(cursor); // (m) boolean: slot k
            NDArray unit = hit.toType(DataType.FLOAT64, false); // e_k
            // [G_old g ; g.g] summed over chunks; entry k of G_new g is g.g.
            NDArray withSelf = sortedSum(partialDots(rows, true));
            NDArray self = withSelf.get(new NDIndex("{}:", capacity)).broadcast(capacity);
            NDArray row = NDArrays.where(hit, self, withSelf.get(new NDIndex("0:{}", capacity)));
            NDArray proposedGram = replaceRowAndColumn(gram, hit, row);
            NDArray proposedInverse = replaceInverse(hit, unit, row);
            if (refreshOffsets != null) {
                proposedInverse = refine(proposedInverse, proposedGram);
            }
            NDArray coefficients = proposedInverse.matMul(row);
            List<NDArray> probes = new ArrayList<>();
            probes.add(Finite.probe(row));
            probes.add(Finite.probe(proposedInverse));
            probes.add(Finite.probe(coefficients));
            NDList direction = null;
            if (multiply) {
                direction = combine(rows, coefficients, unit);
                for (NDArray segment : direction) {
                    probes.add(Finite.ofSum(segment));
                }
            }
            NDArray finite = Finite.flag(probes);
            for (int g = 0; g < rows.length; g++) {
                for (NDArray segment : gradient) {
                    if (rows[g] == segment) {
                        rows[g] = rows[g].duplicate(); // never take the caller's array
                    }
                }
                ws.keep(rows[g], scope);
            }
            Proposal proposal =
                    new Proposal(
                            scope,
                            rows,
                            ws.keep(proposedGram, scope),
                            ws.keep(proposedInverse, scope),
                            direction == null ? null : ws.keep(direction, caller),
                            ws.keep(finite, caller));
            done = true;
            return proposal;
        } finally {
            if (!done) {
                scope.close();
            }
        }
    }

    /** K with row and column k (where {@code hit}) replaced by {@code row}, exactly. */
    private NDArray replaceRowAndColumn(NDArray matrix, NDArray hit, NDArray row) {
        Shape square = new Shape(capacity, capacity);
        NDArray inRow = hit.reshape(capacity, 1).broadcast(square);
        NDArray inColumn = hit.reshape(1, capacity).broadcast(square);
        NDArray asRow = row.reshape(1, capacity).broadcast(square);
        NDArray asColumn = row.reshape(capacity, 1).broadcast(square);
        return NDArrays.where(inRow, asRow, NDArrays.where(inColumn, asColumn, matrix));
    }

    /**
     * \( M' = (K' + m \lambda I)^{-1} \) from \( M \) when row and column k change to r, in two
     * rank-1 steps (see the class documentation): \( N = M - M e_k e_k^\top M / M_{kk} \) with row
     * and column k set to 0; \( y = N b \), \( z^\top = b^\top N \) (b: r off slot k), each refined
     * once against \( B \), A without row and column k; \( \sigma = \max(r_k + m\lambda - b^\top y,
     * m\lambda) \); \( M' = N + (y - e_k)(z - e_k)^\top / \sigma \). About 22m<sup>2</sup> flops.
     */
    private NDArray replaceInverse(NDArray hit, NDArray unit, NDArray row) {
        Shape square = new Shape(capacity, capacity);
        NDArray column = inverse.matMul(unit); // M e_k
        NDArray across = unit.matMul(inverse); // e_k^T M
        NDArray pivot = column.mul(unit).sum(); // M_kk > 0
        NDArray removed =
                inverse.sub(
                        column.reshape(capacity, 1).mul(across.reshape(1, capacity)).div(pivot));
        NDArray cross =
                hit.reshape(capacity, 1)
                        .broadcast(square)
                        .logicalOr(hit.reshape(1, capacity).broadcast(square));
        NDArray reduced = NDArrays.where(cross, removed.zerosLike(), removed);
        NDArray border = NDArrays.where(hit, row.zerosLike(), row);
        // B = K + m lambda I off slot k; y = B^{-1} b and z^T = b^T B^{-1}, one refinement step
        // each
        NDArray others = NDArrays.where(cross, gram.zerosLike(), gram);
        NDArray firstY = reduced.matMul(border);
        NDArray y =
                firstY.add(
                        reduced.matMul(border.sub(others.matMul(firstY)).sub(firstY.mul(shift))));
        NDArray firstZ = border.matMul(reduced);
        NDArray z =
                firstZ.add(
                        border.sub(others.matMul(firstZ)).sub(firstZ.mul(shift)).matMul(reduced));
        NDArray sigma = row.mul(unit).sum().add(shift).sub(border.dot(y)).maximum(shift);
        NDArray left = y.sub(unit).reshape(capacity, 1);
        NDArray right = z.sub(unit).reshape(1, capacity);
        return reduced.add(left.mul(right).div(sigma));
    }

    /**
     * Columns J of one Newton–Schulz step \( X (2I - A X) \), \( A = K + m \lambda I \): \( x_j + X
     * (e_j - A x_j) \) for the b columns j at the slot plus the offsets; the other columns are
     * kept. About 9bm<sup>2</sup> flops.
     */
    private NDArray refine(NDArray x, NDArray k) {
        long columns = refreshOffsets.size();
        NDArray selected = refreshOffsets.add(cursor).mod(capacityIndex); // (b) int64
        NDArray pick =
                positions
                        .reshape(capacity, 1)
                        .eq(selected.reshape(1, columns))
                        .toType(DataType.FLOAT64, false); // (m, b), columns e_j
        NDArray current = x.matMul(pick);
        NDArray residual = pick.sub(k.matMul(current)).sub(current.mul(shift));
        NDArray refined = current.add(x.matMul(residual)); // (m, b)
        NDArray spread = refined.matMul(pick.transpose()); // (m, m): refined columns at J
        NDArray chosen = pick.sum(new int[] {1}).toType(DataType.BOOLEAN, false); // in J
        NDArray inColumn = chosen.reshape(1, capacity).broadcast(capacity, capacity);
        return NDArrays.where(inColumn, spread, x);
    }

    /** Each chunk group of the vector as a (chunks, c) matrix. */
    private NDArray[] rows(NDList flat) {
        NDArray[] rows = new NDArray[windows.length];
        for (int g = 0; g < windows.length; g++) {
            rows[g] = layout.rows(g, flat, padding[g]);
        }
        return rows;
    }

    /**
     * Per chunk: the window times the chunk, in float64, optionally followed by the chunk's squared
     * norm; shape (chunks, m) or (chunks, m + 1), all groups stacked.
     */
    private NDArray partialDots(NDArray[] rows, boolean withSelf) {
        NDList parts = new NDList(windows.length);
        for (int g = 0; g < windows.length; g++) {
            long chunks = rows[g].getShape().get(0);
            // (k, 1, c) x (k, c, m) -> (k, 1, m)
            NDArray dots =
                    rows[g].expandDims(1)
                            .matMul(windows[g].transpose(0, 2, 1))
                            .reshape(chunks, capacity);
            if (withSelf) {
                // (k, 1, c) x (k, c, 1) -> (k, 1, 1): no d-sized temporary
                NDArray chunked = rows[g].expandDims(1);
                NDArray self = chunked.matMul(chunked.transpose(0, 2, 1)).reshape(chunks, 1);
                dots = dots.concat(self, 1);
            }
            parts.add(dots.toType(DataType.FLOAT64, false));
        }
        return parts.size() == 1 ? parts.head() : NDArrays.concat(parts);
    }

    /**
     * Sums over chunks (axis 0) in sorted order, so that the order of the chunks does not matter.
     */
    private static NDArray sortedSum(NDArray partials) {
        if (partials.getShape().get(0) == 1) {
            return partials.reshape(-1);
        }
        return partials.sort(0).sum(new int[] {0});
    }

    /**
     * \( (x - G^\top c) / \lambda \), cut back into segments. With {@code unit} = \( e_k \) (a
     * proposal), G is the window with x in slot k, which is not stored yet: \( G^\top c =
     * G_{old}^\top (c - c_k e_k) + c_k x \).
     */
    private NDList combine(NDArray[] rows, NDArray coefficients, NDArray unit) {
        NDArray weights = coefficients;
        NDArray own = null;
        if (unit != null) {
            NDArray atSlot = coefficients.mul(unit);
            own = atSlot.sum().toType(dataType, false);
            weights = coefficients.sub(atSlot);
        }
        NDArray c = weights.toType(dataType, false).reshape(1, 1, capacity);
        NDArray[] segments = new NDArray[segmentShapes.length];
        for (int g = 0; g < windows.length; g++) {
            // (1, 1, m) x (k, m, c) -> (k, 1, c)
            NDArray correction = c.matMul(windows[g]).reshape(rows[g].getShape());
            if (own != null) {
                correction.addi(rows[g].mul(own));
            }
            // (x - G^T c) / lambda, in place in the product's fresh buffer
            layout.split(g, correction.subi(rows[g]).muli(negativeReciprocal), segments);
        }
        return new NDList(segments);
    }

    /** \( (K + m \lambda I)^{-1} \) in float64, owned by the window; one counted host read. */
    private NDArray shiftedInverse(NDArray gramMatrix) {
        try (Workspace ws = new Workspace(manager, gramMatrix)) {
            NDArray diagonal =
                    ws.manager()
                            .eye(capacity, capacity, 0, DataType.FLOAT64)
                            .mul(capacity * damping);
            return ws.keep(HostReads.inverse(gramMatrix.add(diagonal)), manager);
        }
    }

    /** The scalars the hot path needs, made once per damping (a host-to-device copy each). */
    private void makeConstants() {
        NDArray[] old = {shift, negativeReciprocal};
        shift = manager.create(capacity * damping);
        negativeReciprocal =
                dataType == DataType.FLOAT64
                        ? manager.create(-1.0 / damping)
                        : manager.create((float) (-1.0 / damping));
        for (NDArray array : old) {
            if (array != null) {
                array.close();
            }
        }
    }

    /**
     * A gradient's way into the window, computed by {@link SlidingWindowFisher#propose(NDList)} but
     * not yet part of it: the new row, Gram matrix and inverse, the product \( F'^{-1} g \) with
     * the new window, and whether all of that is finite, all on the device.
     *
     * <p>The caller combines {@link #finite()} with its own conditions on the device and calls
     * {@link #commit} once; closing without a commit rejects the gradient. Neither reads from the
     * device.
     */
    public final class Proposal implements AutoCloseable {

        private final NDManager scope;
        private final long basis;
        private final NDArray[] newRows;
        private final NDArray newGram;
        private final NDArray newInverse;
        private final NDList direction;
        private final NDArray finite;
        private boolean directionTaken;
        private boolean finiteTaken;
        private boolean committed;
        private boolean closed;

        private Proposal(
                NDManager scope,
                NDArray[] newRows,
                NDArray newGram,
                NDArray newInverse,
                NDList direction,
                NDArray finite) {
            this.scope = scope;
            this.basis = version;
            this.newRows = newRows;
            this.newGram = newGram;
            this.newInverse = newInverse;
            this.direction = direction;
            this.finite = finite;
        }

        /**
         * Returns \( F'^{-1} g = \frac{1}{\lambda} ( g - G'^\top M' G' g ) \) with the window that
         * includes g, segment by segment, computed with the proposal; meaningful only where {@link
         * #finite()} is true.
         *
         * @return new arrays owned by the gradient's (first segment's) manager, from then on the
         *     caller's to close; the same list on every call
         */
        public NDList direction() {
            if (direction == null) {
                throw new IllegalStateException("this proposal was made without a product");
            }
            directionTaken = true;
            return direction;
        }

        /**
         * Returns whether the new row of \( K \), the new \( M \), its coefficients \( M' G' g \)
         * and the product are all finite: a boolean scalar on the device, never read by the window.
         *
         * @return a boolean scalar owned by the gradient's manager, from then on the caller's to
         *     close; the same array on every call
         */
        public NDArray finite() {
            finiteTaken = true;
            return finite;
        }

        /**
         * Makes the proposal the window's state where {@code accept} is true, and keeps the state
         * bit for bit as it was (window rows, \( K \), \( M \), cursor) where it is false, without
         * a host read: the row at the cursor's slot becomes {@code where(accept, g, old row)}, \( K
         * \) and \( M \) {@code where(accept, new, old)}, and the cursor advances by {@code
         * accept}: slot \( \leftarrow (\text{slot} + \text{accept}) \bmod m \), filled \(
         * \leftarrow \min(\text{filled} + \text{accept}, m) \).
         *
         * <p><b>Cost</b>: reads the old row and writes one row (d each), plus elementwise
         * selections on the m x m matrices.
         *
         * @param accept a boolean array with one element on the window's device, e.g. {@link
         *     #finite()} and the caller's own conditions. Not modified.
         * @throws IllegalStateException if the proposal was committed or closed already, or if the
         *     window changed since it was proposed (another commit, {@link
         *     SlidingWindowFisher#restore}, {@link SlidingWindowFisher#setDamping})
         * @throws IllegalArgumentException if {@code accept} is not such a boolean
         */
        public void commit(NDArray accept) {
            if (closed || committed) {
                throw new IllegalStateException(
                        "the proposal was " + (committed ? "committed" : "closed") + " already");
            }
            if (basis != version) {
                throw new IllegalStateException(
                        "the window changed since this proposal was made; propose again");
            }
            if (accept.getDataType() != DataType.BOOLEAN || accept.size() != 1) {
                throw new IllegalArgumentException(
                        "accept must be one boolean, but was "
                                + accept.getDataType()
                                + " "
                                + accept.getShape());
            }
            if (!accept.getDevice().equals(gram.getDevice())) {
                throw new IllegalArgumentException(
                        "accept must be on "
                                + gram.getDevice()
                                + ", but was on "
                                + accept.getDevice());
            }
            try (Workspace ws =
                    new Workspace(
                            manager,
                            accept,
                            new NDList(windows),
                            gram,
                            inverse,
                            cursor,
                            count,
                            capacityIndex,
                            new NDList(newRows),
                            newGram,
                            newInverse)) {
                NDArray yes = accept.reshape(new Shape());
                NDIndex slot = new NDIndex(":, {}, :", cursor);
                for (int g = 0; g < windows.length; g++) {
                    NDArray old = windows[g].get(slot); // (k, 1, c)
                    NDArray fresh = newRows[g].expandDims(1);
                    windows[g].set(slot, NDArrays.where(yes.broadcast(old.getShape()), fresh, old));
                }
                NDArray square = yes.broadcast(capacity, capacity);
                NDArray keptGram = NDArrays.where(square, newGram, gram);
                NDArray keptInverse = NDArrays.where(square, newInverse, inverse);
                NDArray step = yes.toType(DataType.INT64, false);
                NDArray nextSlot = cursor.add(step).mod(capacityIndex);
                NDArray nextFilled = count.add(step).minimum(capacityIndex);
                ws.closeAfterwards(gram);
                ws.closeAfterwards(inverse);
                ws.closeAfterwards(cursor);
                ws.closeAfterwards(count);
                gram = ws.keep(keptGram, manager);
                inverse = ws.keep(keptInverse, manager);
                cursor = ws.keep(nextSlot, manager);
                count = ws.keep(nextFilled, manager);
            }
            version++;
            committed = true;
            scope.close();
        }

        /**
         * Frees what the proposal holds: everything if it was not committed (the gradient is then
         * rejected, the window unchanged), except the product and the flag once handed out.
         */
        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            if (!committed) {
                scope.close();
            }
            if (direction != null && !directionTaken) {
                direction.close();
            }
            if (!finiteTaken) {
                finite.close();
            }
        }
    }

    private NDList flatten(NDList vector) {
        NDList flat = new NDList(vector.size());
        for (NDArray segment : vector) {
            flat.add(segment.reshape(-1));
        }
        return flat;
    }

    private void checkVector(NDList vector, String name) {
        if (vector.size() != segmentShapes.length) {
            throw new IllegalArgumentException(
                    name
                            + " must have "
                            + segmentShapes.length
                            + " segments, but had "
                            + vector.size());
        }
        Device device = windows[0].getDevice();
        for (int p = 0; p < segmentShapes.length; p++) {
            NDArray segment = vector.get(p);
            if (segment.size() != segmentShapes[p].size()) {
                throw new IllegalArgumentException(
                        name
                                + (segmentShapes.length > 1 ? " segment " + p : "")
                                + " must have "
                                + segmentShapes[p].size()
                                + " elements, but had shape "
                                + segment.getShape());
            }
            if (segment.getDataType() != dataType) {
                throw new IllegalArgumentException(
                        name + " must be " + dataType + ", but was " + segment.getDataType());
            }
            if (!segment.getDevice().equals(device)) {
                throw new IllegalArgumentException(
                        name + " must be on " + device + ", but was on " + segment.getDevice());
            }
        }
    }

    private static void checkDamping(double damping) {
        if (!(damping > 0) || Double.isInfinite(damping)) {
            throw new IllegalArgumentException(
                    "damping must be positive and finite, but was " + damping);
        }
    }

    /**
     * Changes \( \lambda \) (for damping schedules); recomputes \( M \) by a fresh inverse,
     * O(m<sup>3</sup>), with one counted host read (the engine's singularity check): not for every
     * step. Open proposals become stale.
     *
     * @param damping the new \( \lambda \), positive and finite
     */
    public void setDamping(double damping) {
        checkDamping(damping);
        this.damping = damping;
        makeConstants();
        NDArray old = inverse;
        inverse = shiftedInverse(gram);
        old.close();
        version++;
    }

    /**
     * Returns \( \lambda \).
     *
     * @return the damping
     */
    public double getDamping() {
        return damping;
    }

    /**
     * Returns m, the window's capacity.
     *
     * @return the window size
     */
    public int getWindowSize() {
        return capacity;
    }

    /**
     * Returns d, the number of coordinates of a vector.
     *
     * @return the dimension
     */
    public long getDimension() {
        return dimension;
    }

    /**
     * Returns how many gradients have been added, up to m: one counted host read of the device
     * cursor, not for the hot path.
     *
     * @return the number of filled slots
     */
    public int getFilled() {
        return Math.toIntExact(HostReads.toLong(count));
    }

    /**
     * Returns T, the number of accepted adds within which every column of \( M \) is refined; 0 if
     * never.
     *
     * @return the refresh period
     */
    public int getRefreshPeriod() {
        return refreshPeriod;
    }

    /**
     * Returns the window's dtype.
     *
     * @return float32 or float64
     */
    public DataType getDataType() {
        return dataType;
    }

    /**
     * Returns the shapes of the segments.
     *
     * @return a copy of the segment shapes
     */
    public Shape[] getSegmentShapes() {
        return segmentShapes.clone();
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "SlidingWindowFisher[d="
                + dimension
                + ", m="
                + capacity
                + ", lambda="
                + damping
                + ", refreshPeriod="
                + refreshPeriod
                + ", segments="
                + Arrays.toString(segmentShapes)
                + "]";
    }

    /**
     * Returns every array the window holds between steps, for measuring its memory: its state (the
     * chunked window, K and M, the cursor and the count, as in {@link #state()}) and the constants
     * it keeps on the device (the zero padding of the segments' last chunks, the slot indices, the
     * refresh offsets, m, \( m\lambda \) and \( -1/\lambda \)). The window's own arrays, not
     * copies, not to be modified; unlike {@link #state()}, nothing is read from the device.
     *
     * @return the arrays
     */
    public NDList arrays() {
        NDList arrays = new NDList(windows);
        for (NDArray[] segments : padding) {
            for (NDArray zeros : segments) {
                if (zeros != null) {
                    arrays.add(zeros);
                }
            }
        }
        NDArray[] others = {
            gram,
            inverse,
            cursor,
            count,
            positions,
            refreshOffsets,
            capacityIndex,
            shift,
            negativeReciprocal
        };
        for (NDArray array : others) {
            if (array != null) {
                arrays.add(array);
            }
        }
        return arrays;
    }

    /**
     * The complete state of a window, for checkpoints: the window's chunked arrays, the Gram matrix
     * \( K = G G^\top \) and \( (K + m\lambda I)^{-1} \) (both m x m float64), the slot the next
     * gradient goes to, and how many slots are filled.
     *
     * @param windows the window in its chunked layout, one array per chunk group
     * @param gram K
     * @param inverse \( (K + m\lambda I)^{-1} \)
     * @param next the next slot
     * @param filled the number of filled slots
     */
    public record State(NDList windows, NDArray gram, NDArray inverse, int next, int filled) {}

    /**
     * Returns the window's state: the window's own arrays, valid until the next add and not to be
     * modified. Reads the device cursor to the host (one counted read): for checkpoints, not for
     * the hot path.
     *
     * @return the state
     */
    public State state() {
        long[] position;
        try (NDArray both = cursor.concat(count)) {
            position = HostReads.toLongs(both);
        }
        return new State(
                new NDList(windows),
                gram,
                inverse,
                Math.toIntExact(position[0]),
                Math.toIntExact(position[1]));
    }

    /**
     * Replaces the window's state with copies of another's, saved from a window of the same segment
     * shapes, capacity and dtype.
     *
     * <p><b>Cost</b>: one copy of dm + 2m<sup>2</sup> numbers. Open proposals become stale.
     *
     * @param state the state to copy. Not modified.
     * @throws IllegalArgumentException naming what does not match; the window is then unchanged
     */
    public void restore(State state) {
        if (state.windows().size() != windows.length) {
            throw new IllegalArgumentException(
                    "the saved window has "
                            + state.windows().size()
                            + " chunk groups, but this one has "
                            + windows.length
                            + " (other parameter shapes)");
        }
        for (int g = 0; g < windows.length; g++) {
            checkSame("window group " + g, state.windows().get(g), windows[g]);
        }
        checkSame("Gram matrix", state.gram(), gram);
        checkSame("inverse", state.inverse(), inverse);
        if (state.next() < 0
                || state.next() >= capacity
                || state.filled() < 0
                || state.filled() > capacity) {
            throw new IllegalArgumentException(
                    "the saved window's cursor (next "
                            + state.next()
                            + ", filled "
                            + state.filled()
                            + ") does not fit m = "
                            + capacity);
        }
        for (int g = 0; g < windows.length; g++) {
            NDArray old = windows[g];
            windows[g] = Workspace.copy(state.windows().get(g), manager);
            old.close();
        }
        NDArray oldGram = gram;
        NDArray oldInverse = inverse;
        gram = Workspace.copy(state.gram(), manager);
        inverse = Workspace.copy(state.inverse(), manager);
        oldGram.close();
        oldInverse.close();
        NDArray oldCursor = cursor;
        NDArray oldCount = count;
        cursor = manager.create(new long[] {state.next()});
        count = manager.create(new long[] {state.filled()});
        oldCursor.close();
        oldCount.close();
        version++;
    }

    private static void checkSame(String what, NDArray saved, NDArray current) {
        if (!saved.getShape().equals(current.getShape())
                || saved.getDataType() != current.getDataType()) {
            throw new IllegalArgumentException(
                    "the saved "
                            + what
                            + " is "
                            + saved.getDataType()
                            + " "
                            + saved.getShape()
                            + ", but this window's is "
                            + current.getDataType()
                            + " "
                            + current.getShape());
        }
    }

    /** Frees the window and its m x m matrices. */
    @Override
    public void close() {
        manager.close();
    }
}
