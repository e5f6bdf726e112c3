package io.github.so4j.curvature.shampoo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link BlockLayout}: matrix views, block sizes, and the exact content of every block. */
class BlockLayoutTest {

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    @Test
    void matrixViews() {
        assertFalse(BlockLayout.preconditionable(new Shape(10)));
        assertFalse(BlockLayout.preconditionable(new Shape(1, 784)));
        assertFalse(BlockLayout.preconditionable(new Shape()));
        assertTrue(BlockLayout.preconditionable(new Shape(256, 784)));
        BlockLayout conv = BlockLayout.of(new Shape(16, 8, 3, 3), 1024);
        assertEquals(16, conv.rows());
        assertEquals(72, conv.columns());
        BlockLayout squeezed = BlockLayout.of(new Shape(8, 1, 3, 3), 1024);
        assertEquals(8, squeezed.rows());
        assertEquals(9, squeezed.columns());
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> BlockLayout.of(new Shape(5), 4));
        assertEquals("a tensor of shape (5) has no matrix view (order < 2)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BlockLayout.of(new Shape(5, 5), 0));
        assertEquals("maxPreconditionerDim must be at least 1, but was 0", e.getMessage());
    }

    @Test
    void blockSizesAreEvenSplits() {
        BlockLayout whole = BlockLayout.of(new Shape(256, 784), 1024);
        assertEquals(1, whole.blockCount());
        assertEquals(784, whole.columnBlockSize());
        BlockLayout quarters = BlockLayout.of(new Shape(256, 784), 256);
        assertEquals(1, quarters.rowBlocks());
        assertEquals(4, quarters.columnBlocks());
        assertEquals(196, quarters.columnBlockSize());
        BlockLayout sevenths = BlockLayout.of(new Shape(256, 784), 128);
        assertEquals(2, sevenths.rowBlocks());
        assertEquals(7, sevenths.columnBlocks());
        assertEquals(112, sevenths.columnBlockSize());
        BlockLayout padded = BlockLayout.of(new Shape(7, 10), 4);
        assertEquals(2, padded.rowBlocks());
        assertEquals(4, padded.rowBlockSize());
        assertEquals(3, padded.columnBlocks());
        assertEquals(4, padded.columnBlockSize());
    }

    /**
     * Block (i, j) of a 7 x 10 matrix in blocks of at most 4 holds rows [4i, 4i + 4) and columns
     * [4j, 4j + 4), zero where they run past the matrix; putting the blocks back gives the tensor
     * exactly.
     */
    @Test
    void blocksHoldTheirSlicesAndRoundTrip() {
        Shape shape = new Shape(7, 2, 5);
        NDArray tensor = manager.arange(70f).reshape(shape);
        BlockLayout layout = BlockLayout.of(shape, 4);
        NDArray blocks = layout.toBlocks(tensor);
        assertEquals(new Shape(6, 4, 4), blocks.getShape());
        float[] values = blocks.toFloatArray();
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 3; j++) {
                for (int r = 0; r < 4; r++) {
                    for (int c = 0; c < 4; c++) {
                        int row = 4 * i + r;
                        int column = 4 * j + c;
                        float expected = row < 7 && column < 10 ? row * 10 + column : 0;
                        float actual = values[((i * 3 + j) * 4 + r) * 4 + c];
                        assertEquals(expected, actual, "block " + i + "," + j);
                    }
                }
            }
        }
        NDArray back = layout.fromBlocks(blocks);
        assertEquals(shape, back.getShape());
        assertArrayEquals(tensor.toFloatArray(), back.toFloatArray());
    }

    @Test
    void singleBlockIsAView() {
        NDArray tensor = manager.randomNormal(new Shape(3, 5), DataType.FLOAT64);
        BlockLayout layout = BlockLayout.of(tensor.getShape(), 8);
        NDArray blocks = layout.toBlocks(tensor);
        assertEquals(new Shape(1, 3, 5), blocks.getShape());
        assertArrayEquals(tensor.toDoubleArray(), layout.fromBlocks(blocks).toDoubleArray());
    }
}
