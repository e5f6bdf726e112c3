package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.kfac.InversionMode;
import java.util.Random;
import java.util.function.BiConsumer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link SecondOrderOptimizer#stateBytes()} of every so4j optimizer against counts made by hand
 * from the shapes of the contract tests' 5-4-3 MLP ({@link ContractProblem#mlp}): W1 (4, 5), b1
 * (4), W2 (3, 4), b2 (3), d = 39 numbers, in float32 (4 bytes a number) and float64 (8). Every
 * count is exact (bytes are integers); each is taken after the steps that allocate the state, and
 * must read nothing from the device.
 */
class StateBytesTest {

    /** The MLP's parameter count. */
    private static final long D = 20 + 4 + 12 + 3;

    /** Int64 or float64 scalars and vectors, whatever the parameters' dtype. */
    private static final long LONG = 8;

    private static final BiConsumer<SecondOrderOptimizer, ContractProblem> NOTHING =
            (optimizer, problem) -> {};

    /** Trains the MLP for some steps; returns stateBytes(), checking that it read nothing. */
    private static long afterSteps(
            SecondOrderOptimizer optimizer,
            DataType type,
            int steps,
            BiConsumer<SecondOrderOptimizer, ContractProblem> afterBackward) {
        try (NDManager manager = NDManager.newBaseManager();
                ContractProblem problem = ContractProblem.mlp(manager, type, optimizer)) {
            optimizer.nameParameters(problem.block);
            assertEquals(0, optimizer.stateBytes(), "no state before the first step");
            for (int i = 0; i < steps; i++) {
                problem.backward();
                afterBackward.accept(optimizer, problem);
                problem.update();
            }
            long before = HostReads.count();
            long bytes = optimizer.stateBytes();
            assertEquals(before, HostReads.count(), "stateBytes read from the device");
            assertEquals(bytes, optimizer.stateBytes(), "a second look changes nothing");
            return bytes;
        }
    }

    private static long bytes(DataType type) {
        return type.getNumOfBytes();
    }

    /**
     * Muon's default rule gives W1 (hidden) a momentum buffer and W2 (the output layer) and both
     * biases AdamW's two moments: 20 + 2 (12 + 4 + 3) numbers.
     */
    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void muonHoldsABufferPerHiddenMatrixAndAdamMomentsForTheRest(DataType type) {
        Muon muon = Muon.builder().optLearningRate(0.02f).optAdamLearningRate(0.01f).build();
        assertEquals((20 + 2 * (12 + 4 + 3)) * bytes(type), afterSteps(muon, type, 3, NOTHING));
    }

    /**
     * The global window stores the four parameters side by side, each as one chunk of the longest
     * (20 numbers, W1's): 4 chunks x m rows x 20 numbers, and the zero padding of the three shorter
     * segments (16 + 8 + 17 numbers); K and M (2 m^2 float64); the cursor, the count, the m slot
     * indices, the one refresh offset (m / T = 1 column), m and m lambda (int64, float64); -1 /
     * lambda in the dtype; and the momentum buffer (d numbers).
     */
    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void mfacGlobalHoldsThePaddedWindowItsInverseItsConstantsAndMomentum(DataType type) {
        int m = 4;
        MFac mfac =
                MFac.builder()
                        .optWindowSize(m)
                        .optDamping(1e-2)
                        .optMomentum(0.5f)
                        .optLearningRate(0.01f)
                        .build();
        long numbers = 4L * m * 20 + (16 + 8 + 17) + 1 + D;
        long fixed = 2L * m * m * LONG + (2 + m + 1 + 1 + 1) * LONG;
        assertEquals(numbers * bytes(type) + fixed, afterSteps(mfac, type, 2, NOTHING));
    }

    /**
     * One window per parameter, none padded (a single segment is one chunk): m x 39 numbers in all,
     * and per window K, M, the same constants and -1 / lambda; no momentum buffer at momentum 0.
     */
    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void mfacPerParameterHoldsAWindowPerParameterAndNoBufferWithoutMomentum(DataType type) {
        int m = 3;
        MFac mfac =
                MFac.builder()
                        .optWindowSize(m)
                        .optDamping(1e-2)
                        .optScope(MFac.Scope.PER_PARAMETER)
                        .optLearningRate(0.01f)
                        .build();
        long perWindow = 2L * m * m * LONG + (2 + m + 1 + 1 + 1) * LONG;
        assertEquals((m * D + 4) * bytes(type) + 4 * perWindow, afterSteps(mfac, type, 2, NOTHING));
    }

    /**
     * Per layer with p inputs (plus the bias) and q outputs: A ((p + 1)^2) and G (q^2), their
     * damped inverses (the same sizes; the first refresh is at the first step), the averaging
     * weight (float64) and two counts (int64). Layer 1: p + 1 = 6, q = 4; layer 2: p + 1 = 5, q =
     * 3. Then the next step's index (int64) and the momentum buffers (d numbers).
     */
    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void kfacHoldsFactorsInversesAndMomentum(DataType type) {
        Kfac kfac =
                Kfac.builder()
                        .optDamping(1e-1f)
                        .optMomentum(0.9f)
                        .optFactorUpdateFrequency(1)
                        .optInverseUpdateFrequency(2)
                        .optInversion(InversionMode.INVERSE)
                        .optLearningRate(0.05f)
                        .build();
        long factors = 6 * 6 + 4 * 4 + 5 * 5 + 3 * 3;
        long scalars = 2 * (1 + 2) * LONG + LONG;
        assertEquals((2 * factors + D) * bytes(type) + scalars, afterSteps(kfac, type, 3, NOTHING));
    }

