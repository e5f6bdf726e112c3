package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.types.DataType;
import ai.djl.training.tracker.Tracker;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Checkpoint and resume of {@link Shampoo}: k steps, a checkpoint, n more steps in a fresh net and
 * optimizer give bit for bit the weights of k + n uninterrupted steps (the shared check of {@link
 * MFacCheckpointTest#assertResumesBitIdentically}, which also shows that a fresh optimizer state
 * would differ); checkpoints of other settings are refused by name and change nothing.
 */
class ShampooCheckpointTest {

    /**
     * Everything that has state on: exponential statistics with bias correction, roots every 2
     * steps (computed on both sides of the checkpoint at step 7), Adam grafting, Nesterov momentum,
     * weight decay, a learning-rate schedule; the 4 x 5 weight in 2 x 3 blocks of 2 x 2 (padded).
     */
    private static Shampoo everything() {
        return Shampoo.builder()
                .optMaxPreconditionerDim(2)
                .optBeta2(0.9)
                .optPreconditionFrequency(2)
                .optMomentum(0.9f)
                .optNesterov(true)
                .optWeightDecays(1e-3f)
                .optLearningRateTracker(
                        Tracker.factor().setBaseValue(0.05f).setFactor(0.9f).build())
                .build();
    }

    /** Running sums, AdaGrad grafting, no momentum, no filter, one block per factor. */
    private static Shampoo adagrad() {
        return Shampoo.builder()
                .optBeta1(0)
                .optGrafting(Grafting.ADAGRAD)
                .optPreconditionFrequency(3)
                .optLearningRate(0.05f)
                .build();
    }

    @Test
    void resumedTrainingIsBitIdenticalInFloat32() throws IOException {
        MFacCheckpointTest.assertResumesBitIdentically(
                ShampooCheckpointTest::everything, DataType.FLOAT32);
    }

    @Test
    void resumedAdagradTrainingIsBitIdenticalInFloat64() throws IOException {
        MFacCheckpointTest.assertResumesBitIdentically(
                ShampooCheckpointTest::adagrad, DataType.FLOAT64);
    }

    /** The counters of the root computations travel with the state. */
    @Test
    void rootHealthIsRestored() throws IOException {
        Random data = new Random(5);
        Shampoo trained = everything();
        try (TinyTanhNet net = new TinyTanhNet(trained, DataType.FLOAT32)) {
            for (int i = 0; i < 5; i++) {
                double[][][] batch = TinyTanhNet.batch(data);
                net.step(batch[0], batch[1]);
            }
            byte[] state = MFacCheckpointTest.save(trained, net);
            Shampoo resumed = everything();
            try (TinyTanhNet other = new TinyTanhNet(resumed, DataType.FLOAT32)) {
                resumed.loadState(new ByteArrayInputStream(state), other.model.getBlock());
                assertEquals(2 * 2, trained.rootHealth().computations());
                assertEquals(trained.rootHealth(), resumed.rootHealth());
            }
        }
    }

    @Test
    void checkpointsOfOtherSettingsFailByNameAndChangeNothing() throws IOException {
        Random data = new Random(6);
        Shampoo trained = everything();
        try (TinyTanhNet net = new TinyTanhNet(trained, DataType.FLOAT32)) {
            for (int i = 0; i < 3; i++) {
                double[][][] batch = TinyTanhNet.batch(data);
                net.step(batch[0], batch[1]);
            }
            byte[] good = MFacCheckpointTest.save(trained, net);

            Shampoo wider = Shampoo.builder().optMomentum(0.9f).optBeta2(0.9).build();
            try (TinyTanhNet other = new TinyTanhNet(wider, DataType.FLOAT32)) {
                double[][][] batch = TinyTanhNet.batch(data);
                other.step(batch[0], batch[1]);
                byte[] before = MFacCheckpointTest.save(wider, other);
                IllegalArgumentException blocks =
                        assertThrows(
                                IllegalArgumentException.class, () -> load(wider, other, good));
                assertEquals(
                        "the saved left statistics of 01Linear_weight are float32 (6, 2, 2), but"
                                + " this preconditioner's are float32 (1, 4, 4)",
                        blocks.getMessage());
                assertArrayEquals(
                        before, MFacCheckpointTest.save(wider, other), "a failed load changed it");
                assertEquals(1, wider.health().steps());
            }

            Shampoo still = Shampoo.builder().optMaxPreconditionerDim(2).optBeta2(0.9).build();
            try (TinyTanhNet other = new TinyTanhNet(still, DataType.FLOAT32)) {
                IllegalArgumentException momentum =
                        assertThrows(
                                IllegalArgumentException.class, () -> load(still, other, good));
                assertEquals(
                        "the checkpoint keeps [momentum/velocity] for the update of each"
                                + " parameter, but this optimizer's settings keep []",
                        momentum.getMessage());
            }
        }
    }

    private static void load(Shampoo optimizer, TinyTanhNet net, byte[] bytes) throws IOException {
        optimizer.loadState(new ByteArrayInputStream(bytes), net.model.getBlock());
    }
}
