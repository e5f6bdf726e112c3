package io.github.so4j.curvature;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * The one door from the device to the host: every read of an array's values in so4j's library code
 * goes through here, and is counted.
 *
 * <p>On a GPU a read waits for every queued kernel to finish, so a read on every step stalls the
 * device for the length of the queue. so4j's optimizers read nothing on ordinary steps and read on
 * amortized steps only (an inverse or root refreshed every T steps); this class lets tests and
 * reports check that: {@link #count()} is the number of reads made so far by the calling thread,
 * and a caller that wants the reads of one computation takes the difference around it.
 *
 * <p>{@link #inverse} counts too: PyTorch's {@code linalg.inv} checks for singularity on the host,
 * which synchronises on CUDA.
 *
 * <p>The count is per thread (DJL calls an optimizer on the training thread), so concurrent
 * computations on other threads do not disturb it.
 */
public final class HostReads {

    private static final ThreadLocal<long[]> COUNT = ThreadLocal.withInitial(() -> new long[1]);

    private HostReads() {}

    /**
     * Returns the number of reads made by the calling thread so far.
     *
     * @return the count, non-decreasing
     */
    public static long count() {
        return COUNT.get()[0];
    }

    private static void counted() {
        COUNT.get()[0]++;
    }

    /**
     * Reads a scalar as a double.
     *
     * @param scalar an array with one element, of any numeric dtype. Not modified.
     * @return its value
     */
    public static double toDouble(NDArray scalar) {
        counted();
        NDArray wide = scalar.toType(DataType.FLOAT64, false);
        try {
            return wide.getDouble();
        } finally {
            closeCopy(wide, scalar);
        }
    }

    /**
     * Reads a scalar as a long.
     *
     * @param scalar an array with one element, of an integer or boolean dtype. Not modified.
     * @return its value
     */
    public static long toLong(NDArray scalar) {
        counted();
        NDArray wide = scalar.toType(DataType.INT64, false);
        try {
            return wide.getLong();
        } finally {
            closeCopy(wide, scalar);
        }
    }

    /**
     * Reads a boolean scalar.
     *
     * @param scalar a boolean array with one element. Not modified.
     * @return its value
     */
    public static boolean toBoolean(NDArray scalar) {
        counted();
        return scalar.getBoolean();
    }

    /**
     * Reads an array's values as doubles, in row-major order.
     *
     * @param array the array, of any numeric dtype. Not modified.
     * @return its values
     */
    public static double[] toDoubles(NDArray array) {
        counted();
        NDArray wide = array.toType(DataType.FLOAT64, false);
        try {
            return wide.toDoubleArray();
        } finally {
            closeCopy(wide, array);
        }
    }

    /**
     * Reads an array's values as longs, in row-major order.
     *
     * @param array the array, of an integer dtype. Not modified.
     * @return its values
     */
    public static long[] toLongs(NDArray array) {
        counted();
        NDArray wide = array.toType(DataType.INT64, false);
        try {
            return wide.toLongArray();
        } finally {
            closeCopy(wide, array);
        }
    }

    /**
     * Reads an array's values as floats, in row-major order.
     *
     * @param array the array, of any numeric dtype. Not modified.
     * @return its values
     */
    public static float[] toFloats(NDArray array) {
        counted();
        NDArray narrow = array.toType(DataType.FLOAT32, false);
        try {
            return narrow.toFloatArray();
        } finally {
            closeCopy(narrow, array);
        }
    }

    /**
     * Reads an array in DJL's encoding (dtype, shape and values), for checkpoints.
     *
     * @param array the array. Not modified.
     * @return its encoding
     */
    public static byte[] encode(NDArray array) {
        counted();
        return array.encode();
    }

    /** Closes a converted array unless the conversion returned the array itself. */
    private static void closeCopy(NDArray converted, NDArray source) {
        if (converted != source) {
            converted.close();
        }
    }

    /**
     * Inverts square matrices (batched over leading axes) on their device, counted as a read: the
     * engine's singularity check synchronises with the host.
     *
     * @param matrices (..., n, n). Not modified.
     * @return the inverses, owned by {@code matrices}' manager
     */
    public static NDArray inverse(NDArray matrices) {
        counted();
        return matrices.inverse();
    }
}
