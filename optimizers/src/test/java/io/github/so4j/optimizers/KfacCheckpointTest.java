package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.kfac.InversionMode;
import io.github.so4j.optimizers.kfac.FirstOrderRule;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Checkpoint and resume of {@link Kfac}: training k steps, saving, restoring into a fresh model and
 * optimizer and training n more gives bit for bit the weights of k + n uninterrupted steps (running
 * factors, last inverses, momenta, the uncovered rule's state and the update counters all restored;
 * the health reports agree but for the count of host reads, which is this process's); a checkpoint
 * that does not fit fails clearly and changes nothing.
 */
class KfacCheckpointTest {

    private static final int K = 7;
    private static final int N = 6;

    /**
     * Factors every 2 steps and inverses every 3, so that after k = 7 the next of each is due at a
     * step the resumed run must find from the restored counters; momentum, decoupled weight decay,
     * a learning-rate schedule and an active KL clip.
     */
    private static Kfac inverseMode() {
        return Kfac.builder()
                .optFactorUpdateFrequency(2)
                .optInverseUpdateFrequency(3)
                .optDamping(1e-2f)
                .optKlClip(1e-3f)
                .optMomentum(0.9f)
                .optWeightDecays(1e-3f)
                .optLearningRateTracker(
                        Tracker.factor().setBaseValue(0.05f).setFactor(0.9f).build())
                .build();
    }

    /** EIGEN inversion, L2 weight decay and Adam for the LayerNorm that K-FAC does not cover. */
    private static Kfac eigenModeWithAdam() {
        return Kfac.builder()
                .optInversion(InversionMode.EIGEN)
                .optWeightDecayMode(Kfac.WeightDecay.L2)
                .optWeightDecays(1e-3f)
                .optUncoveredRule(FirstOrderRule.adam(0.1f))
                .optFactorUpdateFrequency(1)
                .optInverseUpdateFrequency(4)
                .optDamping(1e-2f)
                .optLearningRate(0.05f)
                .build();
    }

    /**
     * LOW_RANK at k = 2: on the test MLP every factor but the last layer's 3 x 3 G keeps two
     * eigenpairs; momentum and factors every 2 steps, inverses every 3.
     */
    private static Kfac lowRankMode() {
        return Kfac.builder()
                .optInversion(InversionMode.LOW_RANK)
                .optFactorRank(2)
                .optFactorUpdateFrequency(2)
                .optInverseUpdateFrequency(3)
                .optDamping(1e-2f)
                .optMomentum(0.9f)
                .optLearningRate(0.05f)
                .build();
    }

    private static Block withLayerNorm() {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(6).build())
                .add(LayerNorm.builder().build())
                .add(Activation::tanh)
                .add(Linear.builder().setUnits(3).build());
    }

    @Test
    void resumedMlpTrainingIsBitIdenticalInFloat32() throws IOException {
        assertResumesBitIdentically(
                KfacCheckpointTest::inverseMode,
                KfacNet::mlp,
                KfacNet.mlpInput(8),
                DataType.FLOAT32);
    }

    @Test
    void resumedCnnTrainingIsBitIdenticalInFloat64() throws IOException {
        assertResumesBitIdentically(
                KfacCheckpointTest::inverseMode,
                KfacNet::cnn,
                KfacNet.cnnInput(4),
                DataType.FLOAT64);
    }

    @Test
    void resumedLowRankTrainingIsBitIdenticalInFloat32() throws IOException {
        assertResumesBitIdentically(
                KfacCheckpointTest::lowRankMode,
                KfacNet::mlp,
                KfacNet.mlpInput(8),
                DataType.FLOAT32);
    }

    @Test
    void resumedEigenTrainingWithAdamForUncoveredParametersIsBitIdentical() throws IOException {
        assertResumesBitIdentically(
                KfacCheckpointTest::eigenModeWithAdam,
                KfacCheckpointTest::withLayerNorm,
                KfacNet.mlpInput(8),
                DataType.FLOAT64);
    }

    /**
     * Runs k + n steps in one go; at step k saves the optimizer's state, copies the parameters into
     * a fresh net with a fresh optimizer that loads the state, and runs the same n batches there:
     * the weights must agree exactly. A third net, from the same parameters with a fresh optimizer
     * and no state, must differ, so the comparison can fail.
     */
    private static void assertResumesBitIdentically(
            Supplier<Kfac> optimizers, Supplier<Block> blocks, Shape shape, DataType type)
            throws IOException {
        Random data = new Random(3);
        double[][][] batches = new double[K + N][][];
        for (int i = 0; i < batches.length; i++) {
            batches[i] = KfacNet.batch(data, shape);
        }
        Kfac first = optimizers.get();
        Kfac resumed = optimizers.get();
        Kfac forgetful = optimizers.get();
        try (KfacNet net = new KfacNet(blocks.get(), first::instrument, first, type, shape);
                KfacNet restored =
                        new KfacNet(blocks.get(), resumed::instrument, resumed, type, shape);
                KfacNet fresh =
                        new KfacNet(blocks.get(), forgetful::instrument, forgetful, type, shape)) {
            for (int i = 0; i < K; i++) {
                net.step(batches[i]);
            }
            byte[] state = save(first, net);
            restored.copyFrom(net);
            fresh.copyFrom(net);
            resumed.loadState(new ByteArrayInputStream(state), restored.block);
            assertEquals(K, resumed.health().steps());
            for (int i = K; i < K + N; i++) {
                net.step(batches[i]);
                restored.step(batches[i]);
                fresh.step(batches[i]);
            }
            Map<String, double[]> expected = net.weights();
            Map<String, double[]> actual = restored.weights();
            assertEquals(expected.keySet(), actual.keySet());
            for (String name : expected.keySet()) {
                assertArrayEquals(expected.get(name), actual.get(name), 0.0, name);
            }
            assertEquals(withoutHostReads(first.health()), withoutHostReads(resumed.health()));
            assertEquals(first.kroneckerHealth(), resumed.kroneckerHealth());
            boolean same = true;
            for (String name : expected.keySet()) {
                same &= Arrays.equals(expected.get(name), fresh.weights().get(name));
            }
            assertFalse(same, "without the optimizer's state the run should differ");
        }
    }

    /**
     * The health report without its count of host reads, which counts this process's reads (the
     * resumed optimizer made none before the checkpoint) rather than state.
     */
    private static OptimizerHealth withoutHostReads(OptimizerHealth health) {
        return new OptimizerHealth(
                health.steps(),
                health.skippedSteps(),
                health.nonFiniteGradientSteps(),
                health.rejectedStatisticsSteps(),
                health.restarts(),
                health.lastProblem(),
                new OptimizerHealth.HostReadCount(0, 0),
                health.curvature());
    }

    private static byte[] save(SecondOrderOptimizer optimizer, KfacNet net) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        optimizer.saveState(out, net.block);
        return out.toByteArray();
    }

    /**
     * A checkpoint of another architecture, or of another optimizer, is refused with a message that
     * says why, and the optimizer that refused it trains exactly as one that never saw it.
     */
    @Test
    void mismatchedCheckpointsFailClearlyAndChangeNothing() throws IOException {
        Random data = new Random(4);
        Shape shape = KfacNet.mlpInput(8);
        double[][][] batches = new double[4][][];
        for (int i = 0; i < batches.length; i++) {
            batches[i] = KfacNet.batch(data, shape);
        }
        Kfac other = inverseMode();
        byte[] otherModel;
        try (KfacNet net =
                new KfacNet(withLayerNorm(), other::instrument, other, DataType.FLOAT32, shape)) {
            net.step(batches[0]);
            otherModel = save(other, net);
        }
        MFac mfac = MFac.builder().optWindowSize(2).optDamping(1e-2).build();
        byte[] otherOptimizer;
        try (KfacNet net = new KfacNet(KfacNet.mlp(), b -> b, mfac, DataType.FLOAT32, shape)) {
            net.step(batches[0]);
            otherOptimizer = save(mfac, net);
        }
        Kfac target = inverseMode();
        Kfac control = inverseMode();
        try (KfacNet net =
                        new KfacNet(
                                KfacNet.mlp(),
                                target::instrument,
                                target,
                                DataType.FLOAT32,
                                shape);
                KfacNet twin =
                        new KfacNet(
                                KfacNet.mlp(),
                                control::instrument,
                                control,
                                DataType.FLOAT32,
                                shape)) {
            twin.copyFrom(net);
            net.step(batches[1]);
            twin.step(batches[1]);
            IllegalArgumentException model =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    target.loadState(
                                            new ByteArrayInputStream(otherModel), net.block));
            assertTrue(model.getMessage().contains("02LayerNorm_gamma"), model.getMessage());
            IllegalArgumentException optimizer =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    target.loadState(
                                            new ByteArrayInputStream(otherOptimizer), net.block));
            assertEquals(
                    "the checkpoint was written by io.github.so4j.optimizers.MFac, not by"
                            + " io.github.so4j.optimizers.Kfac",
                    optimizer.getMessage());
            for (int i = 2; i < batches.length; i++) {
                net.step(batches[i]);
                twin.step(batches[i]);
            }
            for (String name : net.weights().keySet()) {
                assertArrayEquals(twin.weights().get(name), net.weights().get(name), 0.0, name);
            }
        }
    }
}
