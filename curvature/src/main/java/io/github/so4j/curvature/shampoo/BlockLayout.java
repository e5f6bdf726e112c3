package io.github.so4j.curvature.shampoo;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;

/**
 * How a parameter tensor is seen by Shampoo: as a matrix, cut into a grid of equal blocks of at
 * most {@code maxPreconditionerDim} rows and columns, each block with its own Kronecker factors.
 *
 * <p>The matrix view: dimensions of size 1 are dropped; a tensor of order 0 or 1 is not
 * preconditioned (it gets the grafting rule only, see {@link #preconditionable}); a tensor of order
 * 2 is its own matrix; a tensor of order k &gt; 2 becomes \( d_0 \times (d_1 \cdots d_{k-1}) \), so
 * that a convolution kernel (out, in, kh, kw) is an out x (in kh kw) matrix. No factor is ever
 * larger than the bound {@code maxPreconditionerDim}, merged sides included: a side of length d
 * larger than the bound is split into \( k = \lceil d / B \rceil \) blocks of \( \lceil d / k
 * \rceil \) (equal sizes, so that all blocks of a tensor batch together; this pads at most k - 1
 * zero rows or columns, where fixed-size blocking would leave one short block of another size).
 *
 * <p>Blocks are numbered row-major over the grid: block (i, j) of a \( k_r \times k_c \) grid is
 * number \( i k_c + j \). Zero padding does not change any block's statistics on the real rows and
 * columns: the padded parts of \( G G^\top \) and \( G^\top G \) are exactly zero, their inverse
 * roots are block diagonal, and the padded part of every direction is exactly zero.
 *
 * <p><b>Cost</b>: {@link #toBlocks} and {@link #fromBlocks} copy the tensor once (no copy for a
 * single unpadded block).
 */
public final class BlockLayout {

    private final Shape shape;
    private final long rows;
    private final long columns;
    private final long rowBlocks;
    private final long columnBlocks;
    private final long rowBlockSize;
    private final long columnBlockSize;

    private BlockLayout(Shape shape, long rows, long columns, int maxPreconditionerDim) {
        this.shape = shape;
        this.rows = rows;
        this.columns = columns;
        this.rowBlocks = ceilDiv(rows, maxPreconditionerDim);
        this.columnBlocks = ceilDiv(columns, maxPreconditionerDim);
        this.rowBlockSize = ceilDiv(rows, rowBlocks);
        this.columnBlockSize = ceilDiv(columns, columnBlocks);
    }

    /**
     * Returns whether Shampoo preconditions a tensor of this shape (order at least 2 once
     * dimensions of size 1 are dropped).
     *
     * @param shape the tensor's shape
     * @return whether it has a matrix view
     */
    public static boolean preconditionable(Shape shape) {
        return squeezed(shape).length >= 2;
    }

    /**
     * Returns the layout of a tensor.
     *
     * @param shape the tensor's shape; must be {@linkplain #preconditionable preconditionable}
     * @param maxPreconditionerDim B, the largest factor size, at least 1
     * @return the layout
     * @throws IllegalArgumentException naming the argument and its value if one is invalid
     */
    public static BlockLayout of(Shape shape, int maxPreconditionerDim) {
        if (maxPreconditionerDim < 1) {
            throw new IllegalArgumentException(
                    "maxPreconditionerDim must be at least 1, but was " + maxPreconditionerDim);
        }
        long[] dims = squeezed(shape);
        if (dims.length < 2) {
            throw new IllegalArgumentException(
                    "a tensor of shape " + shape + " has no matrix view (order < 2)");
        }
        long columns = 1;
        for (int i = 1; i < dims.length; i++) {
            columns *= dims[i];
        }
        return new BlockLayout(shape, dims[0], columns, maxPreconditionerDim);
    }

