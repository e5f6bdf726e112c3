package io.github.so4j.curvature.mfac;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Workspace;
import java.util.Arrays;

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
 * in chunks of about {@value #CHUNK} coordinates, shape (k, m, c): both products with it are then
 * batched matrix products over the k chunks, which run at close to the memory bandwidth of a plain
 * reduction, where a single m x d matrix-vector product runs at about half of it on a CPU. The last
 * chunk is padded with zeros. The Gram matrix \( K = G G^\top \) and \( M = (m\lambda I + K)^{-1}
 * \) are kept in float64 (m x m), because dot products of float32 gradients lose digits that a
 * small \( \lambda \) would amplify. Adding a gradient replaces the oldest one, updates one row and
 * column of \( K \) from the new gradient's dot products with the window, and recomputes \( M \).
 *
 * <p>A vector may be one array (of any shape with d elements) or an {@link NDList} of segments,
 * such as one array per model parameter: the window stores the segments side by side and sums their
 * dot products in sorted order, so the result does not depend on the order of the segments'
 * contributions. The paper's global window over all parameters is the segmented case.
 *
 * <p><b>Cost</b>: a product reads the window twice, 2dm + m<sup>2</sup> flops; an add reads it
 * once, dm flops, plus about 2m<sup>3</sup> flops on m x m float64 data (the inverse); {@link
 * #addAndInverseTimes} does both and reads the window twice in all. Memory: dm in the gradients'
 * dtype (plus at most one chunk of padding per segment) and 2m<sup>2</sup> float64. A rejected
 * gradient (one whose dot products or resulting inverse are not finite) leaves the state unchanged;
 * one host synchronisation per add decides it.
 *
 * @see <a href="https://arxiv.org/abs/2107.03356">paper</a>
 */
public final class SlidingWindowFisher implements AutoCloseable {

    private final NDManager manager;
    private final Shape[] segmentShapes;
    private final long dimension;
    private final int capacity;
    private final DataType dataType;
    private final ChunkedLayout layout;
    private final NDArray[] windows;
    private final NDArray[][] padding;
    private double damping;
    private NDArray gram;
    private NDArray inverse;
    private int next;
    private int filled;

    /**
     * Creates an empty float32 window over flat vectors of dimension d.
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
     * Creates an empty window over segmented vectors.
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
        this.manager = manager.newSubManager();
        this.segmentShapes = segmentShapes.clone();
        this.dimension = total;
        this.capacity = windowSize;
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
        this.gram = this.manager.zeros(new Shape(windowSize, windowSize), DataType.FLOAT64);
        this.inverse = shiftedInverse(gram, this.manager);
    }

    /**
     * Adds a gradient, replacing the oldest one once the window is full.
     *
     * @param gradient d elements in one array, on the window's device, in its dtype. Not modified.
     * @return whether it was added; {@code false} if it was rejected as non-finite (state
     *     unchanged)
     */
    public boolean add(NDArray gradient) {
        return add(new NDList(gradient));
    }

    /**
     * Adds a segmented gradient, replacing the oldest one once the window is full.
     *
     * @param gradient one array per segment, shaped as declared. Not modified.
     * @return whether it was added; {@code false} if it was rejected as non-finite (state
     *     unchanged)
     */
    public boolean add(NDList gradient) {
        return update(gradient, false) != null;
    }

    /**
     * Computes \( F^{-1} x \).
     *
     * @param x d elements in one array. Not modified.
     * @return \( F^{-1} x \), shaped as {@code x}, a new array owned by {@code x}'s manager
     */
    public NDArray inverseTimes(NDArray x) {
        return inverseTimes(new NDList(x)).head();
    }

    /**
     * Computes \( F^{-1} x \) for a segmented vector.
     *
     * @param x one array per segment. Not modified.
     * @return \( F^{-1} x \), segment by segment, new arrays owned by the first segment's manager
     */
    public NDList inverseTimes(NDList x) {
        checkVector(x, "x");
        NDManager caller = x.head().getManager();
        try (Workspace ws = new Workspace(manager, x, new NDList(windows), gram, inverse)) {
            NDArray[] rows = rows(flatten(x));
            NDArray dots = sortedSum(partialDots(rows, false));
            NDArray coefficients = inverse.matMul(dots);
            return ws.keep(combine(rows, coefficients), caller);
        }
    }

    /**
     * Adds a gradient, then computes \( F^{-1} g \) with the new window, reusing the gradient's dot
     * products with the window (the optimizer's hot path).
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
     * Adds a segmented gradient, then computes \( F^{-1} g \) with the new window.
     *
     * @param gradient one array per segment. Not modified.
     * @return \( F^{-1} g \), segment by segment, new arrays owned by the first segment's manager;
     *     {@code null} if the gradient was rejected as non-finite (state unchanged)
     */
    public NDList addAndInverseTimes(NDList gradient) {
        return update(gradient, true);
    }

    private NDList update(NDList gradient, boolean multiply) {
        checkVector(gradient, "gradient");
        NDManager caller = gradient.head().getManager();
        int slot = next;
        try (Workspace ws = new Workspace(manager, gradient, new NDList(windows), gram, inverse)) {
            NDArray[] rows = rows(flatten(gradient));
            // [G_old g ; g.g] summed over chunks; row `slot` of G_new g is g.g.
            NDArray withSelf = sortedSum(partialDots(rows, true));
            NDArray row = withSelf.get(new NDIndex("0:{}", capacity)).duplicate();
            row.set(new NDIndex(slot), withSelf.get(new NDIndex(capacity)));
            NDArray newGram = gram.duplicate();
            newGram.set(new NDIndex(slot), row);
            newGram.set(new NDIndex(":, {}", slot), row);
            NDArray newInverse = shiftedInverse(newGram, ws.manager());
            NDArray coefficients = newInverse.matMul(row);
            if (!isFinite(coefficients)) {
                return null;
            }
            for (int g = 0; g < windows.length; g++) {
                windows[g].set(new NDIndex(":, {}, :", slot), rows[g]);
            }
            ws.closeAfterwards(gram);
            ws.closeAfterwards(inverse);
            gram = ws.keep(newGram, manager);
            inverse = ws.keep(newInverse, manager);
            next = (slot + 1) % capacity;
            filled = Math.min(filled + 1, capacity);
            if (!multiply) {
                return new NDList();
            }
            return ws.keep(combine(rows, coefficients), caller);
        }
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

    /** \( (x - G^\top c) / \lambda \), cut back into segments. */
    private NDList combine(NDArray[] rows, NDArray coefficients) {
        NDArray c = coefficients.toType(dataType, false).reshape(1, 1, capacity);
        NDArray[] segments = new NDArray[segmentShapes.length];
        for (int g = 0; g < windows.length; g++) {
            // (1, 1, m) x (k, m, c) -> (k, 1, c)
            NDArray correction = c.matMul(windows[g]).reshape(rows[g].getShape());
            // (x - G^T c) / lambda, in place in the product's fresh buffer
            layout.split(g, correction.subi(rows[g]).muli(-1.0 / damping), segments);
        }
        return new NDList(segments);
    }

    /** \( (K + m \lambda I)^{-1} \) in float64, owned by {@code owner}. */
    private NDArray shiftedInverse(NDArray gramMatrix, NDManager owner) {
        try (Workspace ws = new Workspace(manager, gramMatrix)) {
            NDArray shift =
                    ws.manager()
                            .eye(capacity, capacity, 0, DataType.FLOAT64)
                            .mul(capacity * damping);
            return ws.keep(gramMatrix.add(shift).inverse(), owner);
        }
    }

    /**
     * Whether all of \( y = M r \) is finite, which is false whenever r or M has a non-finite entry
     * (M is the inverse of a positive definite matrix: no zero column can hide one). One reduction
     * and one host synchronisation: 0 * y is NaN iff y is not finite.
     */
    private static boolean isFinite(NDArray coefficients) {
        return !Double.isNaN(coefficients.mul(0).sum().getDouble());
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
     * Changes \( \lambda \) (for damping schedules); recomputes \( M \), O(m<sup>3</sup>).
     *
     * @param damping the new \( \lambda \), positive and finite
     */
    public void setDamping(double damping) {
        checkDamping(damping);
        this.damping = damping;
        NDArray old = inverse;
        inverse = shiftedInverse(gram, manager);
        old.close();
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
     * Returns how many gradients have been added, up to m.
     *
     * @return the number of filled slots
     */
    public int getFilled() {
        return filled;
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
                + ", filled="
                + filled
                + ", segments="
                + Arrays.toString(segmentShapes)
                + "]";
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
     * modified.
     *
     * @return the state
     */
    public State state() {
        return new State(new NDList(windows), gram, inverse, next, filled);
    }

    /**
     * Replaces the window's state with copies of another's, saved from a window of the same segment
     * shapes, capacity and dtype.
     *
     * <p><b>Cost</b>: one copy of dm + 2m<sup>2</sup> numbers.
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
        next = state.next();
        filled = state.filled();
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
