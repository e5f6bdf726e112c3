package io.github.so4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.curvature.Devices;
import io.github.so4j.curvature.kfac.KroneckerHealth;
import io.github.so4j.optimizers.Kfac;
import java.io.IOException;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/** K-FAC on a 10-class CNN on Fashion-MNIST, with its convolutions preconditioned (KFC). */
class KfacCnnTrainingTest {

    private static final int STEPS = 60;
    private static final int BATCH = 64;

    /**
     * {@link KfacWorkloads#cnn()} trained for 60 steps of 64 on the first 3,000 training images
     * (about 1.3 epochs of the subset), then evaluated on them and on the first 1,000 test images.
     * Both convolutions and the dense layer are covered and their factors updated every 10 steps (6
     * times each, none rejected, no inversion failing). K-FAC (damping 0.1, learning rate 0.1, the
     * other settings default) must reach a lower training loss than SGD with momentum 0.9 at the
     * best learning rate of {0.02, 0.05, 0.1}, trained from the same initialization on the same
     * batches, and a test accuracy above 75%.
     */
    @Test
    void kfacTrainsACnnWithItsConvolutionsCoveredFasterThanSgd()
            throws IOException, TranslateException {
        try (NDManager manager = NDManager.newBaseManager(Devices.preferred())) {
            FashionMnistDataset train =
                    Training.data(manager, Dataset.Usage.TRAIN, 3000, false, BATCH);
            FashionMnistDataset test =
                    Training.data(manager, Dataset.Usage.TEST, 1000, false, BATCH);
            Kfac kfac = Kfac.builder().optDamping(0.1f).optLearningRate(0.1f).build();
            KfacWorkloads.Result result = run(kfac, train, test);
            assertEquals(
                    List.of("01Conv2d", "04Conv2d", "08Linear"),
                    kfac.instrumentation().coverage().layers());
            assertEquals(List.of(), kfac.instrumentation().coverage().uncoveredParameters());
            KroneckerHealth health = kfac.kroneckerHealth();
            assertEquals(3 * STEPS / 10, health.factorUpdates());
            assertEquals(0, health.rejectedFactorUpdates());
            assertEquals(0, health.failedRefreshes());
            assertEquals(0, kfac.health().skippedSteps());
            double bestSgd = Double.POSITIVE_INFINITY;
            for (float lr : new float[] {0.02f, 0.05f, 0.1f}) {
                Optimizer sgd =
                        Optimizer.sgd()
                                .setLearningRateTracker(Tracker.fixed(lr))
                                .optMomentum(0.9f)
                                .build();
                KfacWorkloads.Result r = run(sgd, train, test);
                System.out.printf(
                        Locale.ROOT,
                        "sgd lr %s: train loss %.4f, test accuracy %.4f%n",
                        lr,
                        r.trainLoss(),
                        r.testAccuracy());
                bestSgd = Math.min(bestSgd, r.trainLoss());
            }
            System.out.printf(
                    Locale.ROOT,
                    "kfac: train loss %.4f, test accuracy %.4f%n",
                    result.trainLoss(),
                    result.testAccuracy());
            assertTrue(
                    result.trainLoss() < bestSgd,
                    "K-FAC " + result.trainLoss() + " vs SGD's best " + bestSgd);
            assertTrue(result.testAccuracy() > 0.75, "test accuracy " + result.testAccuracy());
        }
    }

    private static KfacWorkloads.Result run(
            Optimizer optimizer, FashionMnistDataset train, FashionMnistDataset test)
            throws IOException, TranslateException {
        return KfacWorkloads.train(
                KfacWorkloads::cnn,
                Loss.softmaxCrossEntropyLoss(),
                optimizer,
                new Shape(1, 1, 28, 28),
                train,
                test,
                STEPS,
                BATCH,
                0,
                true);
    }
}
