package io.github.so4j.curvature;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.function.BinaryOperator;

/**
 * Products, quotients and maxima of recorded arrays with Java numbers that stay correct when a
 * garbage collection falls between the forward and the backward pass: \( x \cdot c \), \( x / c \),
 * \( \max(x, c) \) for a number c, with the values and gradients of DJL's {@code x.mul(c)}, {@code
 * x.div(c)}, {@code x.maximum(c)} bit for bit.
 *
 * <p>DJL's PyTorch engine computes {@code x.mul(c)} as a product with a scalar array that it makes
 * over a direct buffer of host memory and closes at once. The recorded graph keeps that scalar for
 * the backward pass (the gradient of \( x c \) is \( c \) times the incoming one), and once the
 * collector has freed the buffer the gradient is scaled by whatever the memory then holds. The same
 * holds for {@code div}, {@code pow}, {@code maximum} and {@code minimum} by a number; {@code add}
 * and {@code sub} by a number are safe (their backward does not read it).
 *
 * <p>Here c becomes the same scalar array (the data type DJL gives the number: float64 for a
 * double, float32 for a float, int64 for a long, int32 for an int), copied into memory that PyTorch
 * allocates and counts references to, so the graph keeps it alive for as long as it needs it. The
 * operation itself is DJL's array overload, so the result is the one {@code x.mul(c)} gives. Cost:
 * one scalar copy per call on top of the operation.
 */
public final class RecordedScalars {

    private RecordedScalars() {}

    /**
     * Returns \( x \cdot c \), as {@code x.mul(c)} computes it.
     *
     * @param x the array, recorded or not. Not modified.
     * @param c the number
     * @return the product, owned by {@code x}'s manager
     */
    public static NDArray mul(NDArray x, Number c) {
        return apply(x, c, NDArray::mul);
    }

    /**
     * Returns \( x / c \), as {@code x.div(c)} computes it.
     *
     * @param x the array, recorded or not. Not modified.
     * @param c the number
     * @return the quotient, owned by {@code x}'s manager
     */
    public static NDArray div(NDArray x, Number c) {
        return apply(x, c, NDArray::div);
    }

    /**
     * Returns \( \max(x, c) \) elementwise, as {@code x.maximum(c)} computes it (its gradient too:
     * half the incoming one where \( x = c \)).
     *
     * @param x the array, recorded or not. Not modified.
     * @param c the number
     * @return the maxima, owned by {@code x}'s manager
     */
    public static NDArray maximum(NDArray x, Number c) {
        return apply(x, c, NDArray::maximum);
    }

    /**
     * Returns the number as the scalar array DJL makes of it, in memory that PyTorch allocates: an
     * operation recorded with it stays correct after this array is closed.
     *
     * @param manager the owner of the result
     * @param c the number
     * @return a 0-dimensional array, owned by {@code manager}
     */
    public static NDArray of(NDManager manager, Number c) {
        try (NDArray host = manager.create(c)) {
            return host.duplicate();
        }
    }

    private static NDArray apply(NDArray x, Number c, BinaryOperator<NDArray> operation) {
        // closing the scalar only drops this handle: the graph holds its own reference
        try (NDArray scalar = of(x.getManager(), c)) {
            return operation.apply(x, scalar);
        }
    }
}
