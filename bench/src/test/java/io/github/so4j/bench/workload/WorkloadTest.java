package io.github.so4j.bench.workload;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every workload has the documented parameter count and output shape; charlm's count is also {@link
 * CharTransformer.Config#parameters()}'s formula.
 */
class WorkloadTest {

    @ParameterizedTest
    @EnumSource(Workload.class)
    void architectureIsTheDocumentedOne(Workload workload) {
        long expectedParameters =
                switch (workload) {
                    case MLP -> 235_146;
                    case CNN -> 28_938;
                    case AUTOENCODER, AUTOENCODER_TANH -> 2_837_314;
                    case LOGREG -> 7_850;
                    case CHARLM -> 430_178;
                };
        try (Model model = Model.newInstance(workload.id());
                NDManager manager = NDManager.newBaseManager()) {
            model.setBlock(workload.newBlock());
            model.getBlock().initialize(manager, DataType.FLOAT32, workload.inputShape());
            long count = 0;
            for (Pair<String, Parameter> p : model.getBlock().getParameters()) {
                count += p.getValue().getArray().size();
            }
            assertEquals(expectedParameters, count, workload.id());
            if (workload == Workload.CHARLM) {
                assertEquals(count, Workload.CHARLM_MODEL.parameters());
            }
            Shape batch = new Shape(3).addAll(workload.inputShape().slice(1));
            NDArray x =
                    workload == Workload.CHARLM
                            ? manager.ones(batch, DataType.INT64)
                            : manager.ones(batch);
            NDArray y =
                    model.getBlock()
                            .forward(new ParameterStore(manager, false), new NDList(x), false)
                            .head();
            Shape expected =
                    switch (workload) {
                        case AUTOENCODER, AUTOENCODER_TANH -> new Shape(3, 784);
                        case CHARLM -> new Shape(3, 64, 98);
                        default -> new Shape(3, 10);
                    };
            assertEquals(expected, y.getShape());
        }
    }
}
