package io.github.so4j.curvature.mfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.linalg.BatchedLdl;
import java.util.ArrayList;
import java.util.List;

/**
 * The static M-FAC algorithm in blockwise form: the inverse of a block-diagonal damped empirical
 * Fisher, built once from m gradients, with O(m) single-entry queries (for Optimal Brain Surgeon
 * pruning).
 *
 * <p>The d coordinates are split into contiguous blocks of size B (the last may be shorter). For
 * block b, with \( G_b \) the m x B columns of the gradient matrix that fall in it:
 *
 * <p>\( F_b = \lambda I + \frac{1}{m} G_b^\top G_b \), and \( F^{-1} =
 * \operatorname{diag}(F_1^{-1}, F_2^{-1}, \dots) \).
 *
 * <p>Two exact representations, chosen per block size, both precomputed batched over all blocks of
 * one size, with the m x m or B x B algebra in float64:
 *
 * <ul>
 *   <li>B &gt; m (dual): with \( m\lambda I + G_b G_b^\top = L D L^\top \) (LDL<sup>T</sup>) and \(
 *       W_b = L^{-1} G_b \) (m x B), Woodbury gives \( F_b^{-1} = \frac{1}{\lambda} (I - W_b^\top
 *       D^{-1} W_b) \), so \( [F^{-1}]_{ij} = \frac{1}{\lambda} (\delta_{ij} - \sum_k W_{ki} W_{kj}
 *       / D_k) \) costs O(m). Precompute O(B m<sup>2</sup> + m<sup>3</sup>) per block; memory m per
 *       coordinate.
 *   <li>B &le; m (primal): \( F_b^{-1} \) itself, B x B, from a batched inverse. Precompute O(m
 *       B<sup>2</sup> + B<sup>3</sup>) per block; an entry is a lookup; memory B &le; m per
 *       coordinate.
 * </ul>
 *
 * <p><b>Cost</b> in all: precompute O(d m<sup>2</sup>); {@link #inverseTimes} O(dm); {@link
 * #inverseEntry} O(m); {@link #inverseDiagonal} O(dm); memory at most dm in the gradients' dtype. A
 * block of size B = d is the paper's full (unblocked) static algorithm.
 *
 * @see <a href="https://arxiv.org/abs/2107.03356">paper</a>
 */
public final class BlockFisher implements AutoCloseable {

    private final NDManager manager;
    private final long dimension;
    private final int gradients;
    private final int blockSize;
    private final double damping;
    private final DataType dataType;
    private final List<Group> groups = new ArrayList<>();

    /**
     * Precomputes the blockwise inverse from a gradient matrix.
     *
     * @param manager the manager whose device holds the result; this object owns a sub-manager
     * @param gradients the m x d gradient matrix, float32 or float64. Not modified.
     * @param blockSize B, at least 1 (values above d mean one block of size d)
     * @param damping \( \lambda \), positive and finite
     * @throws IllegalArgumentException naming the parameter and value if one is invalid
     */
    @SuppressWarnings("try") // the workspace only collects the temporaries of the body
    public BlockFisher(NDManager manager, NDArray gradients, int blockSize, double damping) {
        Shape shape = gradients.getShape();
        if (shape.dimension() != 2 || shape.get(0) < 1 || shape.get(1) < 1) {
            throw new IllegalArgumentException(
                    "gradients must be an m x d matrix with m, d >= 1, but had shape " + shape);
        }
        if (blockSize < 1) {
            throw new IllegalArgumentException(
                    "blockSize must be at least 1, but was " + blockSize);
        }
        if (!(damping > 0) || Double.isInfinite(damping)) {
            throw new IllegalArgumentException(
                    "damping must be positive and finite, but was " + damping);
        }
        DataType type = gradients.getDataType();
        if (type != DataType.FLOAT32 && type != DataType.FLOAT64) {
            throw new IllegalArgumentException(
                    "gradients must be float32 or float64, but were " + type);
        }
        this.manager = manager.newSubManager(gradients.getDevice());
        this.gradients = Math.toIntExact(shape.get(0));
        this.dimension = shape.get(1);
        this.blockSize = (int) Math.min(blockSize, dimension);
        this.damping = damping;
        this.dataType = type;
        long fullBlocks = dimension / this.blockSize;
        long tail = dimension - fullBlocks * this.blockSize;
        try (Workspace ws = new Workspace(this.manager, gradients)) {
            if (fullBlocks > 0) {
                NDArray part = gradients.get(new NDIndex(":, 0:{}", fullBlocks * this.blockSize));
                groups.add(build(part, 0, fullBlocks, this.blockSize));
            }
            if (tail > 0) {
                NDArray part = gradients.get(new NDIndex(":, {}:", fullBlocks * this.blockSize));
                groups.add(build(part, fullBlocks * this.blockSize, 1, tail));
            }
        }
    }

