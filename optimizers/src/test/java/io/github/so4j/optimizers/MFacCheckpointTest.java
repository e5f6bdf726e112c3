package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import ai.djl.training.tracker.Tracker;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Checkpoint and resume of {@link MFac}: training k steps, saving, restoring into a fresh model and
 * optimizer and training n more gives bit for bit the weights of k + n uninterrupted steps; bad
 * checkpoints fail clearly and change nothing.
 */
class MFacCheckpointTest {

    private static final int K = 7;
    private static final int N = 6;

    /** GLOBAL window (m = 4 < k, so the ring has wrapped), momentum, weight decay, a schedule. */
    private static MFac global() {
        return MFac.builder()
                .optWindowSize(4)
                .optDamping(1e-2)
                .optMomentum(0.9f)
                .optWeightDecays(1e-3f)
                .optLearningRateTracker(
                        Tracker.factor().setBaseValue(0.05f).setFactor(0.9f).build())
                .build();
    }

    private static MFac perParameter() {
        return MFac.builder()
                .optWindowSize(3)
                .optDamping(1e-3)
                .optScope(MFac.Scope.PER_PARAMETER)
                .optLearningRate(0.01f)
                .build();
    }

    @Test
    void resumedGlobalTrainingIsBitIdenticalInFloat32() throws IOException {
        assertResumesBitIdentically(MFacCheckpointTest::global, DataType.FLOAT32);
    }

    @Test
    void resumedPerParameterTrainingIsBitIdenticalInFloat64() throws IOException {
        assertResumesBitIdentically(MFacCheckpointTest::perParameter, DataType.FLOAT64);
    }

    /**
     * Runs k + n steps in one go, and k steps, a checkpoint (DJL's parameters and the optimizer's
     * state) and n steps in a fresh net; the weights must agree exactly. A third run, from the same
     * parameters but with a fresh optimizer state, must differ: the optimizer's state matters, so
     * the comparison can fail.
     */
    static void assertResumesBitIdentically(
            Supplier<? extends SecondOrderOptimizer> optimizers, DataType type) throws IOException {
        Random data = new Random(3);
        double[][][][] batches = new double[K + N][][][];
        for (int i = 0; i < batches.length; i++) {
            batches[i] = TinyTanhNet.batch(data);
        }
        SecondOrderOptimizer first = optimizers.get();
        byte[] parameters;
        byte[] state;
        double[] uninterrupted;
        try (TinyTanhNet net = new TinyTanhNet(first, type)) {
            for (int i = 0; i < K; i++) {
                net.step(batches[i][0], batches[i][1]);
            }
            parameters = net.saveParameters();
            state = save(first, net);
            for (int i = K; i < K + N; i++) {
                net.step(batches[i][0], batches[i][1]);
            }
            uninterrupted = net.weights();
        }
        SecondOrderOptimizer resumed = optimizers.get();
        try (TinyTanhNet net = new TinyTanhNet(resumed, type, parameters)) {
            resumed.loadState(new ByteArrayInputStream(state), net.model.getBlock());
            assertEquals(K, resumed.health().steps());
            for (int i = K; i < K + N; i++) {
                net.step(batches[i][0], batches[i][1]);
            }
            assertArrayEquals(uninterrupted, net.weights(), 0.0);
            assertEquals(first.health(), resumed.health());
        }
        SecondOrderOptimizer forgetful = optimizers.get();
        try (TinyTanhNet net = new TinyTanhNet(forgetful, type, parameters)) {
            for (int i = K; i < K + N; i++) {
                net.step(batches[i][0], batches[i][1]);
            }
            assertFalse(
                    Arrays.equals(uninterrupted, net.weights()),
                    "without the optimizer's state the run should differ");
        }
    }

