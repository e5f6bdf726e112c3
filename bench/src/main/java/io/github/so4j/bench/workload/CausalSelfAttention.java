package io.github.so4j.bench.workload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.so4j.curvature.RecordedScalars;

/**
 * Causal multi-head self-attention on {@code (B, T, width)} inputs, its four projections DJL {@link
 * Linear} layers (with biases) applied to {@code (B, T, width)} arrays:
 *
 * <p>\( Q = X W_q^\top + b_q \), \( K = X W_k^\top + b_k \), \( V = X W_v^\top + b_v \), each split
 * into {@code heads} heads of width \( d = \text{width} / \text{heads} \); per head \( A =
 * \mathrm{softmax}(Q K^\top / \sqrt{d} + M) \) with \( M_{ts} = -\infty \) for \( s > t \) (a
 * position attends to itself and to earlier positions only) and 0 otherwise; the heads' \( A V \)
 * concatenated to {@code (B, T, width)}, then \( Y = Z W_o^\top + b_o \).
 *
 * <p>The output at position t depends on the inputs at positions up to t only, exactly: the masked
 * weights are exact zeros. The projections are this block's children, and the forward pass reaches
 * them through the children list, so that a tool that replaces a child in that list (K-FAC's {@code
 * Kfac.instrument} puts recording stand-ins there) takes part in every forward. DJL's own {@code
 * ScaledDotProductAttentionBlock} calls its projections through fields, out of such a tool's reach,
 * and takes its mask as an input.
 *
 * <p>Cost per forward: \( 8 B T \,\text{width}^2 \) flops for the projections and \( 4 B T^2
 * \text{width} \) for the scores and the weighted values.
 */
public final class CausalSelfAttention extends AbstractBlock {

    private static final byte VERSION = 1;
    private static final int QUERY = 0;
    private static final int KEY = 1;
    private static final int VALUE = 2;
    private static final int OUTPUT = 3;

    private final int width;
    private final int heads;

    /**
     * Creates the block.
     *
     * @param width the model width, a multiple of {@code heads}
     * @param heads the number of heads, at least 1
     * @throws IllegalArgumentException naming the argument if one is out of range
     */
    public CausalSelfAttention(int width, int heads) {
        super(VERSION);
        CharTransformer.checkPositive("width", width);
        CharTransformer.checkPositive("heads", heads);
        if (width % heads != 0) {
            throw new IllegalArgumentException(
                    "width must be a multiple of heads (" + heads + "), but was " + width);
        }
        this.width = width;
        this.heads = heads;
        addChildBlock("query", Linear.builder().setUnits(width).build());
        addChildBlock("key", Linear.builder().setUnits(width).build());
        addChildBlock("value", Linear.builder().setUnits(width).build());
        addChildBlock("output", Linear.builder().setUnits(width).build());
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        long batch = x.getShape().get(0);
        long length = x.getShape().get(1);
        NDArray q = split(project(QUERY, x, parameterStore, training), batch, length);
        NDArray k = split(project(KEY, x, parameterStore, training), batch, length);
        NDArray v = split(project(VALUE, x, parameterStore, training), batch, length);
        NDManager manager = x.getManager();
        // the scale through RecordedScalars: the backward pass reads it (see there)
        NDArray scores =
                RecordedScalars.mul(
                        q.matMul(k.transpose(0, 1, 3, 2)), 1 / Math.sqrt(width / heads));
        NDArray position = manager.arange((int) length);
        // future[t, s] = s > t: the keys a query at position t must not see; M = -inf there
        NDArray future = position.reshape(1, length).gt(position.reshape(length, 1));
        Shape square = new Shape(length, length);
        NDArray mask =
                NDArrays.where(
                        future,
                        manager.full(square, Float.NEGATIVE_INFINITY, scores.getDataType()),
                        manager.zeros(square, scores.getDataType()));
        NDArray mixed =
                scores.add(mask)
                        .softmax(-1)
                        .matMul(v)
                        .transpose(0, 2, 1, 3)
                        .reshape(batch, length, width);
        return new NDList(project(OUTPUT, mixed, parameterStore, training));
    }

    private NDArray project(int child, NDArray x, ParameterStore store, boolean training) {
        Block layer = children.valueAt(child);
        return layer.forward(store, new NDList(x), training).head();
    }

    /** (B, T, width) to (B, heads, T, width / heads). */
    private NDArray split(NDArray x, long batch, long length) {
        return x.reshape(batch, length, heads, width / heads).transpose(0, 2, 1, 3);
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        for (Block child : children.values()) {
            child.initialize(manager, dataType, inputShapes[0]);
        }
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }
}
