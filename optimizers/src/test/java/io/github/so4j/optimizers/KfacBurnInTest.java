package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.dataset.Batch;
import ai.djl.translate.Batchifier;
import io.github.so4j.curvature.kfac.KroneckerFactors;
import io.github.so4j.curvature.testing.Tolerances;
import io.github.so4j.optimizers.kfac.CapturedLayer;
import io.github.so4j.optimizers.kfac.LabelSampler;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * K-FAC's burn-in on the 4-6-5-3 tanh MLP in float64: the weights stay bit for bit, the factors
 * after three burn-in batches are the debiased moving average of the three batches' statistics
 * (each taken from a fresh optimizer that burned in on that batch alone, at the same weights, and
 * combined in plain Java), one burn-in batch gives the factors of one factor step at learning rate
 * 0 (the path {@code KfacFactorsTest} checks against per-example brute force), and a batch with a
 * NaN leaves no trace.
 */
class KfacBurnInTest {

    private static final int BATCH = 8;
    private static final double DECAY = 0.9;
    private static final Shape INPUT = KfacNet.mlpInput(BATCH);

    private static Kfac kfac() {
        return Kfac.builder()
                .optLearningRate(0)
                .optFactorUpdateFrequency(1)
                .optFactorDecay(DECAY)
                .build();
    }

    private static KfacNet net(Kfac kfac) {
        return new KfacNet(KfacNet.mlp(), kfac::instrument, kfac, DataType.FLOAT64, INPUT);
    }

    private static Batch batch(NDManager manager, double[][] xy) {
        NDArray x = manager.create(xy[0], INPUT);
        NDArray y = manager.create(xy[1]);
        return new Batch(
                manager,
                new NDList(x),
                new NDList(y),
                BATCH,
                Batchifier.STACK,
                Batchifier.STACK,
                0,
                0);
    }

    /** Every covered layer's factors, A then G, as doubles. */
    private static List<double[]> factors(Kfac kfac) {
        List<double[]> values = new ArrayList<>();
        for (CapturedLayer layer : kfac.instrumentation().layers()) {
            KroneckerFactors f = kfac.curvatureBlock(layer).factors();
            values.add(KfacNet.doubles(f.inputFactor()));
            values.add(KfacNet.doubles(f.outputFactor()));
        }
        return values;
    }

    @Test
    void factorsAreTheMovingAverageOfTheBatchesAndTheWeightsStay() {
        Random random = new Random(7);
        double[][][] batches = {
            KfacNet.batch(random, INPUT), KfacNet.batch(random, INPUT), KfacNet.batch(random, INPUT)
        };
        Kfac kfac = kfac();
        try (KfacNet net = net(kfac);
                NDManager manager = net.trainer.getManager().newSubManager()) {
            Map<String, double[]> before = net.weights();
            List<List<double[]>> single = new ArrayList<>();
            for (double[][] b : batches) {
                Kfac alone = kfac();
                try (KfacNet copy = net(alone)) {
                    copy.copyFrom(net);
                    alone.burnIn(copy.trainer, batch(manager, b));
                    single.add(factors(alone));
                }
            }
            for (double[][] b : batches) {
                kfac.burnIn(net.trainer, batch(manager, b));
            }
            assertEquals(3, kfac.burnInBatches());
            Map<String, double[]> after = net.weights();
            for (Map.Entry<String, double[]> e : before.entrySet()) {
                assertArrayEquals(e.getValue(), after.get(e.getKey()), 0.0, e.getKey());
            }
            for (Parameter p : net.block.getParameters().values()) {
                double[] g = KfacNet.doubles(p.getArray().getGradient());
                assertArrayEquals(new double[g.length], g, 0.0, "gradient left by burn-in");
            }
            // w1 = 1, w2 = rho + 1, w3 = rho^2 + rho + 1: the debiased average weighs the batches
            // rho^2, rho, 1 over w3
            double w = DECAY * DECAY + DECAY + 1;
            List<double[]> actual = factors(kfac);
            for (int f = 0; f < actual.size(); f++) {
                double[] expected = new double[actual.get(f).length];
                for (int i = 0; i < expected.length; i++) {
                    expected[i] =
                            (DECAY * DECAY * single.get(0).get(f)[i]
                                            + DECAY * single.get(1).get(f)[i]
                                            + single.get(2).get(f)[i])
                                    / w;
                }
                assertClose(expected, actual.get(f), "factor " + f);
            }
        }
    }

