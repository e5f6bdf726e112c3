package io.github.so4j.curvature.shampoo;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.shampoo.ShampooPreconditioner.Increments;
import io.github.so4j.curvature.shampoo.ShampooPreconditioner.Statistics;
import java.util.function.BinaryOperator;

/**
 * The Kronecker statistics of a tensor's gradients, block by block: Shampoo's L and R, which SOAP
 * shares.
 *
 * <p>For each block's gradient \( G \) (r x c):
 *
 * <p>\( L \leftarrow \beta L + w\, G G^\top \), \( R \leftarrow \beta R + w\, G^\top G \)
 *
 * <p>with \( w = 1 \) for \( \beta = 1 \) (running sums, as in AdaGrad) and \( w = 1 - \beta \)
 * otherwise (exponential averages; SOAP's \( L \leftarrow \operatorname{lerp}(L, G G^\top, 1 -
 * \beta) \)). Either side can be switched off (SOAP leaves a side longer than its bound unrotated
 * and keeps no statistics for it); the number of updates, which Shampoo's bias correction needs,
 * can be counted on the device.
 *
 * <p>Changes are staged: {@link #next} computes the candidate statistics without changing anything,
 * {@link #commit} installs them, choosing array by array between candidate and current value (a
 * device-side selection by the step's decision, for an optimizer that decides on the device). The
 * candidates and current values are {@link ShampooPreconditioner.Statistics}: the left and right
 * statistics (null for a side that is off) and the update count (null when not counted). Nothing
 * here reads from the device.
 *
 * <p><b>Cost</b> per update, for blocks of r x c: \( b\, r c (r + c) \) multiply-adds for the two
 * products of b blocks, and two passes over the statistics; memory \( b (r^2 + c^2) \).
 */
public final class KroneckerStatistics implements AutoCloseable {

    private final NDManager manager;
    private final String name;
    private final double beta;
    private final Shape blockShape;
    private final DataType dataType;
    private NDArray left;
    private NDArray right;
    private NDArray updates;

    /**
     * Creates zero statistics.
     *
     * @param manager the manager whose device holds the statistics; this object owns a sub-manager
     * @param name the name of the tensor, for messages
     * @param blockShape (blocks, r, c): the shape of the gradients' blocks
     * @param dataType the dtype of the gradients and the statistics
     * @param beta \( \beta \) in [0, 1]: 1 for running sums, below 1 for exponential averages
     * @param leftSide whether to keep L
     * @param rightSide whether to keep R
     * @param counted whether to count the updates on the device
     * @throws IllegalArgumentException naming the argument and its value if one is invalid
     */
    public KroneckerStatistics(
            NDManager manager,
            String name,
            Shape blockShape,
            DataType dataType,
            double beta,
            boolean leftSide,
            boolean rightSide,
            boolean counted) {
        if (!(beta >= 0 && beta <= 1)) {
            throw new IllegalArgumentException("beta must be in [0, 1], but was " + beta);
        }
        if (blockShape.dimension() != 3) {
            throw new IllegalArgumentException(
                    "blockShape must be (blocks, rows, columns), but was " + blockShape);
        }
        this.manager = manager.newSubManager();
        this.name = name;
        this.beta = beta;
        this.blockShape = blockShape;
        this.dataType = dataType;
        long blocks = blockShape.get(0);
        long r = blockShape.get(1);
        long c = blockShape.get(2);
        this.left = leftSide ? this.manager.zeros(new Shape(blocks, r, r), dataType) : null;
        this.right = rightSide ? this.manager.zeros(new Shape(blocks, c, c), dataType) : null;
        this.updates = counted ? this.manager.zeros(new Shape(), DataType.INT64) : null;
    }

    /**
     * Computes the statistics of one gradient without adding them.
     *
     * @param blocks the gradient's blocks, shape (blocks, r, c). Not modified.
     * @return \( G G^\top \) and \( G^\top G \) per block (null for a side that is off), in {@code
     *     blocks}' manager
     */
    public Increments increments(NDArray blocks) {
        if (!blocks.getShape().equals(blockShape)) {
            throw new IllegalArgumentException(
                    "blocks must have shape " + blockShape + ", but had " + blocks.getShape());
        }
        if (blocks.getDataType() != dataType) {
            throw new IllegalArgumentException(
                    "blocks must be " + dataType + ", but were " + blocks.getDataType());
        }
        NDArray transposed = blocks.transpose(0, 2, 1);
        return new Increments(
                left == null ? null : blocks.matMul(transposed),
                right == null ? null : transposed.matMul(blocks));
    }