    /**
     * A convolution's block also keeps its im2col kernel, C kh kw x kh kw numbers. {@link
     * KfacNet#cnn()}: conv1 2 -> 3 channels 3 x 3 with bias (p + 1 = 2 * 9 + 1 = 19, q = 3, kernel
     * 18 x 9), conv2 3 -> 2 channels 2 x 2 without (p = 12, q = 2, kernel 12 x 4), a Linear 18 -> 3
     * (p + 1 = 19, q = 3); 54 + 3 + 24 + 54 + 3 = 138 parameters, each with a momentum buffer.
     */
    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void kfacCountsAConvolutionsIm2colKernel(DataType type) {
        Kfac kfac =
                Kfac.builder()
                        .optDamping(1e-1f)
                        .optMomentum(0.9f)
                        .optFactorUpdateFrequency(1)
                        .optInverseUpdateFrequency(2)
                        .optLearningRate(0.05f)
                        .build();
        long factors = 19 * 19 + 3 * 3 + 12 * 12 + 2 * 2 + 19 * 19 + 3 * 3;
        long kernels = 18 * 9 + 12 * 4;
        long scalars = 3 * (1 + 2) * LONG + LONG;
        Random random = new Random(5);
        try (KfacNet net =
                new KfacNet(KfacNet.cnn(), kfac::instrument, kfac, type, KfacNet.cnnInput(4))) {
            for (int i = 0; i < 2; i++) {
                net.step(KfacNet.batch(random, KfacNet.cnnInput(4)));
            }
            long before = HostReads.count();
            assertEquals((2 * factors + kernels + 138) * bytes(type) + scalars, kfac.stateBytes());
            assertEquals(before, HostReads.count(), "stateBytes read from the device");
        }
    }

    /**
     * EIGEN keeps the factors' eigenvectors Q_A ((p + 1)^2), Q_G (q^2) and the q x (p + 1) inverse
     * scale in place of the inverses; no momentum buffer at momentum 0.
     */
    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void kfacEigenHoldsEigenbasesAndScalesAndNoBufferWithoutMomentum(DataType type) {
        Kfac kfac =
                Kfac.builder()
                        .optDamping(1e-1f)
                        .optMomentum(0f)
                        .optFactorUpdateFrequency(1)
                        .optInverseUpdateFrequency(2)
                        .optInversion(InversionMode.EIGEN)
                        .optLearningRate(0.05f)
                        .build();
        long factors = 6 * 6 + 4 * 4 + 5 * 5 + 3 * 3;
        long scales = 4 * 6 + 3 * 5;
        long scalars = 2 * (1 + 2) * LONG + LONG;
        assertEquals(
                (2 * factors + scales) * bytes(type) + scalars, afterSteps(kfac, type, 3, NOTHING));
    }

    /**
     * With blocks larger than every dimension, each matrix is one block: W1 has L (4 x 4), R (5 x
     * 5) and their roots, W2 L (3 x 3), R (4 x 4) and their roots, each block an update count
     * (int64); the vectors have none (Shampoo preconditions tensors of order 2 and more). Every
     * parameter has the filtered gradient (beta1 = 0.9), Adam grafting's second moment and the
     * momentum buffer: 3 d numbers.
     */
    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void shampooHoldsStatisticsRootsMomentsAndMomentum(DataType type) {
        Shampoo shampoo =
                Shampoo.builder()
                        .optMaxPreconditionerDim(8)
                        .optPreconditionFrequency(2)
                        .optMomentum(0.5f)
                        .optLearningRate(0.01f)
                        .build();
        long blocks = 2 * (4 * 4 + 5 * 5) + 2 * (3 * 3 + 4 * 4);
        assertEquals(
                (blocks + 3 * D) * bytes(type) + 2 * LONG, afterSteps(shampoo, type, 3, NOTHING));
    }

    /**
     * Adam's m and v per parameter (2 d numbers, in the rotated basis for the matrices); for each
     * matrix (both sides within maxPreconditionerDim) L, R and their eigenbases Q_L, Q_R; none for
     * the vectors (one-dimensional preconditioning is off).
     */
    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void soapHoldsMomentsStatisticsAndEigenbases(DataType type) {
        Soap soap = Soap.builder().optPreconditionFrequency(2).optLearningRate(0.01f).build();
        long sides = 2 * (4 * 4 + 5 * 5) + 2 * (3 * 3 + 4 * 4);
        assertEquals((2 * D + sides) * bytes(type), afterSteps(soap, type, 3, NOTHING));
    }

    /**
     * KRYLOV and RANDOM keep nothing between steps (the subspace is built anew each step); EIGEN
     * keeps its k eigenvectors of the Hessian, k x d numbers.
     */
    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void subspaceNewtonHoldsOnlyTheEigenBasis(DataType type) {
        BiConsumer<SecondOrderOptimizer, ContractProblem> prepare =
                (optimizer, problem) ->
                        ((SubspaceNewton) optimizer)
                                .prepare(problem.block, problem.loss, problem.data, problem.labels);
        SubspaceNewton krylov = SubspaceNewton.builder().optDimension(2).optDamping(1e-2).build();
        assertEquals(0, afterSteps(krylov, type, 2, prepare));
        SubspaceNewton random =
                SubspaceNewton.builder()
                        .optSubspace(SubspaceNewton.Subspace.RANDOM)
                        .optDimension(2)
                        .optDamping(1e-2)
                        .build();
        assertEquals(0, afterSteps(random, type, 2, prepare));
        SubspaceNewton eigen =
                SubspaceNewton.builder()
                        .optSubspace(SubspaceNewton.Subspace.EIGEN)
                        .optDimension(2)
                        .optRefreshEvery(3)
                        .optDamping(1e-2)
                        .build();
        assertEquals(2 * D * bytes(type), afterSteps(eigen, type, 2, prepare));
    }
}
