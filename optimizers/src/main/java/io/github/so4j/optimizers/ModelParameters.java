package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** A model's trained parameters as checkpoints see them: by name, with dtype and shape. */
final class ModelParameters {

    private ModelParameters() {}

    /**
     * Returns the model's trained parameters: initialized and requiring a gradient.
     *
     * @param model the block
     * @return the parameters by their names in the model, in the model's order
     */
    static Map<String, Parameter> trained(Block model) {
        Map<String, Parameter> trained = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : model.getParameters()) {
            Parameter parameter = p.getValue();
            if (parameter.isInitialized() && parameter.requiresGradient()) {
                trained.put(p.getKey(), parameter);
            }
        }
        return trained;
    }

    /**
     * Returns the manager of the model's parameters.
     *
     * @param trained the trained parameters
     * @param caller the method asking, for the message
     * @return the manager of the first parameter
     * @throws IllegalArgumentException if there are none
     */
    static NDManager managerOf(Map<String, Parameter> trained, String caller) {
        if (trained.isEmpty()) {
            throw new IllegalArgumentException(
                    caller
                            + " needs a model with trained parameters: initialize it and create"
                            + " its trainer first");
        }
        return trained.values().iterator().next().getArray().getManager();
    }

    /**
     * Checks that a checkpoint's parameter table describes the model.
     *
     * @param saved the checkpoint's parameters
     * @param trained the model's trained parameters
     * @throws IllegalArgumentException listing every parameter whose name, dtype or shape differs
     */
    static void checkSame(
            List<CheckpointFormat.ParameterEntry> saved, Map<String, Parameter> trained) {
        List<String> differences = new ArrayList<>();
        Set<String> savedNames = new HashSet<>();
        for (CheckpointFormat.ParameterEntry entry : saved) {
            savedNames.add(entry.name());
            Parameter parameter = trained.get(entry.name());
            if (parameter == null) {
                differences.add("the model has no trained parameter " + entry);
                continue;
            }
            NDArray array = parameter.getArray();
            if (!array.getShape().equals(entry.shape())
                    || array.getDataType() != entry.dataType()) {
                differences.add(
                        "parameter '"
                                + entry.name()
                                + "' is "
                                + entry.dataType()
                                + " "
                                + entry.shape()
                                + " in the checkpoint but "
                                + array.getDataType()
                                + " "
                                + array.getShape()
                                + " in the model");
            }
        }
        for (Map.Entry<String, Parameter> entry : trained.entrySet()) {
            if (!savedNames.contains(entry.getKey())) {
                NDArray array = entry.getValue().getArray();
                differences.add(
                        "the checkpoint has no parameter '"
                                + entry.getKey()
                                + "' "
                                + array.getDataType()
                                + " "
                                + array.getShape());
            }
        }
        if (!differences.isEmpty()) {
            throw new IllegalArgumentException(
                    "the checkpoint was saved for another model: "
                            + String.join("; ", differences));
        }
    }
}