    private static long[] squeezed(Shape shape) {
        return Arrays.stream(shape.getShape()).filter(d -> d != 1).toArray();
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /**
     * Cuts a tensor into its blocks.
     *
     * @param tensor an array of the layout's shape. Not modified.
     * @return shape (blocks, rowBlockSize, columnBlockSize), zero-padded, in {@code tensor}'s
     *     manager
     */
    public NDArray toBlocks(NDArray tensor) {
        if (!tensor.getShape().equals(shape)) {
            throw new IllegalArgumentException(
                    "tensor must have shape " + shape + ", but had " + tensor.getShape());
        }
        NDArray matrix = tensor.reshape(rows, columns);
        if (padded()) {
            matrix =
                    matrix.pad(
                            new Shape(
                                    0,
                                    columnBlocks * columnBlockSize - columns,
                                    0,
                                    rowBlocks * rowBlockSize - rows),
                            0);
        }
        if (blockCount() == 1) {
            return matrix.reshape(1, rowBlockSize, columnBlockSize);
        }
        return matrix.reshape(rowBlocks, rowBlockSize, columnBlocks, columnBlockSize)
                .transpose(0, 2, 1, 3)
                .reshape(blockCount(), rowBlockSize, columnBlockSize);
    }

    /**
     * Puts blocks back together: the inverse of {@link #toBlocks}, dropping the padding.
     *
     * @param blocks shape (blocks, rowBlockSize, columnBlockSize). Not modified.
     * @return an array of the layout's shape, in {@code blocks}' manager
     */
    public NDArray fromBlocks(NDArray blocks) {
        Shape expected = new Shape(blockCount(), rowBlockSize, columnBlockSize);
        if (!blocks.getShape().equals(expected)) {
            throw new IllegalArgumentException(
                    "blocks must have shape " + expected + ", but had " + blocks.getShape());
        }
        NDArray matrix;
        if (blockCount() == 1) {
            matrix = blocks.reshape(rowBlockSize, columnBlockSize);
        } else {
            matrix =
                    blocks.reshape(rowBlocks, columnBlocks, rowBlockSize, columnBlockSize)
                            .transpose(0, 2, 1, 3)
                            .reshape(rowBlocks * rowBlockSize, columnBlocks * columnBlockSize);
        }
        if (padded()) {
            matrix = matrix.get(new NDIndex(":{}, :{}", rows, columns));
        }
        return matrix.reshape(shape);
    }

    private boolean padded() {
        return rowBlocks * rowBlockSize != rows || columnBlocks * columnBlockSize != columns;
    }

    /**
     * Returns the tensor's shape.
     *
     * @return the shape
     */
    public Shape shape() {
        return shape;
    }

    /**
     * Returns the number of rows of the matrix view.
     *
     * @return the rows
     */
    public long rows() {
        return rows;
    }

    /**
     * Returns the number of columns of the matrix view.
     *
     * @return the columns
     */
    public long columns() {
        return columns;
    }

    /**
     * Returns the number of block rows of the grid.
     *
     * @return \( k_r \)
     */
    public long rowBlocks() {
        return rowBlocks;
    }

    /**
     * Returns the number of block columns of the grid.
     *
     * @return \( k_c \)
     */
    public long columnBlocks() {
        return columnBlocks;
    }

    /**
     * Returns the number of blocks.
     *
     * @return \( k_r k_c \)
     */
    public long blockCount() {
        return rowBlocks * columnBlocks;
    }

    /**
     * Returns the rows of a block, the size of its left factor.
     *
     * @return the block's rows
     */
    public long rowBlockSize() {
        return rowBlockSize;
    }

    /**
     * Returns the columns of a block, the size of its right factor.
     *
     * @return the block's columns
     */
    public long columnBlockSize() {
        return columnBlockSize;
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "BlockLayout["
                + shape
                + " as "
                + rows
                + " x "
                + columns
                + ", "
                + rowBlocks
                + " x "
                + columnBlocks
                + " blocks of "
                + rowBlockSize
                + " x "
                + columnBlockSize
                + "]";
    }
}
