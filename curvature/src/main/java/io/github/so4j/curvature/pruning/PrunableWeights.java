package io.github.so4j.curvature.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import io.github.so4j.curvature.HostReads;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Predicate;

/**
 * The weights of a model that a pruner may remove, seen as one vector of d entries, and the mask of
 * those still present.
 *
 * <p>By default the parameters of type {@link Parameter.Type#WEIGHT} (the matrices and kernels of
 * linear and convolutional layers; biases and normalisation parameters stay dense), in the order of
 * {@link Block#getParameters()}. Removed weights are set to zero in the model's own arrays.
 */
public final class PrunableWeights implements AutoCloseable {

    private final NDManager manager;
    private final List<Parameter> parameters;
    private final List<String> names;
    private final long dimension;
    private NDArray mask;

    /**
     * Selects the WEIGHT parameters of an initialized block.
     *
     * @param block the model's block, initialized
     * @return the prunable weights, all present
     */
    public static PrunableWeights weightsOf(Block block) {
        return of(block, p -> p.getType() == Parameter.Type.WEIGHT);
    }

    /**
     * Selects the parameters of an initialized block that match a predicate.
     *
     * @param block the model's block, initialized
     * @param select which parameters to prune
     * @return the prunable weights, all present
     * @throws IllegalArgumentException if no parameter matches
     */
    public static PrunableWeights of(Block block, Predicate<Parameter> select) {
        List<Parameter> chosen = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (Pair<String, Parameter> pair : block.getParameters()) {
            if (select.test(pair.getValue())) {
                chosen.add(pair.getValue());
                names.add(pair.getKey());
            }
        }
        if (chosen.isEmpty()) {
            throw new IllegalArgumentException("no parameter of the block matches the selection");
        }
        return new PrunableWeights(chosen, names);
    }

    private PrunableWeights(List<Parameter> parameters, List<String> names) {
        this.parameters = List.copyOf(parameters);
        this.names = List.copyOf(names);
        NDArray first = parameters.get(0).getArray();
        this.manager = first.getManager().newSubManager(first.getDevice());
        long total = 0;
        for (Parameter p : parameters) {
            total += p.getArray().size();
        }
        this.dimension = total;
        this.mask = manager.ones(new ai.djl.ndarray.types.Shape(total), DataType.BOOLEAN);
    }

    /**
     * Returns d, the number of prunable weights.
     *
     * @return d
     */
    public long dimension() {
        return dimension;
    }

    /**
     * Returns the fraction of the prunable weights removed so far.
     *
     * @return the sparsity, in [0, 1]
     */
    public double sparsity() {
        long present = HostReads.toLong(mask.toType(DataType.INT64, false).sum());
        return 1.0 - (double) present / dimension;
    }

    /**
     * Returns the names of the pruned parameters, in vector order.
     *
     * @return the names
     */
    public List<String> names() {
        return Collections.unmodifiableList(names);
    }

    /**
     * Returns the mask: {@code true} where the weight is still present.
     *
     * @return the mask, d booleans, owned by this object. Not to be modified.
     */
    public NDArray mask() {
        return mask;
    }

    /**
     * Returns the weights as one flat vector.
     *
     * @param owner the manager that owns the result
     * @return d entries, a copy
     */
    public NDArray values(NDManager owner) {
        NDList flat = new NDList(parameters.size());
        for (Parameter p : parameters) {
            flat.add(p.getArray().reshape(-1));
        }
        NDArray result = flat.size() == 1 ? flat.head().duplicate() : NDArrays.concat(flat);
        result.attach(owner);
        return result;
    }

    /**
     * Returns the gradients of the weights as one flat vector.
     *
     * @param owner the manager that owns the result
     * @return d entries, a copy
     */
    public NDArray gradients(NDManager owner) {
        try (NDManager scope = manager.newSubManager()) {
            NDList flat = new NDList(parameters.size());
            for (Parameter p : parameters) {
                NDArray gradient = p.getArray().getGradient();
                gradient.attach(scope);
                flat.add(gradient.reshape(-1));
            }
            NDArray result = NDArrays.concat(flat);
            result.attach(owner);
            return result;
        }
    }

    /**
     * Writes a flat vector back into the model's arrays, then zeros every removed weight.
     *
     * @param values d entries. Not modified.
     */
    public void write(NDArray values) {
        try (NDManager scope = manager.newSubManager()) {
            scope.tempAttachAll(values);
            NDArray masked =
                    NDArrays.where(
                            mask, values, scope.zeros(values.getShape(), values.getDataType()));
            long offset = 0;
            for (Parameter p : parameters) {
                NDArray array = p.getArray();
                long size = array.size();
                NDArray piece =
                        masked.get(new NDIndex("{}:{}", offset, offset + size))
                                .reshape(array.getShape())
                                .toType(array.getDataType(), false);
                array.set(new NDIndex("..."), piece);
                offset += size;
            }
        }
    }

    /**
     * Marks weights as removed.
     *
     * @param indices positions in [0, d), int64. Not modified.
     */
    public void remove(NDArray indices) {
        try (NDManager scope = manager.newSubManager()) {
            scope.tempAttachAll(indices);
            mask.set(new NDIndex("{}", indices), scope.create(false));
        }
    }

    /** Frees the mask. */
    @Override
    public void close() {
        manager.close();
    }
}