    /** Blocks of one size, batched: rows of (count, m, size) or (count, size, size). */
    private final class Group {
        final long start;
        final long count;
        final long size;
        final boolean dual;

        /** Dual: W, shape (count, m, size). Primal: F_b^{-1}, shape (count, size, size). */
        final NDArray factor;

        /** Dual: D, shape (count, m), float64. Primal: null. */
        final NDArray pivots;

        Group(long start, long count, long size, boolean dual, NDArray factor, NDArray pivots) {
            this.start = start;
            this.count = count;
            this.size = size;
            this.dual = dual;
            this.factor = factor;
            this.pivots = pivots;
        }

        long end() {
            return start + count * size;
        }
    }

    private Group build(NDArray part, long start, long count, long size) {
        try (Workspace ws = new Workspace(manager, part)) {
            // (m, count * size) -> (count, m, size)
            NDArray blocks = part.reshape(gradients, count, size).transpose(1, 0, 2);
            NDArray blocks64 = blocks.toType(DataType.FLOAT64, false);
            if (size <= gradients) {
                NDArray gram = blocks64.transpose(0, 2, 1).matMul(blocks64).div(gradients);
                NDArray eye = ws.manager().eye((int) size, (int) size, 0, DataType.FLOAT64);
                NDArray inverse = HostReads.inverse(gram.add(eye.mul(damping).expandDims(0)));
                NDArray factor = ws.keep(inverse.toType(dataType, false), manager);
                return new Group(start, count, size, false, factor, null);
            }
            NDArray gram = blocks64.matMul(blocks64.transpose(0, 2, 1));
            NDArray eye = ws.manager().eye(gradients, gradients, 0, DataType.FLOAT64);
            NDArray shifted = gram.add(eye.mul(gradients * damping).expandDims(0));
            BatchedLdl.Factors ldl = BatchedLdl.factor(shifted, ws.manager());
            NDArray lowerInverse = HostReads.inverse(ldl.lower());
            NDArray w = lowerInverse.matMul(blocks64).toType(dataType, false);
            return new Group(
                    start,
                    count,
                    size,
                    true,
                    ws.keep(w, manager),
                    ws.keep(ldl.diagonal(), manager));
        }
    }

    /**
     * Computes \( F^{-1} x \).
     *
     * @param x d elements. Not modified.
     * @return \( F^{-1} x \), shaped as {@code x}, a new array owned by {@code x}'s manager
     */
    public NDArray inverseTimes(NDArray x) {
        if (x.size() != dimension) {
            throw new IllegalArgumentException(
                    "x must have " + dimension + " elements, but had shape " + x.getShape());
        }
        NDManager caller = x.getManager();
        try (Workspace ws = new Workspace(manager, x, groupArrays())) {
            NDArray flat = x.reshape(-1).toType(dataType, false);
            NDList pieces = new NDList();
            for (Group g : groups) {
                NDArray xb =
                        flat.get(new NDIndex("{}:{}", g.start, g.end()))
                                .reshape(g.count, g.size, 1);
                NDArray yb;
                if (g.dual) {
                    NDArray t = g.factor.matMul(xb).toType(DataType.FLOAT64, false);
                    NDArray scaled = t.div(g.pivots.expandDims(2)).toType(dataType, false);
                    NDArray correction = g.factor.transpose(0, 2, 1).matMul(scaled);
                    yb = xb.sub(correction).div(damping);
                } else {
                    yb = g.factor.matMul(xb);
                }
                pieces.add(yb.reshape(-1));
            }
            NDArray result = pieces.size() == 1 ? pieces.head() : concat(pieces);
            return ws.keep(result.reshape(x.getShape()), caller);
        }
    }

