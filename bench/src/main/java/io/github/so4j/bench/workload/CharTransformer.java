package io.github.so4j.bench.workload;

import ai.djl.ndarray.NDList;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.ParallelBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.initializer.NormalInitializer;
import java.util.List;

/**
 * A causal character-level transformer language model (GPT-2's layout at small size):
 *
 * <p>\( h_0 = E[x] + P \) ({@link CharEmbedding}); for each of {@code layers} pre-LayerNorm blocks
 * \( h \leftarrow h + \mathrm{Attn}(\mathrm{LN}(h)) \) ({@link CausalSelfAttention}) and \( h
 * \leftarrow h + W_2\, \mathrm{GELU}(W_1 \mathrm{LN}(h) + b_1) + b_2 \) (hidden width 4 width);
 * then \( \mathrm{logits} = W_{out} \mathrm{LN}(h) + b_{out} \), of shape {@code (B, T,
 * vocabulary)}. Every LayerNorm normalizes the last axis (epsilon 1e-5, learned scale and shift);
 * the residual additions are DJL {@link ParallelBlock}s of the branch and the identity. Every
 * {@link Linear} weight and both embeddings start from N(0, 0.02²), biases from 0, LayerNorm scales
 * from 1 (drawn through the engine's generator, so {@code Engine.setRandomSeed} fixes them).
 *
 * <p>Parameters: \( (V + C) w + L (12 w^2 + 13 w) + 2 w + (w + 1) V \) for V ids, context C, width
 * w, L layers. Forward cost per position: about \( 2 (12 L w^2 + w V) \) flops for the layers and
 * the output, plus \( 4 L T w \) for attention.
 */
public final class CharTransformer {

    private CharTransformer() {}

    /**
     * The sizes of a model.
     *
     * @param vocabulary the number of ids, at least 1
     * @param context the longest input, at least 1
     * @param width the model width, a multiple of {@code heads}
     * @param layers the number of blocks, at least 1
     * @param heads the attention heads per block, at least 1
     */
    public record Config(int vocabulary, int context, int width, int layers, int heads) {

        /**
         * Checks the sizes.
         *
         * @param vocabulary the number of ids, at least 1
         * @param context the longest input, at least 1
         * @param width the model width, a multiple of {@code heads}
         * @param layers the number of blocks, at least 1
         * @param heads the attention heads per block, at least 1
         * @throws IllegalArgumentException naming the size and its value if one is out of range
         */
        public Config {
            checkPositive("vocabulary", vocabulary);
            checkPositive("context", context);
            checkPositive("width", width);
            checkPositive("layers", layers);
            checkPositive("heads", heads);
            if (width % heads != 0) {
                throw new IllegalArgumentException(
                        "width must be a multiple of heads (" + heads + "), but was " + width);
            }
        }

        /**
         * Returns the number of parameters, biases and LayerNorm parameters included.
         *
         * @return the count
         */
        public long parameters() {
            long w = width;
            return (vocabulary + (long) context) * w
                    + layers * (12 * w * w + 13 * w)
                    + 2 * w
                    + (w + 1) * vocabulary;
        }
    }

    /**
     * Builds a new, uninitialized model.
     *
     * @param config the sizes
     * @return the block: ids {@code (B, T)} of int64, {@code T <= context}, to logits {@code (B, T,
     *     vocabulary)}
     */
    public static Block newBlock(Config config) {
        int width = config.width();
        SequentialBlock model =
                new SequentialBlock()
                        .add(new CharEmbedding(config.vocabulary(), config.context(), width));
        for (int layer = 0; layer < config.layers(); layer++) {
            model.add(
                    residual(
                            new SequentialBlock()
                                    .add(layerNorm())
                                    .add(new CausalSelfAttention(width, config.heads()))));
            model.add(
                    residual(
                            new SequentialBlock()
                                    .add(layerNorm())
                                    .add(Linear.builder().setUnits(4L * width).build())
                                    .add(Activation::gelu)
                                    .add(Linear.builder().setUnits(width).build())));
        }
        model.add(layerNorm()).add(Linear.builder().setUnits(config.vocabulary()).build());
        model.setInitializer(
                new NormalInitializer(CharEmbedding.INIT_SIGMA), Parameter.Type.WEIGHT);
        return model;
    }

    private static Block residual(Block branch) {
        return new ParallelBlock(
                outputs -> new NDList(outputs.get(0).head().add(outputs.get(1).head())),
                List.of(branch, Blocks.identityBlock()));
    }

    /** LayerNorm over the last axis of (B, T, width) inputs. */
    private static Block layerNorm() {
        return LayerNorm.builder().axis(2).build();
    }

    static void checkPositive(String name, int value) {
        if (value < 1) {
            throw new IllegalArgumentException(name + " must be at least 1, but was " + value);
        }
    }
}
