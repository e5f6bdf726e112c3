package io.github.so4j.curvature.subspace;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.loss.Loss;
import java.util.List;

/**
 * A DJL block's loss on one batch as a function of a flat vector of its trainable parameters (in
 * {@link Block#getParameters()} order), for zeroth-order methods.
 *
 * <p>Evaluating never changes the block: the vector's segments take the parameters' place in the
 * forward pass (inference mode), as in {@link BatchCurvature#lossWith}. {@link #assign} writes a
 * vector back into the parameters.
 *
 * <p><b>Cost</b>: one forward pass per value.
 */
public final class BlockObjective implements Objective {

    private final BatchCurvature curvature;

    /**
     * Wraps a block, a loss and a batch; the arrays stay the caller's and must stay open.
     *
     * @param block the block, initialized
     * @param loss the loss
     * @param data the block's inputs
     * @param labels the loss's labels
     */
    public BlockObjective(Block block, Loss loss, NDList data, NDList labels) {
        this.curvature =
                BatchCurvature.builder()
                        .setBlock(block)
                        .setLoss(loss)
                        .setBatch(data, labels)
                        .optMode(BatchCurvature.Mode.FINITE_DIFFERENCE)
                        .build();
    }

    /**
     * Returns d, the number of trainable parameters.
     *
     * @return the dimension
     */
    public long dimension() {
        return curvature.dimension();
    }

    /**
     * Returns the block's current parameters as a flat vector.
     *
     * @param owner the manager of the result
     * @return a new array of shape (d)
     */
    public NDArray parameters(NDManager owner) {
        return Vectors.flatten(curvature.weights(owner));
    }

    /** {@inheritDoc} */
    @Override
    public double value(NDArray x) {
        Vectors.checkFlat(x, curvature.dimension(), "x");
        return curvature.lossWith(Vectors.split(x, curvature.shapes()));
    }

    /**
     * Copies a flat vector into the block's trainable parameters, in place.
     *
     * @param x the new parameters, shape (d). Not modified.
     */
    public void assign(NDArray x) {
        Vectors.checkFlat(x, curvature.dimension(), "x");
        try (NDManager scope = x.getManager().newSubManager()) {
            scope.tempAttachAll(x);
            NDList segments = Vectors.split(x, curvature.shapes());
            List<Parameter> parameters = curvature.parameters();
            for (int i = 0; i < parameters.size(); i++) {
                NDArray weight = parameters.get(i).getArray();
                weight.subi(weight).addi(segments.get(i).toType(weight.getDataType(), false));
            }
        }
    }
}