    @Test
    void oneBurnInBatchGivesTheFactorsOfOneFactorStep() {
        double[][] b = KfacNet.batch(new Random(8), INPUT);
        Kfac burnt = kfac();
        Kfac stepped = kfac();
        try (KfacNet net = net(burnt);
                KfacNet other = net(stepped);
                NDManager manager = net.trainer.getManager().newSubManager()) {
            other.copyFrom(net);
            burnt.burnIn(net.trainer, batch(manager, b));
            other.step(b);
            List<double[]> expected = factors(stepped);
            List<double[]> actual = factors(burnt);
            for (int f = 0; f < expected.size(); f++) {
                assertClose(expected.get(f), actual.get(f), "factor " + f);
            }
        }
    }

    @Test
    void aBatchWithANanLeavesNoTrace() {
        Random random = new Random(9);
        Kfac kfac = kfac();
        try (KfacNet net = net(kfac);
                NDManager manager = net.trainer.getManager().newSubManager()) {
            kfac.burnIn(net.trainer, batch(manager, KfacNet.batch(random, INPUT)));
            kfac.burnIn(net.trainer, batch(manager, KfacNet.batch(random, INPUT)));
            List<double[]> before = factors(kfac);
            Map<String, double[]> weights = net.weights();
            double[][] poisoned = KfacNet.batch(random, INPUT);
            poisoned[0][3] = Double.NaN;
            kfac.burnIn(net.trainer, batch(manager, poisoned));
            List<double[]> after = factors(kfac);
            for (int f = 0; f < before.size(); f++) {
                assertArrayEquals(before.get(f), after.get(f), 0.0, "factor " + f);
            }
            for (Map.Entry<String, double[]> e : weights.entrySet()) {
                assertArrayEquals(e.getValue(), net.weights().get(e.getKey()), 0.0, e.getKey());
            }
            // the next batch is folded in as if the poisoned one had never come
            double[][] next = KfacNet.batch(random, INPUT);
            kfac.burnIn(net.trainer, batch(manager, next));
            assertTrue(factors(kfac).stream().allMatch(KfacBurnInTest::finite));
        }
    }

    @Test
    void theSamplerMustMatchTheFisher() {
        Kfac empirical = kfac();
        Kfac monteCarlo =
                Kfac.builder().optLearningRate(0).optFisher(Kfac.Fisher.MONTE_CARLO).build();
        try (KfacNet net = net(empirical);
                KfacNet sampled = net(monteCarlo);
                NDManager manager = net.trainer.getManager().newSubManager()) {
            Batch b = batch(manager, KfacNet.batch(new Random(10), INPUT));
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    empirical.burnIn(
                                            net.trainer, b, LabelSampler.softmaxCrossEntropy()));
            assertTrue(e.getMessage().contains("sampler"), e.getMessage());
            IllegalStateException s =
                    assertThrows(
                            IllegalStateException.class,
                            () -> monteCarlo.burnIn(sampled.trainer, b));
            assertTrue(s.getMessage().contains("sampler"), s.getMessage());
            monteCarlo.burnIn(sampled.trainer, b, LabelSampler.softmaxCrossEntropy());
            assertTrue(factors(monteCarlo).stream().allMatch(KfacBurnInTest::finite));
        }
    }

    private static boolean finite(double[] values) {
        for (double v : values) {
            if (!Double.isFinite(v)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Both sides are float64 sums of the same few products in another order (or the same ones):
     * {@link Tolerances#FLOAT64_RELATIVE} of the largest entry.
     */
    private static void assertClose(double[] expected, double[] actual, String what) {
        double scale = 0;
        for (double v : expected) {
            scale = Math.max(scale, Math.abs(v));
        }
        assertArrayEquals(expected, actual, Tolerances.FLOAT64_RELATIVE * scale, what);
    }
}
