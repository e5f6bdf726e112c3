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
import io.github.so4j.bench.compare.Evaluation;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.curvature.Devices;
import io.github.so4j.optimizers.SecondOrderOptimizer;
import java.io.IOException;
import java.util.Iterator;
import java.util.function.Function;

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

    /**
     * The best training loss over learning rates: for each rate, {@code steps} steps of batch 128
     * on the first {@code subset} training examples from the same initialization (seed 0) and batch
     * order, then the mean loss over the whole subset; a diverged run counts as infinite.
     */
    static double bestMlpLoss(
            Function<Float, Optimizer> optimizer, int subset, int steps, float... rates)
            throws IOException, TranslateException {
        double best = Double.POSITIVE_INFINITY;
        for (float lr : rates) {
            Optimizer o = optimizer.apply(lr);
            try (NDManager manager = NDManager.newBaseManager(Devices.preferred());
                    Model model = model(Workload.MLP, 0);
                    Trainer trainer = trainer(model, Workload.MLP, o)) {
                if (o instanceof SecondOrderOptimizer second) {
                    second.nameParameters(model.getBlock());
                }
                FashionMnistDataset data = data(manager, Dataset.Usage.TRAIN, subset, true, 128);
                train(trainer, data, steps);
                double loss = Evaluation.of(trainer, data, true).meanLoss();
                best = Math.min(best, Double.isNaN(loss) ? Double.POSITIVE_INFINITY : loss);
            }
        }
        return best;
    }
}
