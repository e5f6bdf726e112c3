package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.optimizers.SubspaceNewton.StepReport;
import io.github.so4j.optimizers.SubspaceNewton.Subspace;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link SubspaceNewton} on the shared step guard: the gradients it uses are the ones DJL's
 * settings describe (rescaled, clipped), a missing {@code prepare} fails one update and no more,
 * and a step with a non-finite gradient leaves no trace.
 */
class SubspaceNewtonStepGuardTest {

    private static final int D = 12;

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    /** A random symmetric matrix with eigenvalues spread over [1, 100]. */
    private static double[][] conditioned(Random random) {
        RealMatrix u =
                new QRDecomposition(new Array2DRowRealMatrix(Dense.gaussian(random, D, D, 1)))
                        .getQ();
        double[] values = new double[D];
        for (int i = 0; i < D; i++) {
            values[i] = Math.pow(100, (double) i / (D - 1));
        }
        RealMatrix a =
                u.multiply(MatrixUtils.createRealDiagonalMatrix(values)).multiply(u.transpose());
        return a.add(a.transpose()).scalarMultiply(0.5).getData();
    }

    private static double[][] scaled(double[][] a, double factor) {
        double[][] s = new double[a.length][];
        for (int i = 0; i < a.length; i++) {
            s[i] = new ArrayRealVector(a[i]).mapMultiply(factor).toArray();
        }
        return s;
    }

    private static StepReport step(SubspaceNewton newton, QuadraticModel model) {
        model.backward();
        StepReport report = newton.prepare(model.block, model.loss, model.data, model.labels);
        model.update();
        return report;
    }

    /**
     * With {@code rescaleGrad} r the step minimizes \( r L + \frac{\omega}{2}\|w\|^2 \): gradient
     * and curvature scale together, so three damped KRYLOV steps with r = 2 on L are the steps of r
     * = 1 on the loss 2L (scaling by 2 is exact in floating point), and differ from r = 1 on L (the
     * damping and the weight decay do not scale).
     */
    @Test
    void rescaleGradScalesGradientAndCurvatureAlike() {
        Random random = new Random(11);
        double[][] a = conditioned(random);
        double[] b = Dense.gaussian(random, 1, D, 1)[0];
        double[] start = Dense.gaussian(random, 1, D, 3)[0];
        SubspaceNewton rescaled =
                SubspaceNewton.builder()
                        .optDimension(4)
                        .optDamping(0.5)
                        .optWeightDecays(0.25f)
                        .setRescaleGrad(2)
                        .build();
        SubspaceNewton onDoubledLoss =
                SubspaceNewton.builder()
                        .optDimension(4)
                        .optDamping(0.5)
                        .optWeightDecays(0.25f)
                        .build();
        SubspaceNewton plain =
                SubspaceNewton.builder()
                        .optDimension(4)
                        .optDamping(0.5)
                        .optWeightDecays(0.25f)
                        .build();
        try (QuadraticModel first = new QuadraticModel(manager, a, b, start, rescaled);
                QuadraticModel second =
                        new QuadraticModel(
                                manager,
                                scaled(a, 2),
                                new ArrayRealVector(b).mapMultiply(2).toArray(),
                                start,
                                onDoubledLoss);
                QuadraticModel third = new QuadraticModel(manager, a, b, start, plain)) {
            for (int i = 0; i < 3; i++) {
                StepReport r1 = step(rescaled, first);
                StepReport r2 = step(onDoubledLoss, second);
                step(plain, third);
                assertEquals(r2.loss(), r1.loss(), 1e-12 * Math.abs(r2.loss()), "step " + i);
                assertEquals(r2.stepSize(), r1.stepSize(), "step " + i);
                assertTrue(
                        Dense.relativeError(first.weights(), second.weights()) < 1e-12,
                        "step " + i);
            }
            assertTrue(Dense.relativeError(first.weights(), third.weights()) > 1e-3);
        }
    }

    /**
     * With {@code clipGrad} the step uses the clipped gradient, and the curvature of the loss
     * itself: one KRYLOV direction (k = 1) is \( s = \bar g / \|\bar g\| \) for the clipped
     * gradient \( \bar g \), and the step is \( -t \frac{s^\top \bar g}{s^\top A s} s \).
     */
    @Test
    void clipGradClipsTheGradientAndNotTheCurvature() {
        Random random = new Random(12);
        double[][] a = conditioned(random);
        double[] b = Dense.gaussian(random, 1, D, 1)[0];
        double[] start = Dense.gaussian(random, 1, D, 3)[0];
        RealMatrix matrix = new Array2DRowRealMatrix(a);
        RealVector x = new ArrayRealVector(start);
        RealVector g = matrix.operate(x).subtract(new ArrayRealVector(b));
        float clip = (float) (0.5 * g.getLInfNorm()); // DJL's clipGrad is a float
        RealVector clipped = g.map(v -> Math.max(-clip, Math.min(clip, v)));
        assertTrue(clipped.getDistance(g) > 0.1 * g.getNorm(), "the clip must matter");
        SubspaceNewton newton =
                SubspaceNewton.builder().optDimension(1).optDamping(0).optClipGrad(clip).build();
        try (QuadraticModel model = new QuadraticModel(manager, a, b, start, newton)) {
            StepReport report = step(newton, model);
            RealVector s = clipped.mapDivide(clipped.getNorm());
            double curvature = s.dotProduct(matrix.operate(s));
            double coefficient = s.dotProduct(clipped) / curvature;
            double[] expected =
                    x.subtract(s.mapMultiply(report.stepSize() * coefficient)).toArray();
            assertTrue(report.stepSize() > 0);
            assertTrue(Dense.relativeError(model.weights(), expected) < 1e-12);
            assertEquals(curvature, report.curvatures()[0], 1e-12 * curvature);
        }
    }