    static byte[] save(SecondOrderOptimizer optimizer, TinyTanhNet net) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        optimizer.saveState(out, net.model.getBlock());
        return out.toByteArray();
    }

    @Test
    void badCheckpointsFailClearlyAndChangeNothing() throws IOException {
        Random data = new Random(4);
        MFac trained = global();
        try (TinyTanhNet net = new TinyTanhNet(trained, DataType.FLOAT32)) {
            for (int i = 0; i < 3; i++) {
                double[][][] batch = TinyTanhNet.batch(data);
                net.step(batch[0], batch[1]);
            }
            byte[] good = save(trained, net);

            MFac target = perParameter();
            byte[] targetState;
            try (TinyTanhNet other = new TinyTanhNet(target, DataType.FLOAT32)) {
                double[][][] batch = TinyTanhNet.batch(data);
                other.step(batch[0], batch[1]);
                targetState = save(target, other);

                byte[] truncated = Arrays.copyOf(good, good.length / 2);
                IOException cut =
                        assertThrows(IOException.class, () -> load(target, other, truncated));
                assertEquals("optimizer checkpoint is truncated", cut.getMessage());

                byte[] corrupt = good.clone();
                corrupt[corrupt.length - 9] ^= 1; // a character of the last name, before the CRC
                IOException bad =
                        assertThrows(IOException.class, () -> load(target, other, corrupt));
                assertEquals(
                        "optimizer checkpoint is corrupt: its checksum does not match",
                        bad.getMessage());

                byte[] garbage =
                        "not a checkpoint".getBytes(java.nio.charset.StandardCharsets.UTF_8);
                IOException alien =
                        assertThrows(IOException.class, () -> load(target, other, garbage));
                assertEquals("not an so4j optimizer checkpoint", alien.getMessage());

                IllegalArgumentException scope =
                        assertThrows(
                                IllegalArgumentException.class, () -> load(target, other, good));
                assertEquals(
                        "the checkpoint holds GLOBAL windows, but this optimizer's scope is"
                                + " PER_PARAMETER",
                        scope.getMessage());

                assertArrayEquals(targetState, save(target, other), "a failed load changed state");
                assertEquals(1, target.health().steps());
            }

            MFac otherWindow = MFac.builder().optWindowSize(5).optMomentum(0.9f).build();
            try (TinyTanhNet other = new TinyTanhNet(otherWindow, DataType.FLOAT32)) {
                IllegalArgumentException window =
                        assertThrows(
                                IllegalArgumentException.class,
                                () -> load(otherWindow, other, good));
                assertEquals(
                        "the checkpoint's window holds 4 gradients, but this optimizer's"
                                + " windowSize is 5",
                        window.getMessage());
            }

            SubspaceNewton stranger = SubspaceNewton.builder().build();
            try (TinyTanhNet other = new TinyTanhNet(stranger, DataType.FLOAT32)) {
                IllegalArgumentException foreign =
                        assertThrows(
                                IllegalArgumentException.class, () -> load(stranger, other, good));
                assertEquals(
                        "the checkpoint was written by io.github.so4j.optimizers.MFac, not by"
                                + " io.github.so4j.optimizers.SubspaceNewton",
                        foreign.getMessage());
            }

            MFac wider = global();
            try (TinyTanhNet other = new TinyTanhNet(wider, DataType.FLOAT64)) {
                IllegalArgumentException model =
                        assertThrows(
                                IllegalArgumentException.class, () -> load(wider, other, good));
                assertTrue(
                        model.getMessage()
                                .startsWith(
                                        "the checkpoint was saved for another model: parameter '"),
                        model.getMessage());
                assertTrue(
                        model.getMessage()
                                .contains(
                                        "is float32 (4, 5) in the checkpoint but"
                                                + " float64 (4, 5) in the model"),
                        model.getMessage());
            }
        }
    }

    private static void load(SecondOrderOptimizer optimizer, TinyTanhNet net, byte[] bytes)
            throws IOException {
        optimizer.loadState(new ByteArrayInputStream(bytes), net.model.getBlock());
    }
}
