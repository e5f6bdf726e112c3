package io.github.so4j.bench.workload;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Every workload has the documented parameter count and output shape. */
class WorkloadTest {

    @ParameterizedTest
    @EnumSource(Workload.class)
    void architectureIsTheDocumentedOne(Workload workload) {
        long expectedParameters =
                switch (workload) {
                    case MLP -> 235_146;
                    case CNN -> 28_938;
                    case AUTOENCODER -> 2_837_314;
                    case LOGREG -> 7_850;
                };
        try (Model model = Model.newInstance(workload.id());
                NDManager manager = NDManager.newBaseManager()) {
            model.setBlock(workload.newBlock());
            model.getBlock()
                    .initialize(
                            manager, ai.djl.ndarray.types.DataType.FLOAT32, workload.inputShape());
            long count = 0;
            for (Pair<String, Parameter> p : model.getBlock().getParameters()) {
                count += p.getValue().getArray().size();
            }
            assertEquals(expectedParameters, count, workload.id());
            Shape batch = new Shape(3).addAll(workload.inputShape().slice(1));
            NDArray x = manager.ones(batch);
            NDArray y =
                    model.getBlock()
                            .forward(new ParameterStore(manager, false), new NDList(x), false)
                            .head();
            assertEquals(
                    workload.classification() ? new Shape(3, 10) : new Shape(3, 784), y.getShape());
        }
    }
}
