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
 * <p>The window is a ring buffer on the device of the gradients, in their dtype; the Gram matrix \(
 * K = G G^\top \) and \( M = (m\lambda I + K)^{-1} \) are kept in float64 (m x m), because dot
 * products of float32 gradients lose digits that a small \( \lambda \) would amplify. Adding a
 * gradient replaces the oldest one, updates one row and column of \( K \) from the new gradient's
 * dot products with the window, and recomputes \( M \).
 *
 * <p>A vector may be one array (of any shape with d elements) or an {@link NDList} of segments,
 * such as one array per model parameter: the window stores the segments side by side and sums their
 * dot products in sorted order, so the result does not depend on the order of the segments'
 * contributions. The paper's global window over all parameters is the segmented case.
 *
 * <p><b>Cost</b>: a product reads the window twice, 2dm + m<sup>2</sup> flops; an add reads it
 * once, dm flops, plus about 2m<sup>3</sup> flops on m x m float64 data (the inverse); {@link
 * #addAndInverseTimes} does both and reads the window twice in all. Memory: dm in the gradients'
 * dtype plus 2m<sup>2</sup> float64. A rejected gradient (one whose dot products or resulting
 * inverse are not finite) leaves the state unchanged.
 *
 * @see <a href="https://arxiv.org/abs/2107.03356">paper</a>
 */
public final class SlidingWindowFisher implements AutoCloseable {

    private final NDManager manager;
    private final Shape[] segmentShapes;
    private final long dimension;
    private final int capacity;
    private final DataType dataType;
    private final NDArray[] windows;
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
        this.windows = new NDArray[segmentShapes.length];
        for (int p = 0; p < segmentShapes.length; p++) {
            windows[p] =
                    this.manager.zeros(new Shape(windowSize, segmentShapes[p].size()), dataType);
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
            NDList flat = flatten(x);
            NDArray dots = sortedSum(partialDots(flat, false));
            NDArray coefficients = inverse.matMul(dots);
            return ws.keep(combine(flat, coefficients, x), caller);
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
            NDList flat = flatten(gradient);
            // [G_old g ; g.g] summed over segments; row `slot` of G_new g is g.g.
            NDArray withSelf = sortedSum(partialDots(flat, true));
            NDArray row = withSelf.get(new NDIndex("0:{}", capacity)).duplicate();
            row.set(new NDIndex(slot), withSelf.get(new NDIndex(capacity)));
            NDArray newGram = gram.duplicate();
            newGram.set(new NDIndex(slot), row);
            newGram.set(new NDIndex(":, {}", slot), row);
            NDArray newInverse = shiftedInverse(newGram, ws.manager());
            NDArray coefficients = newInverse.matMul(row);
            if (!allFinite(row, newInverse, coefficients)) {
                return null;
            }
            for (int p = 0; p < windows.length; p++) {
                windows[p].set(new NDIndex(slot), flat.get(p));
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
            return ws.keep(combine(flat, coefficients, gradient), caller);
        }
    }

    /** Per segment: the window times the segment, optionally followed by the segment's norm². */
    private NDArray[] partialDots(NDList flat, boolean withSelf) {
        NDArray[] partials = new NDArray[windows.length];
        for (int p = 0; p < windows.length; p++) {
            NDArray segment = flat.get(p);
            NDArray dots = windows[p].matMul(segment).toType(DataType.FLOAT64, false);
            if (withSelf) {
                NDArray self = segment.matMul(segment).toType(DataType.FLOAT64, false);
                dots = dots.concat(self.reshape(1));
            }
            partials[p] = dots;
        }
        return partials;
    }

    /**
     * Sums per-segment contributions in sorted order, so that the sum is the same whatever the
     * order of the segments.
     */
    private static NDArray sortedSum(NDArray[] partials) {
        if (partials.length == 1) {
            return partials[0];
        }
        return NDArrays.stack(new NDList(partials)).sort(0).sum(new int[] {0});
    }

    /** \( (x - G^\top c) / \lambda \), segment by segment, reshaped like {@code shapes}. */
    private NDList combine(NDList flat, NDArray coefficients, NDList shapes) {
        NDArray c = coefficients.toType(dataType, false);
        NDList result = new NDList(windows.length);
        for (int p = 0; p < windows.length; p++) {
            NDArray correction = c.matMul(windows[p]);
            result.add(
                    flat.get(p)
                            .sub(correction)
                            .mul(1.0 / damping)
                            .reshape(shapes.get(p).getShape()));
        }
        return result;
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

    private static boolean allFinite(NDArray... arrays) {
        NDArray bad = null;
        for (NDArray a : arrays) {
            NDArray flag = a.isNaN().logicalOr(a.isInfinite()).any();
            bad = bad == null ? flag : bad.logicalOr(flag);
        }
        return bad != null && !bad.getBoolean();
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

    /** Frees the window and its m x m matrices. */
    @Override
    public void close() {
        manager.close();
    }
}
