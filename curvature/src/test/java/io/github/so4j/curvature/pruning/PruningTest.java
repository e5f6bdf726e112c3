package io.github.so4j.curvature.pruning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.HalfSquaredErrorLoss;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Pruning on a two-layer linear model (weights 3x4 and 2x3, 18 prunable entries) whose gradients
 * are set directly, so that the Fisher is known: the oracle forms it densely in float64 and applies
 * the OBS rule with Commons Math.
 */
class PruningTest {

    private Model model;
    private Trainer trainer;
    private PrunableWeights weights;

    @BeforeEach
    void open() {
        model = Model.newInstance("pruning");
        model.setDataType(DataType.FLOAT64);
        model.setBlock(
                new SequentialBlock()
                        .add(Linear.builder().setUnits(3).build())
                        .add(Linear.builder().setUnits(2).build()));
        trainer = model.newTrainer(new DefaultTrainingConfig(new HalfSquaredErrorLoss()));
        trainer.initialize(new Shape(1, 4));
        // PyTorch allocates a parameter's gradient at its first backward pass; before that,
        // getGradient() returns a fresh array, so writes to it would be lost.
        try (NDManager scope = NDManager.newBaseManager();
                GradientCollector collector = trainer.newGradientCollector()) {
            NDArray x = scope.ones(new Shape(1, 4), DataType.FLOAT64);
            collector.backward(trainer.forward(new NDList(x)).head().sum());
        }
        weights = PrunableWeights.weightsOf(model.getBlock());
    }

    @AfterEach
    void close() {
        weights.close();
        trainer.close();
        model.close();
    }

    @Test
    void selectsTheWeightMatricesOnly() {
        assertEquals(18, weights.dimension());
        assertEquals(2, weights.names().size());
        assertTrue(
                weights.names().stream().allMatch(n -> n.endsWith("weight")), "" + weights.names());
        assertEquals(0.0, weights.sparsity());
    }

    /**
     * One OBS step over one block of size d removes the weights of smallest saliency \( w_i^2 / (2
     * [F^{-1}]_{ii}) \) and moves the others by \( -F^{-1} \sum_q (w_q / [F^{-1}]_{qq}) e_q \):
     * float64 throughout, so the tolerance is the float64 one.
     */
    @Test
    void oneObsStepMatchesTheDenseRule() {
        int m = 6;
        double lambda = 1e-2;
        Random random = new Random(3);
        double[][] g = Dense.gaussian(random, m, 18, 0.5);
        double[] w = Dense.toDoubles(weights.values(model.getNDManager()));
        ObsPruner pruner =
                ObsPruner.builder()
                        .setGradientSource(new FixedGradients(g))
                        .optGradients(m)
                        .optBlockSize(18)
                        .optDamping(lambda)
                        .optRecomputations(1)
                        .build();
        pruner.prune(weights, 4.0 / 18);

        RealMatrix inverse = Dense.inverse(Dense.dampedFisher(g, 0, 18, lambda));
        Integer[] order = IntStream.range(0, 18).boxed().toArray(Integer[]::new);
        Arrays.sort(
                order, Comparator.comparingDouble(i -> w[i] * w[i] / (2 * inverse.getEntry(i, i))));
        double[] removal = new double[18];
        List<Integer> dropped = new ArrayList<>();
        for (int k = 0; k < 4; k++) {
            int q = order[k];
            dropped.add(q);
            removal[q] = -w[q] / inverse.getEntry(q, q);
        }
        double[] expected = inverse.operate(removal);
        for (int i = 0; i < 18; i++) {
            expected[i] = dropped.contains(i) ? 0 : w[i] + expected[i];
        }
        double[] actual = Dense.toDoubles(weights.values(model.getNDManager()));
        assertTrue(
                Dense.relativeError(actual, expected) < 1e-12,
                Arrays.toString(actual) + " vs " + Arrays.toString(expected));
        assertEquals(4.0 / 18, weights.sparsity(), 1e-12);
        boolean[] mask = weights.mask().toBooleanArray();
        for (int i = 0; i < 18; i++) {
            assertEquals(!dropped.contains(i), mask[i], "mask at " + i);
        }
    }

    @Test
    void recomputationsReachTheTargetAndKeepRemovedWeightsAtZero() {
        Random random = new Random(4);
        ObsPruner pruner =
                ObsPruner.builder()
                        .setGradientSource(new FixedGradients(Dense.gaussian(random, 5, 18, 0.5)))
                        .optGradients(5)
                        .optBlockSize(4)
                        .optDamping(1e-3)
                        .optRecomputations(3)
                        .build();
        pruner.prune(weights, 0.5);
        assertEquals(9.0 / 18, weights.sparsity(), 1e-12);
        double[] w = Dense.toDoubles(weights.values(model.getNDManager()));
        boolean[] mask = weights.mask().toBooleanArray();
        for (int i = 0; i < 18; i++) {
            if (!mask[i]) {
                assertEquals(0.0, w[i], "removed weight " + i);
            }
        }
    }

    @Test
    void magnitudePruningRemovesTheSmallestAcrossParameters() {
        double[] w = Dense.toDoubles(weights.values(model.getNDManager()));
        new MagnitudePruner().prune(weights, 7.0 / 18);
        double[] magnitudes = Arrays.stream(w).map(Math::abs).sorted().toArray();
        double threshold = magnitudes[6];
        double[] after = Dense.toDoubles(weights.values(model.getNDManager()));
        for (int i = 0; i < 18; i++) {
            assertEquals(Math.abs(w[i]) <= threshold ? 0.0 : w[i], after[i], "weight " + i);
        }
        assertEquals(7.0 / 18, weights.sparsity(), 1e-12);
    }

    @Test
    void targetsBelowTheCurrentSparsityOrAtOneAreRejected() {
        new MagnitudePruner().prune(weights, 0.5);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new MagnitudePruner().prune(weights, 0.25));
        assertTrue(e.getMessage().startsWith("sparsity must be in [0.5, 1), but was 0.25"));
        assertThrows(IllegalArgumentException.class, () -> new MagnitudePruner().prune(weights, 1));
    }

    @Test
    void invalidPrunerSettingsAreRejected() {
        GradientSource none = () -> {};
        assertEquals(
                "gradients must be at least 1, but was 0",
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        ObsPruner.builder()
                                                .setGradientSource(none)
                                                .optGradients(0)
                                                .build())
                        .getMessage());
        assertEquals(
                "gradientSource is required",
                assertThrows(IllegalArgumentException.class, () -> ObsPruner.builder().build())
                        .getMessage());
    }

    /** Writes row i of a fixed matrix into the weights' gradients (W1 then W2, row-major). */
    private final class FixedGradients implements GradientSource {
        private final double[][] rows;
        private int next;

        FixedGradients(double[][] rows) {
            this.rows = rows;
        }

        @Override
        public void backwardNext() {
            double[] row = rows[next++ % rows.length];
            int offset = 0;
            for (var pair : model.getBlock().getParameters()) {
                Parameter p = pair.getValue();
                if (p.getType() != Parameter.Type.WEIGHT) {
                    continue;
                }
                NDArray array = p.getArray();
                int size = (int) array.size();
                try (NDManager scope = NDManager.newBaseManager();
                        NDArray gradient = array.getGradient()) {
                    NDArray values =
                            scope.create(Arrays.copyOfRange(row, offset, offset + size))
                                    .reshape(array.getShape());
                    scope.tempAttachAll(gradient);
                    gradient.set(new NDIndex("..."), values);
                }
                offset += size;
            }
        }
    }
}
