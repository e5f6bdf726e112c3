package io.github.so4j.it;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.curvature.Devices;
import java.io.IOException;
import java.util.Iterator;

/** Shared set-up of the end-to-end tests: Fashion-MNIST data and a DJL training loop. */
final class Training {

    private Training() {}

    /** A Fashion-MNIST split, flattened or not, the first {@code size} examples, seeded. */
    static FashionMnistDataset data(
            NDManager manager, Dataset.Usage usage, int size, boolean flat, int batch)
            throws IOException, TranslateException {
        FashionMnistDataset dataset =
                FashionMnistDataset.builder()
                        .setManager(manager)
                        .optUsage(usage)
                        .optSubset(size)
                        .optFlatten(flat)
                        .optSeed(0)
                        .setSampling(batch, true)
                        .build();
        dataset.prepare();
        return dataset;
    }

    /** A model of the workload on the preferred device, initialized with the given seed. */
    static Model model(Workload workload, int seed) {
        Engine.getInstance().setRandomSeed(seed);
        Model model = Model.newInstance(workload.id(), Devices.preferred());
        model.setBlock(workload.newBlock());
        return model;
    }

    /** A trainer of the workload's loss with the optimizer, initialized. */
    static Trainer trainer(Model model, Workload workload, Optimizer optimizer) {
        Trainer trainer =
                model.newTrainer(
                        new DefaultTrainingConfig(workload.newLoss()).optOptimizer(optimizer));
        trainer.initialize(workload.flatInput() ? new Shape(1, 784) : new Shape(1, 1, 28, 28));
        return trainer;
    }

    /** Exactly {@code steps} steps of EasyTrain.trainBatch then Trainer.step, cycling epochs. */
    static void train(Trainer trainer, FashionMnistDataset data, int steps)
            throws IOException, TranslateException {
        int done = 0;
        while (done < steps) {
            Iterator<Batch> batches = trainer.iterateDataset(data).iterator();
            while (batches.hasNext() && done < steps) {
                try (Batch batch = batches.next()) {
                    EasyTrain.trainBatch(trainer, batch);
                    trainer.step();
                    done++;
                }
            }
        }
    }
}