    /**
     * Returns one entry of \( F^{-1} \) in O(m) (dual blocks) or O(1) (primal blocks).
     *
     * @param i a row, in [0, d)
     * @param j a column, in [0, d)
     * @return \( [F^{-1}]_{ij} \); 0 when i and j are in different blocks
     */
    @SuppressWarnings("try") // the workspace only collects the temporaries of the body
    public double inverseEntry(long i, long j) {
        checkIndex(i, "i");
        checkIndex(j, "j");
        long blockI = i / blockSize;
        if (blockI != j / blockSize) {
            return 0;
        }
        Group g = groupOf(i);
        long b = (i - g.start) / g.size;
        long li = (i - g.start) % g.size;
        long lj = (j - g.start) % g.size;
        try (Workspace ws = new Workspace(manager, groupArrays())) {
            if (!g.dual) {
                return HostReads.toDouble(g.factor.get(new NDIndex("{}, {}, {}", b, li, lj)));
            }
            NDArray wi =
                    g.factor.get(new NDIndex("{}, :, {}", b, li)).toType(DataType.FLOAT64, false);
            NDArray wj =
                    g.factor.get(new NDIndex("{}, :, {}", b, lj)).toType(DataType.FLOAT64, false);
            NDArray d = g.pivots.get(new NDIndex("{}, :", b));
            double sum = HostReads.toDouble(wi.mul(wj).div(d).sum());
            return ((i == j ? 1.0 : 0.0) - sum) / damping;
        }
    }

    /**
     * Returns the diagonal of \( F^{-1} \) in O(dm).
     *
     * @param owner the manager that will own the result
     * @return d elements in the gradients' dtype
     */
    public NDArray inverseDiagonal(NDManager owner) {
        try (Workspace ws = new Workspace(manager, groupArrays())) {
            NDList pieces = new NDList();
            for (Group g : groups) {
                NDArray diagonal;
                if (g.dual) {
                    NDArray w = g.factor.toType(DataType.FLOAT64, false);
                    NDArray sum = w.square().div(g.pivots.expandDims(2)).sum(new int[] {1});
                    diagonal = sum.neg().add(1).div(damping).toType(dataType, false);
                } else {
                    diagonal = diagonalOf(g.factor, g.size);
                }
                pieces.add(diagonal.reshape(-1));
            }
            NDArray result = pieces.size() == 1 ? pieces.head() : concat(pieces);
            return ws.keep(result, owner);
        }
    }

    private static NDArray diagonalOf(NDArray batch, long size) {
        NDArray eye = batch.getManager().eye((int) size, (int) size, 0, batch.getDataType());
        return batch.mul(eye.expandDims(0)).sum(new int[] {2});
    }

    private static NDArray concat(NDList pieces) {
        NDArray result = pieces.head();
        for (int k = 1; k < pieces.size(); k++) {
            result = result.concat(pieces.get(k));
        }
        return result;
    }

    private NDList groupArrays() {
        NDList arrays = new NDList();
        for (Group g : groups) {
            arrays.add(g.factor);
            if (g.pivots != null) {
                arrays.add(g.pivots);
            }
        }
        return arrays;
    }

    private Group groupOf(long i) {
        for (Group g : groups) {
            if (i < g.end()) {
                return g;
            }
        }
        throw new AssertionError("index " + i + " beyond the last block");
    }

    private void checkIndex(long index, String name) {
        if (index < 0 || index >= dimension) {
            throw new IllegalArgumentException(
                    name + " must be in [0, " + dimension + "), but was " + index);
        }
    }

    /**
     * Returns d.
     *
     * @return the number of coordinates
     */
    public long getDimension() {
        return dimension;
    }

    /**
     * Returns m.
     *
     * @return the number of gradients
     */
    public int getGradientCount() {
        return gradients;
    }

    /**
     * Returns the block size B actually used (at most d).
     *
     * @return the block size
     */
    public int getBlockSize() {
        return blockSize;
    }

    /**
     * Returns \( \lambda \).
     *
     * @return the damping
     */
    public double getDamping() {
        return damping;
    }

    /** Frees the precomputed factors. */
    @Override
    public void close() {
        manager.close();
    }
}
