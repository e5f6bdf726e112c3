package io.github.so4j.curvature.subspace;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.HostReads;
import java.util.Random;

/**
 * Conversions between the two shapes of a vector over a model's parameters: one array per parameter
 * (an {@link NDList} of segments), or one flat vector of all d coordinates, the segments laid end
 * to end in order.
 */
public final class Vectors {

    private Vectors() {}

    /**
     * Returns d, the total number of coordinates of vectors with these segment shapes.
     *
     * @param shapes the shape of each segment
     * @return the sum of their sizes
     */
    public static long dimension(Shape[] shapes) {
        long d = 0;
        for (Shape shape : shapes) {
            d += shape.size();
        }
        return d;
    }

    /**
     * Lays the segments end to end in one flat vector.
     *
     * @param segments the segments, same dtype and device. Not modified.
     * @return a new array of shape (d), owned by the first segment's manager
     */
    public static NDArray flatten(NDList segments) {
        if (segments.isEmpty()) {
            throw new IllegalArgumentException("segments must not be empty");
        }
        if (segments.size() == 1) {
            return segments.head().reshape(-1).duplicate();
        }
        NDList flat = new NDList(segments.size());
        for (NDArray segment : segments) {
            flat.add(segment.reshape(-1));
        }
        return NDArrays.concat(flat);
    }

    /**
     * Cuts a flat vector into segments of the given shapes.
     *
     * @param flat a vector with d elements. Not modified.
     * @param shapes the shape of each segment, d elements in all
     * @return views or copies of the segments, owned by {@code flat}'s manager
     * @throws IllegalArgumentException if the sizes do not add up to the vector's size
     */
    public static NDList split(NDArray flat, Shape[] shapes) {
        long d = dimension(shapes);
        if (flat.size() != d) {
            throw new IllegalArgumentException(
                    "vector must have " + d + " elements, but had shape " + flat.getShape());
        }
        NDArray line = flat.reshape(d);
        if (shapes.length == 1) {
            return new NDList(line.reshape(shapes[0]));
        }
        long[] cuts = new long[shapes.length - 1];
        long offset = 0;
        for (int i = 0; i < cuts.length; i++) {
            offset += shapes[i].size();
            cuts[i] = offset;
        }
        NDList parts = line.split(cuts);
        NDList segments = new NDList(shapes.length);
        for (int i = 0; i < shapes.length; i++) {
            segments.add(parts.get(i).reshape(shapes[i]));
        }
        return segments;
    }

    /**
     * Draws a vector of independent standard Gaussians on the host (so that a seed fixes it on
     * every engine and device) and copies it to the manager's device.
     *
     * @param manager the manager of the result
     * @param dimension d
     * @param type float32 or float64
     * @param random the generator
     * @return a new array of shape (d)
     */
    public static NDArray gaussian(
            NDManager manager, long dimension, DataType type, Random random) {
        double[] values = new double[Math.toIntExact(dimension)];
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextGaussian();
        }
        return copy(manager, values, type);
    }

    /**
     * Draws a vector of independent Rademacher signs (+1 or -1, equally likely) on the host.
     *
     * @param manager the manager of the result
     * @param dimension d
     * @param type float32 or float64
     * @param random the generator
     * @return a new array of shape (d)
     */
    public static NDArray rademacher(
            NDManager manager, long dimension, DataType type, Random random) {
        double[] values = new double[Math.toIntExact(dimension)];
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextBoolean() ? 1 : -1;
        }
        return copy(manager, values, type);
    }

    private static NDArray copy(NDManager manager, double[] values, DataType type) {
        if (type == DataType.FLOAT64) {
            return manager.create(values);
        }
        if (type != DataType.FLOAT32) {
            throw new IllegalArgumentException("type must be float32 or float64, but was " + type);
        }
        float[] floats = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            floats[i] = (float) values[i];
        }
        return manager.create(floats);
    }

    /**
     * Orthonormalizes the rows of a matrix on its device, by Gram-Schmidt repeated twice per row
     * (so the result is orthonormal to working precision, Giraud et al.'s "twice is enough").
     *
     * @param rows shape (k, d) with k at most d, floating point. Not modified.
     * @return a new (k, d) array with orthonormal rows spanning the same space, owned by {@code
     *     rows}' manager
     * @throws IllegalArgumentException if the rows are (numerically) linearly dependent
     */
    public static NDArray orthonormalRows(NDArray rows) {
        long k = rows.getShape().get(0);
        NDManager owner = rows.getManager();
        try (NDManager scope = owner.newSubManager()) {
            scope.tempAttachAll(rows);
            NDList done = new NDList((int) k);
            for (int i = 0; i < k; i++) {
                NDArray row = rows.get(i);
                double original = Math.sqrt(dot(row, row));
                if (i > 0) {
                    NDArray basis = NDArrays.stack(done);
                    for (int pass = 0; pass < 2; pass++) {
                        row = row.sub(basis.matMul(row).matMul(basis));
                    }
                }
                double norm = Math.sqrt(dot(row, row));
                if (!(norm > 1e-6 * original)) {
                    throw new IllegalArgumentException(
                            "rows must be linearly independent, but row " + i + " is not");
                }
                done.add(row.div(norm));
            }
            NDArray result = NDArrays.stack(done);
            result.attach(owner);
            return result;
        }
    }

    /**
     * Returns the dot product of two flat vectors, summed on the device in float64, as a host
     * number (one synchronisation).
     *
     * @param a a vector. Not modified.
     * @param b a vector of the same length. Not modified.
     * @return \( a^\top b \)
     */
    static double dot(NDArray a, NDArray b) {
        return HostReads.toDouble(a.mul(b).toType(DataType.FLOAT64, false).sum());
    }

    /**
     * Checks that a vector is flat, of length d, floating point.
     *
     * @param vector the vector
     * @param dimension d
     * @param name its name, for the message
     * @throws IllegalArgumentException naming the vector and its shape if not
     */
    static void checkFlat(NDArray vector, long dimension, String name) {
        if (vector.getShape().dimension() != 1 || vector.size() != dimension) {
            throw new IllegalArgumentException(
                    name
                            + " must have shape ("
                            + dimension
                            + "), but had shape "
                            + vector.getShape());
        }
        checkFloating(vector, name);
    }

    /**
     * Checks that a vector's segments match the expected shapes.
     *
     * @param vector the segments
     * @param shapes the expected shapes
     * @param name the vector's name, for the message
     * @throws IllegalArgumentException naming the first mismatch
     */
    static void checkSegments(NDList vector, Shape[] shapes, String name) {
        if (vector.size() != shapes.length) {
            throw new IllegalArgumentException(
                    name + " must have " + shapes.length + " segments, but had " + vector.size());
        }
        for (int i = 0; i < shapes.length; i++) {
            NDArray segment = vector.get(i);
            if (!segment.getShape().equals(shapes[i])) {
                throw new IllegalArgumentException(
                        name
                                + " segment "
                                + i
                                + " must have shape "
                                + shapes[i]
                                + ", but had shape "
                                + segment.getShape());
            }
            checkFloating(segment, name);
        }
    }

    private static void checkFloating(NDArray array, String name) {
        DataType type = array.getDataType();
        if (type != DataType.FLOAT32 && type != DataType.FLOAT64) {
            throw new IllegalArgumentException(
                    name + " must be float32 or float64, but was " + type);
        }
    }
}