    /**
     * An update without {@code prepare} (as under {@code EasyTrain.fit}) throws, naming the fix; it
     * moves nothing and is not counted, and the next, prepared step moves the weights exactly as
     * the first step of a fresh optimizer does.
     */
    @Test
    void anUpdateWithoutPrepareFailsAloneAndTheNextStepWorks() {
        SubspaceNewton newton = SubspaceNewton.builder().optDimension(3).build();
        SubspaceNewton twin = SubspaceNewton.builder().optDimension(3).build();
        try (ContractProblem problem = ContractProblem.mlp(manager, DataType.FLOAT32, newton);
                ContractProblem reference = ContractProblem.mlp(manager, DataType.FLOAT32, twin)) {
            double[] start = problem.weights();
            problem.backward();
            IllegalStateException e = assertThrows(IllegalStateException.class, problem::update);
            assertTrue(
                    e.getMessage().contains("trainStep(trainer, batch)")
                            && e.getMessage().contains("prepare(block, loss, data, labels)"),
                    e.getMessage());
            assertArrayEquals(start, problem.weights(), 0.0);
            assertEquals(0, newton.health().steps());
            problem.backward();
            newton.prepare(problem.block, problem.loss, problem.data, problem.labels);
            problem.update();
            reference.backward();
            twin.prepare(reference.block, reference.loss, reference.data, reference.labels);
            reference.update();
            assertFalse(Arrays.equals(start, problem.weights()), "the weights moved");
            assertArrayEquals(reference.weights(), problem.weights(), 0.0);
            assertEquals(1, newton.health().steps());
            assertEquals(0, newton.health().skippedSteps());
        }
    }

    static Stream<Arguments> nanCases() {
        List<Arguments> cases = new ArrayList<>();
        for (Subspace subspace : Subspace.values()) {
            for (String where : List.of("first", "last")) {
                cases.add(Arguments.of(subspace, where));
            }
        }
        return cases.stream();
    }

    /**
     * A NaN in one parameter's gradient (the first, then the last) at step 3 skips that step and
     * leaves no trace: weights, random state, EIGEN basis and refresh schedule, counters. The run
     * goes on bit for bit as a twin in which the step never happened.
     */
    @ParameterizedTest(name = "{0}, NaN in the {1} parameter")
    @MethodSource("nanCases")
    void aNonFiniteGradientLeavesNoTrace(Subspace subspace, String where) {
        SubspaceNewton newton = build(subspace);
        SubspaceNewton twin = build(subspace);
        try (ContractProblem problem = ContractProblem.mlp(manager, DataType.FLOAT64, newton);
                ContractProblem reference = ContractProblem.mlp(manager, DataType.FLOAT64, twin)) {
            int last = problem.parameters().size() - 1;
            for (int i = 0; i < 6; i++) {
                if (i == 2) {
                    double[] before = problem.weights();
                    problem.backward();
                    problem.scaleGradient(where.equals("first") ? 0 : last, Double.NaN);
                    StepReport report =
                            newton.prepare(
                                    problem.block, problem.loss, problem.data, problem.labels);
                    problem.update();
                    assertArrayEquals(before, problem.weights(), 0.0);
                    assertEquals(0, report.products());
                }
                step(newton, problem);
                step(twin, reference);
                assertArrayEquals(reference.weights(), problem.weights(), 0.0, "step " + i);
            }
            OptimizerHealth health = newton.health();
            assertEquals(7, health.steps());
            assertEquals(1, health.skippedSteps());
            assertEquals(1, health.nonFiniteGradientSteps());
            assertEquals(twin.health().curvature(), health.curvature());
        }
    }

    private static SubspaceNewton build(Subspace subspace) {
        return SubspaceNewton.builder()
                .optSubspace(subspace)
                .optDimension(3)
                .optRefreshEvery(2)
                .optDamping(1e-2)
                .build();
    }

    private static void step(SubspaceNewton newton, ContractProblem problem) {
        problem.backward();
        newton.prepare(problem.block, problem.loss, problem.data, problem.labels);
        problem.update();
    }
}
