package io.github.so4j.curvature.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;
import io.github.so4j.curvature.Workspace;

/**
 * The patches a 2-D convolution multiplies by its kernel (im2col), extracted on the device by a
 * convolution with a fixed one-hot kernel.
 *
 * <p>For C input channels and a kh x kw kernel, the one-hot kernel has C kh kw output channels, one
 * input channel per group (groups = C), and a single 1 per output channel: output channel \( c
 * \cdot k_h k_w + i k_w + j \) copies input channel c at kernel offset (i, j). With the layer's
 * stride, padding and dilation it therefore reproduces, at every output position, the layer's patch
 * in the order of the weight's flattened (C, kh, kw) axes, zero padding included. Each output is
 * one input value times 1 plus zeros, so the copy is exact.
 *
 * <p><b>Cost</b>: \( N T C (k_h k_w)^2 \) multiply-adds for N examples and T output positions, and
 * an N T x C kh kw result.
 */
public final class Im2col implements AutoCloseable {

    private final NDManager manager;
    private final int channels;
    private final Shape kernel;
    private final Shape stride;
    private final Shape padding;
    private final Shape dilation;
    private NDArray oneHot;

    /**
     * Creates the patch extractor of a convolution.
     *
     * @param manager the manager whose device holds the one-hot kernel (a sub-manager is used)
     * @param channels C, the number of input channels, at least 1
     * @param kernel (kh, kw)
     * @param stride the convolution's stride
     * @param padding the convolution's zero padding
     * @param dilation the convolution's dilation
     * @throws IllegalArgumentException if the channels are fewer than 1 or a shape is not 2-D
     */
    public Im2col(
            NDManager manager,
            long channels,
            Shape kernel,
            Shape stride,
            Shape padding,
            Shape dilation) {
        if (channels < 1) {
            throw new IllegalArgumentException("channels must be at least 1, but was " + channels);
        }
        for (Shape shape : new Shape[] {kernel, stride, padding, dilation}) {
            if (shape.dimension() != 2) {
                throw new IllegalArgumentException(
                        "kernel, stride, padding and dilation must be 2-D, but one was " + shape);
            }
        }
        this.manager = manager.newSubManager();
        this.channels = Math.toIntExact(channels);
        this.kernel = kernel;
        this.stride = stride;
        this.padding = padding;
        this.dilation = dilation;
    }

    /**
     * Extracts the patches of a batch.
     *
     * @param input (N, C, H, W) on the extractor's device. Not modified.
     * @return (N T, C kh kw): row n T + t is the patch of example n at output position t (row-major
     *     over the output's height and width); a new array owned by {@code input}'s manager
     */
    public NDArray patches(NDArray input) {
        NDArray weights = oneHot(input.getDataType());
        NDArray columns =
                Conv2d.conv2d(input, weights, null, stride, padding, dilation, channels)
                        .singletonOrThrow();
        long examples = columns.getShape().get(0);
        long width = columns.getShape().get(1);
        return columns.reshape(examples, width, -1).transpose(0, 2, 1).reshape(-1, width);
    }

    private NDArray oneHot(DataType type) {
        if (oneHot == null || oneHot.getDataType() != type) {
            if (oneHot != null) {
                oneHot.close();
            }
            int offsets = Math.toIntExact(kernel.size());
            try (Workspace ws = new Workspace(manager)) {
                NDArray weights =
                        ws.manager()
                                .eye(offsets, offsets, 0, type)
                                .reshape(offsets, 1, kernel.get(0), kernel.get(1))
                                .tile(new long[] {channels, 1, 1, 1});
                oneHot = ws.keep(weights, manager);
            }
        }
        return oneHot;
    }

    /**
     * Returns the one-hot kernel, (C kh kw, 1, kh, kw) in the dtype of the last input, or nothing
     * before the first extraction, for measuring memory. Not a copy; nothing is read from the
     * device.
     *
     * @return the arrays
     */
    public NDList arrays() {
        return oneHot == null ? new NDList() : new NDList(oneHot);
    }

    /** Frees the one-hot kernel. */
    @Override
    public void close() {
        manager.close();
    }
}
