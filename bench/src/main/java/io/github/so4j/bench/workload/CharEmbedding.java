package io.github.so4j.bench.workload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;

/**
 * Token embedding plus learned positional embedding: for ids {@code x} of shape {@code (B, T)},
 * {@code h[b, t] = E[x[b, t]] + P[t]} of shape {@code (B, T, width)}, with {@code E} of shape
 * {@code (vocabulary, width)} and {@code P} of shape {@code (context, width)} ({@code T <=
 * context}), both drawn from N(0, 0.02²) as in GPT-2.
 *
 * <p>Cost: a row look-up and an addition per position, O(B T width).
 */
public final class CharEmbedding extends AbstractBlock {

    private static final byte VERSION = 1;

    /** The standard deviation of the initial embeddings (GPT-2's). */
    static final float INIT_SIGMA = 0.02f;

    private final int context;
    private final int width;
    private final Parameter token;
    private final Parameter position;

    /**
     * Creates the embedding.
     *
     * @param vocabulary the number of ids, at least 1
     * @param context the longest sequence, at least 1
     * @param width the embedding width, at least 1
     * @throws IllegalArgumentException naming the argument if one is below 1
     */
    public CharEmbedding(int vocabulary, int context, int width) {
        super(VERSION);
        CharTransformer.checkPositive("vocabulary", vocabulary);
        CharTransformer.checkPositive("context", context);
        CharTransformer.checkPositive("width", width);
        this.context = context;
        this.width = width;
        this.token = addParameter(parameter("token", new Shape(vocabulary, width)));
        this.position = addParameter(parameter("position", new Shape(context, width)));
    }

    private static Parameter parameter(String name, Shape shape) {
        return Parameter.builder()
                .setName(name)
                .setType(Parameter.Type.WEIGHT)
                .optShape(shape)
                .optInitializer(new NormalInitializer(INIT_SIGMA))
                .build();
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray ids = inputs.singletonOrThrow();
        long length = ids.getShape().get(ids.getShape().dimension() - 1);
        if (length > context) {
            throw new IllegalArgumentException(
                    "sequence length must be at most the context "
                            + context
                            + ", but was "
                            + length);
        }
        NDArray tokens = parameterStore.getValue(token, ids.getDevice(), training);
        NDArray positions = parameterStore.getValue(position, ids.getDevice(), training);
        NDArray embedded = Embedding.embedding(ids, tokens, SparseFormat.DENSE).head();
        return new NDList(embedded.add(positions.get(new NDIndex(":{}", length))));
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0].add(width)};
    }
}
