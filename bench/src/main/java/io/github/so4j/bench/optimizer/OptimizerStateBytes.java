package io.github.so4j.bench.optimizer;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Adam;
import ai.djl.training.optimizer.AdamW;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.optimizer.Sgd;
import ai.djl.util.Pair;
import io.github.so4j.optimizers.SecondOrderOptimizer;

/**
 * How many bytes of optimizer state an optimizer of the harness holds: the arrays it keeps from one
 * step to the next (moments, momentum buffers, windows, factors, inverses, bases), not the weights
 * nor the gradients.
 *
 * <p>so4j's optimizers measure themselves ({@link SecondOrderOptimizer#stateBytes()}, whose javadoc
 * and each optimizer's say what counts). DJL's keep, per trained parameter (one that requires a
 * gradient) and in its shape and dtype, created at the parameter's first update:
 *
 * <ul>
 *   <li>{@link Adam} and {@link AdamW}: the two moments, \( 2 \sum_w |w| b_w \) bytes for
 *       parameters w of \( |w| \) numbers of \( b_w \) bytes;
 *   <li>{@link Sgd}: one momentum buffer when the momentum is not 0, \( \sum_w |w| b_w \); none
 *       without momentum (DJL's default).
 * </ul>
 *
 * <p>DJL does not expose its optimizers' state or settings, so the rule is applied to the
 * parameters of the block, with the momentum taken from the harness's setting {@code momentum} (the
 * value the catalog passes to {@code optMomentum}). The count is exact once every trained parameter
 * was updated, that is after the first step. Nothing is read from the device: sizes come from
 * shapes and dtypes. Cost: one pass over the block's parameters.
 */
public final class OptimizerStateBytes {

    /** What {@link #of} returns for an optimizer whose state the harness does not know. */
    public static final long UNKNOWN = -1;

    private OptimizerStateBytes() {}

    /**
     * Returns the bytes of state an optimizer holds now.
     *
     * @param optimizer the optimizer, after the steps whose state should count
     * @param settings its settings in the harness (for DJL's Sgd, the momentum)
     * @param block the block it trains
     * @return the bytes, or {@link #UNKNOWN} for a DJL optimizer other than Sgd, Adam and AdamW
     */
    public static long of(Optimizer optimizer, OptimizerSettings settings, Block block) {
        if (optimizer instanceof SecondOrderOptimizer so4j) {
            return so4j.stateBytes();
        }
        if (optimizer instanceof Adam || optimizer instanceof AdamW) {
            return 2 * trainedBytes(block);
        }
        if (optimizer instanceof Sgd) {
            float momentum =
                    settings.asMap().containsKey("momentum") ? settings.getFloat("momentum") : 0;
            return momentum != 0 ? trainedBytes(block) : 0;
        }
        return UNKNOWN;
    }

    /**
     * Returns the bytes of the block's initialized parameters that require a gradient (those DJL's
     * parameter store updates).
     *
     * @param block the block
     * @return the sum of elements times dtype size
     */
    static long trainedBytes(Block block) {
        long bytes = 0;
        for (Pair<String, Parameter> pair : block.getParameters()) {
            Parameter parameter = pair.getValue();
            if (parameter.isInitialized() && parameter.requiresGradient()) {
                NDArray array = parameter.getArray();
                bytes += array.size() * array.getDataType().getNumOfBytes();
            }
        }
        return bytes;
    }
}
