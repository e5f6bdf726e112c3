package io.github.so4j.it;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.curvature.Devices;
import io.github.so4j.optimizers.Kfac;
import java.util.Locale;

/**
 * The short runs behind the recommended K-FAC defaults for the {@code mlp} workload (not a test):
 * one epoch (469 steps of 128, as {@code ./so4j compare}) per setting, printing the final training
 * loss over the 60,000 images and the test accuracy. Arguments: {@code seed damping lr klClip
 * factorFrequency inverseFrequency} tuples, or {@code adam seed lr}; each run's line is printed as
 * it finishes.
 */
final class KfacMlpSweep {

    private KfacMlpSweep() {}

    /**
     * Runs the settings given as arguments.
     *
     * @param args settings, e.g. {@code 0 1e-3 0.05 1e-3 10 100}
     * @throws Exception if the data cannot be read
     */
    public static void main(String[] args) throws Exception {
        try (NDManager manager = NDManager.newBaseManager(Devices.preferred())) {
            FashionMnistDataset train = load(manager, Dataset.Usage.TRAIN);
            FashionMnistDataset test = load(manager, Dataset.Usage.TEST);
            for (String arg : args) {
                String[] p = arg.split(",");
                long seed = Long.parseLong(p[1]);
                Optimizer optimizer;
                if (p[0].equals("adam")) {
                    optimizer =
                            Optimizer.adam()
                                    .optLearningRateTracker(Tracker.fixed(Float.parseFloat(p[2])))
                                    .build();
                } else {
                    optimizer =
                            Kfac.builder()
                                    .optDamping(Float.parseFloat(p[2]))
                                    .optLearningRate(Float.parseFloat(p[3]))
                                    .optKlClip(Float.parseFloat(p[4]))
                                    .optFactorUpdateFrequency(Integer.parseInt(p[5]))
                                    .optInverseUpdateFrequency(Integer.parseInt(p[6]))
                                    .optMomentum(p.length > 7 ? Float.parseFloat(p[7]) : 0.9f)
                                    .build();
                }
                long start = System.nanoTime();
                KfacWorkloads.Result r =
                        KfacWorkloads.train(
                                Workload.MLP::newBlock,
                                Workload.MLP.newLoss(),
                                optimizer,
                                new Shape(1, 784),
                                train,
                                test,
                                469,
                                128,
                                seed,
                                true);
                System.out.printf(
                        Locale.ROOT,
                        "%s train_loss=%.4f test_loss=%.4f test_acc=%.4f (%.0f s)%n",
                        arg,
                        r.trainLoss(),
                        r.testLoss(),
                        r.testAccuracy(),
                        (System.nanoTime() - start) / 1e9);
            }
        }
    }

    private static FashionMnistDataset load(NDManager manager, Dataset.Usage usage)
            throws Exception {
        FashionMnistDataset dataset =
                FashionMnistDataset.builder()
                        .setManager(manager)
                        .optUsage(usage)
                        .optFlatten(true)
                        .setSampling(128, false)
                        .build();
        dataset.prepare();
        return dataset;
    }
}
