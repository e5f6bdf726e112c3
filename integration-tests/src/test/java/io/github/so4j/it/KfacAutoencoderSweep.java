package io.github.so4j.it;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.listener.TrainingListenerAdapter;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.Devices;
import io.github.so4j.optimizers.Kfac;
import java.util.Locale;

/**
 * Short autoencoder runs for choosing the integration test's setting and learning-rate grids (not a
 * test). System properties {@code steps}, {@code subset}, {@code batch}, {@code divisor}; arguments
 * {@code sgd,lr,momentum}, {@code adam,lr} or {@code kfac,damping,lr,klClip,factorFrequency,
 * inverseFrequency[,momentum]}; prints the training loss over the subset after the steps.
 */
final class KfacAutoencoderSweep {

    private KfacAutoencoderSweep() {}

    /**
     * Runs the settings given as arguments.
     *
     * @param args the settings
     * @throws Exception if the data cannot be read
     */
    public static void main(String[] args) throws Exception {
        int steps = Integer.getInteger("steps", 100);
        int subset = Integer.getInteger("subset", 2000);
        int batch = Integer.getInteger("batch", 128);
        int divisor = Integer.getInteger("divisor", 1);
        try (NDManager manager = NDManager.newBaseManager(Devices.preferred())) {
            RandomAccessDataset train = KfacWorkloads.images(manager, Dataset.Usage.TRAIN, subset);
            for (String arg : args) {
                String[] p = arg.split(",");
                Optimizer optimizer;
                switch (p[0]) {
                    case "sgd":
                        optimizer =
                                Optimizer.sgd()
                                        .setLearningRateTracker(
                                                Tracker.fixed(Float.parseFloat(p[1])))
                                        .optMomentum(Float.parseFloat(p[2]))
                                        .build();
                        break;
                    case "adam":
                        optimizer =
                                Optimizer.adam()
                                        .optLearningRateTracker(
                                                Tracker.fixed(Float.parseFloat(p[1])))
                                        .build();
                        break;
                    default:
                        optimizer =
                                Kfac.builder()
                                        .optDamping(Float.parseFloat(p[1]))
                                        .optLearningRate(Float.parseFloat(p[2]))
                                        .optKlClip(Float.parseFloat(p[3]))
                                        .optFactorUpdateFrequency(Integer.parseInt(p[4]))
                                        .optInverseUpdateFrequency(Integer.parseInt(p[5]))
                                        .optMomentum(p.length > 6 ? Float.parseFloat(p[6]) : 0.9f)
                                        .build();
                }
                long start = System.nanoTime();
                KfacWorkloads.Result r =
                        KfacWorkloads.train(
                                () -> KfacWorkloads.autoencoder(divisor),
                                new KfacWorkloads.PixelCrossEntropy(),
                                optimizer,
                                new Shape(1, 784),
                                train,
                                null,
                                steps,
                                batch,
                                0,
                                false,
                                progress(Integer.getInteger("every", 0)));
                System.out.printf(
                        Locale.ROOT,
                        "%s divisor=%d steps=%d subset=%d batch=%d train_loss=%.3f (%.0f s)%n",
                        arg,
                        divisor,
                        steps,
                        subset,
                        batch,
                        r.trainLoss(),
                        (System.nanoTime() - start) / 1e9);
            }
        }
    }

    /** Prints the batch loss every {@code every} steps (never when 0). */
    private static TrainingListener progress(int every) {
        return new TrainingListenerAdapter() {
            private int step;

            @Override
            public void onTrainingBatch(Trainer trainer, BatchData batchData) {
                step++;
                if (every > 0 && step % every == 0) {
                    for (var entry : batchData.getPredictions().entrySet()) {
                        NDList labels = batchData.getLabels().get(entry.getKey());
                        try (NDArray loss = trainer.getLoss().evaluate(labels, entry.getValue())) {
                            System.out.printf(
                                    Locale.ROOT,
                                    "  step %d batch loss %.2f%n",
                                    step,
                                    loss.getFloat());
                        }
                    }
                }
            }
        };
    }
}