    /**
     * Computes the candidate statistics after one more gradient, without changing anything: \(
     * \beta L + w\, \Delta L \), the same for R, and the update count plus one.
     *
     * @param increments from {@link #increments}. Not modified.
     * @return new arrays in the manager of the increments
     */
    public Statistics next(Increments increments) {
        NDArray any = increments.left() != null ? increments.left() : increments.right();
        NDManager caller = any.getManager();
        try (Workspace ws = new Workspace(caller, left, right, updates)) {
            return new Statistics(
                    keep(ws, average(left, increments.left()), caller),
                    keep(ws, average(right, increments.right()), caller),
                    updates == null ? null : ws.keep(updates.add(1), caller));
        }
    }

    private NDArray average(NDArray current, NDArray increment) {
        if (current == null) {
            return null;
        }
        if (beta == 1) {
            return current.add(increment);
        }
        return current.mul(beta).addi(increment.mul(1 - beta));
    }

    private static NDArray keep(Workspace ws, NDArray array, NDManager owner) {
        return array == null ? null : ws.keep(array, owner);
    }

    /**
     * Installs statistics: for each array, whatever {@code keep} chooses between the candidate and
     * the current value (the candidate itself, or a device-side selection by a step's decision).
     *
     * @param candidate from {@link #next}. Not modified unless {@code keep} returns its arrays,
     *     which then move to these statistics.
     * @param keep (candidate, current) to the array to keep (the current one itself, a candidate,
     *     or a new array); must not read from the device
     */
    public void commit(Statistics candidate, BinaryOperator<NDArray> keep) {
        NDArray[] old = {left, right, updates};
        left = chosen(keep, candidate.left(), left);
        right = chosen(keep, candidate.right(), right);
        updates = chosen(keep, candidate.updates(), updates);
        for (NDArray array : old) {
            if (array != null && array != left && array != right && array != updates) {
                array.close();
            }
        }
    }

    private NDArray chosen(BinaryOperator<NDArray> keep, NDArray candidate, NDArray current) {
        if (current == null) {
            return null;
        }
        NDArray array = keep.apply(candidate, current);
        array.attach(manager);
        return array;
    }

    /**
     * Returns the current statistics: the live arrays, valid until the next commit. They must not
     * be modified.
     *
     * @return the statistics (null entries for a side that is off or an uncounted update count)
     */
    public Statistics current() {
        return new Statistics(left, right, updates);
    }

    /**
     * Checks that saved statistics fit these (for a restore that must change nothing unless every
     * part of the state fits).
     *
     * @param saved statistics of the same layout, sides and dtype. Not modified.
     * @throws IllegalArgumentException naming the first array whose presence, shape or dtype
     *     differs
     */
    public void checkRestorable(Statistics saved) {
        checkSaved("left statistics", name, saved.left(), left);
        checkSaved("right statistics", name, saved.right(), right);
        checkSaved("statistics update count", name, saved.updates(), updates);
    }

    /**
     * Replaces the statistics with copies of saved ones.
     *
     * @param saved statistics that pass {@link #checkRestorable}. Not modified.
     * @throws IllegalArgumentException as {@link #checkRestorable} does (nothing changes then)
     */
    public void restore(Statistics saved) {
        checkRestorable(saved);
        commit(saved, (candidate, current) -> Workspace.copy(candidate, manager));
    }

    /**
     * Checks that a saved array matches the current one in presence, shape and dtype.
     *
     * @param what what the array is, for the message (e.g. "left statistics")
     * @param name the name of the tensor it belongs to
     * @param saved the saved array, or null. Not modified.
     * @param current the current array, or null. Not modified.
     * @throws IllegalArgumentException naming the array, the tensor and both shapes if they differ
     */
    static void checkSaved(String what, String name, NDArray saved, NDArray current) {
        if (saved == null && current == null) {
            return;
        }
        if (saved == null || current == null) {
            throw new IllegalArgumentException(
                    "the saved "
                            + what
                            + " of "
                            + name
                            + (saved == null ? " are missing" : " are present")
                            + ", but this preconditioner "
                            + (current == null ? "keeps none" : "keeps them"));
        }
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
     * Returns the shape of the gradients' blocks.
     *
     * @return (blocks, r, c)
     */
    public Shape blockShape() {
        return blockShape;
    }

    /**
     * Returns the dtype of the statistics.
     *
     * @return the dtype
     */
    public DataType dataType() {
        return dataType;
    }

    /**
     * Returns \( \beta \).
     *
     * @return the averaging factor (1 for running sums)
     */
    public double beta() {
        return beta;
    }

    /** Frees the statistics. */
    @Override
    public void close() {
        manager.close();
    }
}
