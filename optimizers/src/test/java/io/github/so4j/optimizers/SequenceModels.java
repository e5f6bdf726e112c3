package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;
import io.github.so4j.curvature.RecordedScalars;

/**
 * Sequence models built from DJL {@code Linear} layers applied to (N, T, width) inputs, for K-FAC's
 * tests: blocks written as a user writes them, with their layers in fields, called directly.
 */
final class SequenceModels {

    private SequenceModels() {}

    /**
     * Causal multi-head self-attention: \( \mathrm{softmax}(Q K^\top / \sqrt{d_h} + M) V \) per
     * head, with \( Q, K, V \) and the output projection four {@code Linear} layers held in fields;
     * M is \( -10^4 \) above the diagonal (a token sees itself and the tokens before it), which exp
     * rounds to exactly 0 in float32 and float64.
     */
    static final class CausalSelfAttention extends AbstractBlock {

        static final double MASKED = -1e4;

        private final int width;
        private final int heads;
        private final Linear query;
        private final Linear key;
        private final Linear value;
        private final Linear output;

        CausalSelfAttention(int width, int heads) {
            this.width = width;
            this.heads = heads;
            query = addChildBlock("query", Linear.builder().setUnits(width).build());
            key = addChildBlock("key", Linear.builder().setUnits(width).build());
            value = addChildBlock("value", Linear.builder().setUnits(width).build());
            output = addChildBlock("output", Linear.builder().setUnits(width).build());
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore store,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray x = inputs.singletonOrThrow();
            long n = x.getShape().get(0);
            long t = x.getShape().get(1);
            NDArray q = split(query.forward(store, inputs, training, params).head());
            NDArray k = split(key.forward(store, inputs, training, params).head());
            NDArray v = split(value.forward(store, inputs, training, params).head());
            // the scale through RecordedScalars: DJL frees the scalar of div(Number) at once,
            // while the recorded graph keeps it for the backward pass
            NDArray scores =
                    RecordedScalars.div(
                                    q.matMul(k.transpose(0, 1, 3, 2)),
                                    Math.sqrt((double) width / heads))
                            .add(mask(x.getManager(), t, x.getDataType()));
            NDArray attended =
                    scores.softmax(-1).matMul(v).transpose(0, 2, 1, 3).reshape(n, t, width);
            return output.forward(store, new NDList(attended), training, params);
        }

        /** (N, T, width) to (N, heads, T, width / heads). */
        private NDArray split(NDArray y) {
            Shape s = y.getShape();
            return y.reshape(s.get(0), s.get(1), heads, width / heads).transpose(0, 2, 1, 3);
        }

        static NDArray mask(NDManager manager, long tokens, DataType type) {
            double[] m = new double[(int) (tokens * tokens)];
            for (int i = 0; i < tokens; i++) {
                for (int j = i + 1; j < tokens; j++) {
                    m[(int) (i * tokens + j)] = MASKED;
                }
            }
            return manager.create(m, new Shape(tokens, tokens)).toType(type, false);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {inputShapes[0]};
        }

        @Override
        protected void initializeChildBlocks(
                NDManager manager, DataType dataType, Shape... inputShapes) {
            for (Linear layer : new Linear[] {query, key, value, output}) {
                layer.initialize(manager, dataType, inputShapes);
            }
        }
    }

    /** \( x + f(x) \), with f held in a field of type {@code Block}. */
    static final class Residual extends AbstractBlock {

        private final Block inner;

        Residual(Block inner) {
            this.inner = addChildBlock("inner", inner);
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore store,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray x = inputs.singletonOrThrow();
            return new NDList(x.add(inner.forward(store, inputs, training, params).head()));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {inputShapes[0]};
        }

        @Override
        protected void initializeChildBlocks(
                NDManager manager, DataType dataType, Shape... inputShapes) {
            inner.initialize(manager, dataType, inputShapes);
        }
    }

    /**
     * Token and position embeddings: token ids (N, T) to \( E[x_{n,t}] + P[t] \), (N, T, width), as
     * one-hot rows times E; E (vocabulary x width) and P (T x width) are parameters of this block,
     * which K-FAC does not cover.
     */
    static final class Embeddings extends AbstractBlock {

        private final int vocabulary;
        private final int width;
        private final Parameter tokens;
        private final Parameter positions;

        Embeddings(int vocabulary, int tokensPerSequence, int width) {
            this.vocabulary = vocabulary;
            this.width = width;
            tokens =
                    addParameter(
                            Parameter.builder()
                                    .setName("tokens")
                                    .setType(Parameter.Type.WEIGHT)
                                    .optShape(new Shape(vocabulary, width))
                                    .optInitializer(new NormalInitializer(1f))
                                    .build());
            positions =
                    addParameter(
                            Parameter.builder()
                                    .setName("positions")
                                    .setType(Parameter.Type.WEIGHT)
                                    .optShape(new Shape(tokensPerSequence, width))
                                    .optInitializer(new NormalInitializer(1f))
                                    .build());
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore store,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray ids = inputs.singletonOrThrow();
            NDArray e = store.getValue(tokens, ids.getDevice(), training);
            NDArray p = store.getValue(positions, ids.getDevice(), training);
            NDArray oneHot =
                    ids.toType(DataType.INT64, false)
                            .oneHot(vocabulary)
                            .toType(e.getDataType(), false);
            return new NDList(oneHot.matMul(e).add(p));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            Shape ids = inputShapes[0];
            return new Shape[] {new Shape(ids.get(0), ids.get(1), width)};
        }
    }

    /**
     * The embedding-free attention model of the factor tests: (N, T, p) to a width-d Linear, a
     * residual causal attention of 2 heads, tanh, and a Linear to the classes. Covered layers, in
     * tree order: the input Linear, query, key, value, output, the last Linear.
     */
    static Block attention(int width, int classes) {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(width).build())
                .add(new Residual(new CausalSelfAttention(width, 2)))
                .add(Activation::tanh)
                .add(Linear.builder().setUnits(classes).build());
    }

    /** The embedding-free token MLP of the factor tests: Linear, tanh, Linear, on (N, T, p). */
    static Block tokenMlp(int width, int classes) {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(width).build())
                .add(Activation::tanh)
                .add(Linear.builder().setUnits(classes).build());
    }

    /**
     * A one-layer pre-LayerNorm transformer language model: embeddings, \( x + \mathrm{attn}(
     * \mathrm{LN}(x)) \), \( x + \mathrm{MLP}(\mathrm{LN}(x)) \) (Linear 4d, GELU, Linear d), a
     * final LayerNorm and a Linear to the vocabulary. LayerNorms normalize each token (axis 2).
     */
    static Block languageModel(int vocabulary, int tokens, int width, int heads) {
        return new SequentialBlock()
                .add(new Embeddings(vocabulary, tokens, width))
                .add(
                        new Residual(
                                new SequentialBlock()
                                        .add(LayerNorm.builder().axis(2).build())
                                        .add(new CausalSelfAttention(width, heads))))
                .add(
                        new Residual(
                                new SequentialBlock()
                                        .add(LayerNorm.builder().axis(2).build())
                                        .add(Linear.builder().setUnits(4L * width).build())
                                        .add(Activation::gelu)
                                        .add(Linear.builder().setUnits(width).build())))
                .add(LayerNorm.builder().axis(2).build())
                .add(Linear.builder().setUnits(vocabulary).build());
    }
}
