package io.github.so4j.it;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.compare.Evaluation;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.curvature.Devices;
import java.io.IOException;
import java.util.Iterator;
import org.junit.jupiter.api.Test;

/** The foundation's smoke test: DJL's own Adam, through EasyTrain, on real data. */
class AdamMlpTrainingTest {

    @Test
    void adamHalvesTheTrainingLossOfTheMlpIn200Steps() throws IOException, TranslateException {
        Engine.getInstance().setRandomSeed(0);
        try (NDManager manager = NDManager.newBaseManager(Devices.preferred());
                Model model = Model.newInstance("mlp", Devices.preferred())) {
            FashionMnistDataset train =
                    FashionMnistDataset.builder()
                            .setManager(manager)
                            .optSubset(2000)
                            .setSampling(128, true)
                            .build();
            train.prepare();
            model.setBlock(Workload.MLP.newBlock());
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Workload.MLP.newLoss())
                            .optOptimizer(
                                    Optimizer.adam()
                                            .optLearningRateTracker(Tracker.fixed(1e-3f))
                                            .build());
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(1, 784));
                double before = Evaluation.of(trainer, train, true).meanLoss();
                int steps = 0;
                while (steps < 200) {
                    Iterator<Batch> batches = trainer.iterateDataset(train).iterator();
                    while (batches.hasNext() && steps < 200) {
                        try (Batch batch = batches.next()) {
                            EasyTrain.trainBatch(trainer, batch);
                            trainer.step();
                            steps++;
                        }
                    }
                }
                double after = Evaluation.of(trainer, train, true).meanLoss();
                assertTrue(
                        after <= 0.5 * before,
                        "training loss went from " + before + " to " + after);
            }
        }
    }
}
