package io.github.so4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.ProcessMemory;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.curvature.Devices;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.optimizers.SecondOrderOptimizer;
import java.io.IOException;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Soak: 10,000 steps of every so4j optimizer on the MLP workload (harness defaults, batch 128,
 * Fashion-MNIST, epochs cycling), through the harness's own training strategy. After a warm-up of
 * 500 steps the number of live NDArrays under the model's manager must not change at all, and the
 * process RSS may not grow by more than 64 MiB from the 2,000-step mark to the end (the allocator
 * keeps freed pages, so RSS is not exact; a leak of one batch-sized array per step, 400 KB, would
 * grow it by 3 GB). The figures are printed.
 *
 * <p>Not part of the default build: {@code mvn -B verify -Psoak -pl integration-tests -am}; the
 * step count can be lowered with {@code -Dso4j.soak.steps=N}, the optimizers chosen with {@code
 * -Dso4j.soak.optimizers=mfac,kfac}.
 */
@Tag("soak")
class SoakTest {

    private static final int WARM_UP = 500;
    private static final int RSS_FROM = 2000;
    private static final double RSS_SLACK_MB = 64;

    static Stream<String> optimizers() {
        OptimizerCatalog catalog = new OptimizerCatalog();
        String only = System.getProperty("so4j.soak.optimizers", "");
        return catalog.names().stream()
                .filter(name -> only.isEmpty() || List.of(only.split(",")).contains(name))
                .filter(
                        name ->
                                catalog.get(name).create(Workload.MLP, Map.of())
                                        instanceof SecondOrderOptimizer);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("optimizers")
    void liveArraysAndRssStayFlat(String name) throws IOException, TranslateException {
        int steps = Integer.getInteger("so4j.soak.steps", 10_000);
        OptimizerCatalog.Entry entry = new OptimizerCatalog().get(name);
        Optimizer optimizer = entry.create(Workload.MLP, Map.of());
        try (NDManager manager = NDManager.newBaseManager(Devices.preferred());
                Model model = Training.model(Workload.MLP, 0)) {
            model.setBlock(entry.strategy().prepare(model.getBlock(), optimizer));
            try (Trainer trainer =
                    model.newTrainer(
                            new DefaultTrainingConfig(Workload.MLP.newLoss())
                                    .optOptimizer(optimizer))) {
                trainer.initialize(new Shape(1, 784));
                FashionMnistDataset data =
                        Training.data(manager, Dataset.Usage.TRAIN, 60_000, true, 128);
                int warmArrays = -1;
                double rssAtMark = Double.NaN;
                int done = 0;
                while (done < steps) {
                    Iterator<Batch> batches = trainer.iterateDataset(data).iterator();
                    while (batches.hasNext() && done < steps) {
                        try (Batch batch = batches.next()) {
                            entry.strategy().step(trainer, batch, optimizer);
                        }
                        done++;
                        if (done == WARM_UP) {
                            warmArrays = LiveArrays.count(model.getNDManager());
                        }
                        if (done == Math.min(RSS_FROM, steps)) {
                            rssAtMark = ProcessMemory.currentRssMb();
                        }
                        if (done % 1000 == 0 || done == steps) {
                            System.out.printf(
                                    "soak %s step %d: live arrays %d, RSS %.0f MB, %s%n",
                                    name,
                                    done,
                                    LiveArrays.count(model.getNDManager()),
                                    ProcessMemory.currentRssMb(),
                                    ((SecondOrderOptimizer) optimizer).health());
                        }
                    }
                }
                double rssEnd = ProcessMemory.currentRssMb();
                assertEquals(warmArrays, LiveArrays.count(model.getNDManager()), "live arrays");
                assertTrue(
                        rssEnd - rssAtMark <= RSS_SLACK_MB,
                        "RSS grew from " + rssAtMark + " MB to " + rssEnd + " MB");
                assertEquals(0, ((SecondOrderOptimizer) optimizer).health().skippedSteps());
            }
        }
    }
}
