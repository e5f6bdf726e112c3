package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.optimizers.SubspaceNewton.StepReport;
import io.github.so4j.optimizers.SubspaceNewton.Subspace;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SubspaceNewtonTest {

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

    /** \( U \operatorname{diag}(\lambda) U^\top \) with a random orthogonal U. */
    private static double[][] symmetric(double[] eigenvalues, Random random) {
        int d = eigenvalues.length;
        RealMatrix u =
                new QRDecomposition(new Array2DRowRealMatrix(Dense.gaussian(random, d, d, 1)))
                        .getQ();
        RealMatrix a =
                u.multiply(MatrixUtils.createRealDiagonalMatrix(eigenvalues))
                        .multiply(u.transpose());
        return a.add(a.transpose()).scalarMultiply(0.5).getData();
    }

    /** Eigenvalues spread geometrically over [1, 100]: condition number 100. */
    private static double[] conditioned(int d) {
        double[] values = new double[d];
        for (int i = 0; i < d; i++) {
            values[i] = Math.pow(100, (double) i / (d - 1));
        }
        return values;
    }

    /**
     * With k = d the subspace is the whole space, so one step is the Newton step and lands on the
     * optimum of a strongly convex quadratic: theory allows one step. Float64, no damping: the
     * error is rounding in the products and the k x k solve, about \( \kappa \cdot 10^{-16} \); the
     * test asks for 1e-6.
     */
    @ParameterizedTest
    @EnumSource(Subspace.class)
    void fullDimensionalSubspacesReachTheOptimumInOneStep(Subspace subspace) {
        Random random = new Random(1);
        double[][] a = symmetric(conditioned(D), random);
        double[] b = Dense.gaussian(random, 1, D, 1)[0];
        double[] start = Dense.gaussian(random, 1, D, 3)[0];
        SubspaceNewton newton =
                SubspaceNewton.builder()
                        .optSubspace(subspace)
                        .optDimension(D)
                        .optDamping(0)
                        .build();
        try (QuadraticModel model = new QuadraticModel(manager, a, b, start, newton)) {
            RealVector optimum = new LUDecomposition(model.a).getSolver().solve(model.b);
            model.backward();
            StepReport report = newton.prepare(model.block, model.loss, model.data, model.labels);
            model.update();
            assertEquals(1, report.stepSize());
            double[] w = model.weights();
            double error =
                    new ArrayRealVector(w).subtract(optimum).getNorm()
                            / new ArrayRealVector(start).subtract(optimum).getNorm();
            assertTrue(error < 1e-6, subspace + ": relative distance " + error);
            double gap = model.value(w) - model.value(optimum.toArray());
            double initialGap = model.value(start) - model.value(optimum.toArray());
            assertTrue(gap < 1e-6 * initialGap, subspace + ": gap " + gap);
        }
    }

    /**
     * For a model linear in its weights the Gauss-Newton matrix is the Hessian (here \( J = I \)
     * and the loss's Hessian in the outputs is A), so Gauss-Newton subspace Newton with k = d also
     * lands on the optimum in one step.
     */
    @Test
    void gaussNewtonCurvatureOnALinearModelReachesTheOptimumInOneStep() {
        Random random = new Random(7);
        double[][] a = symmetric(conditioned(D), random);
        double[] b = Dense.gaussian(random, 1, D, 1)[0];
        double[] start = Dense.gaussian(random, 1, D, 3)[0];
        SubspaceNewton newton =
                SubspaceNewton.builder()
                        .optCurvature(SubspaceNewton.Curvature.GAUSS_NEWTON)
                        .optDimension(D)
                        .optDamping(0)
                        .build();
        try (QuadraticModel model = new QuadraticModel(manager, a, b, start, newton)) {
            RealVector optimum = new LUDecomposition(model.a).getSolver().solve(model.b);
            model.backward();
            newton.prepare(model.block, model.loss, model.data, model.labels);
            model.update();
            double error =
                    new ArrayRealVector(model.weights()).subtract(optimum).getNorm()
                            / new ArrayRealVector(start).subtract(optimum).getNorm();
            assertTrue(error < 1e-6, "relative distance " + error);
        }
    }

    /**
     * DJL's weight decay \( \omega \) is part of the objective: with k = d one step lands on the
     * optimum of \( f(w) + \frac{\omega}{2} \|w\|^2 \), \( (A + \omega I)^{-1} b \).
     */
    @Test
    void weightDecayIsPartOfTheObjective() {
        Random random = new Random(8);
        double[][] a = symmetric(conditioned(D), random);
        double[] b = Dense.gaussian(random, 1, D, 1)[0];
        double[] start = Dense.gaussian(random, 1, D, 3)[0];
        float decay = 0.5f;
        SubspaceNewton newton =
                SubspaceNewton.builder()
                        .optDimension(D)
                        .optDamping(0)
                        .optWeightDecays(decay)
                        .build();
        try (QuadraticModel model = new QuadraticModel(manager, a, b, start, newton)) {
            RealMatrix shifted =
                    model.a.add(MatrixUtils.createRealIdentityMatrix(D).scalarMultiply(decay));
            RealVector optimum = new LUDecomposition(shifted).getSolver().solve(model.b);
            model.backward();
            StepReport report = newton.prepare(model.block, model.loss, model.data, model.labels);
            model.update();
            assertEquals(1, report.stepSize());
            double error =
                    new ArrayRealVector(model.weights()).subtract(optimum).getNorm()
                            / optimum.getNorm();
            assertTrue(error < 1e-6, "relative distance " + error);
        }
    }

    /**
     * With k = d / 4 random directions the loss falls at every step by exactly what the quadratic
     * model promises (\( \frac{1}{2} b^\top M^{-1} b \): the model is the function), and in
     * expectation at least by the fraction \( \rho = \frac{k}{d} \frac{\mu}{L} \) of the gap (since
     * \( \mathbb{E}\|S^\top g\|^2 = \frac{k}{d} \|g\|^2 \), the step decreases f by at least \(
     * \|S^\top g\|^2 / (2L) \), and \( \|g\|^2 \ge 2\mu (f - f^*) \)). The geometric mean of the 40
     * measured per-step factors over 5 seeds must not exceed that expected bound.
     */
    @Test
    void smallRandomSubspacesImproveAtEveryStepByThePredictedDecrease() {
        int k = D / 4;
        double rho = (double) k / D / 100;
        double logSum = 0;
        int factors = 0;
        for (int seed = 0; seed < 5; seed++) {
            Random random = new Random(10 + seed);
            double[][] a = symmetric(conditioned(D), random);
            double[] b = Dense.gaussian(random, 1, D, 1)[0];
            double[] start = Dense.gaussian(random, 1, D, 3)[0];
            SubspaceNewton newton =
                    SubspaceNewton.builder()
                            .optSubspace(Subspace.RANDOM)
                            .optDimension(k)
                            .optDamping(0)
                            .optSeed(seed)
                            .build();
            try (QuadraticModel model = new QuadraticModel(manager, a, b, start, newton)) {
                double optimum =
                        model.value(
                                new LUDecomposition(model.a).getSolver().solve(model.b).toArray());
                double gap = model.value(start) - optimum;
                for (int step = 0; step < 40; step++) {
                    double before = model.value(model.weights());
                    model.backward();
                    StepReport report =
                            newton.prepare(model.block, model.loss, model.data, model.labels);
                    model.update();
                    double after = model.value(model.weights());
                    assertEquals(1, report.stepSize());
                    assertEquals(
                            report.predictedDecrease(),
                            before - after,
                            1e-9 * Math.abs(before) + 1e-12,
                            "step " + step);
                    assertTrue(after < before, "step " + step);
                    double newGap = after - optimum;
                    logSum += Math.log(newGap / gap);
                    factors++;
                    gap = newGap;
                }
            }
        }
        double meanFactor = Math.exp(logSum / factors);
        assertTrue(meanFactor <= 1 - rho, "mean factor " + meanFactor + " vs bound " + (1 - rho));
    }

    /**
     * One KRYLOV step with k directions minimizes the quadratic over \( w_0 + \mathcal{K}_k(A, g_0)
     * \), which is what k iterations of conjugate gradients from \( w_0 \) reach (in exact
     * arithmetic); both in float64, so they agree to rounding amplified by the condition number.
     */
    @Test
    void aKrylovStepEqualsConjugateGradients() {
        Random random = new Random(2);
        double[][] a = symmetric(conditioned(D), random);
        double[] b = Dense.gaussian(random, 1, D, 1)[0];
        double[] start = Dense.gaussian(random, 1, D, 3)[0];
        int k = 4;
        SubspaceNewton newton =
                SubspaceNewton.builder()
                        .optSubspace(Subspace.KRYLOV)
                        .optDimension(k)
                        .optDamping(0)
                        .build();
        try (QuadraticModel model = new QuadraticModel(manager, a, b, start, newton)) {
            model.backward();
            newton.prepare(model.block, model.loss, model.data, model.labels);
            model.update();
            double[] expected = conjugateGradients(model.a, model.b, start, k);
            double error = Dense.relativeError(model.weights(), expected);
            assertTrue(error < 1e-10, "relative error " + error);
        }
    }

    private static double[] conjugateGradients(RealMatrix a, RealVector b, double[] x0, int steps) {
        RealVector x = new ArrayRealVector(x0);
        RealVector r = b.subtract(a.operate(x));
        RealVector p = r.copy();
        for (int i = 0; i < steps; i++) {
            RealVector ap = a.operate(p);
            double alpha = r.dotProduct(r) / p.dotProduct(ap);
            x = x.add(p.mapMultiply(alpha));
            RealVector next = r.subtract(ap.mapMultiply(alpha));
            p = next.add(p.mapMultiply(next.dotProduct(next) / r.dotProduct(r)));
            r = next;
        }
        return x.toArray();
    }

    /**
     * On an indefinite quadratic the step is \( -(|A| + \delta I)^{-1} g \) (with k = d), which
     * decreases f, where Newton's \( -A^{-1} g \) would head for the saddle point.
     */
    @Test
    void indefiniteCurvatureGivesTheSaddleFreeStep() {
        Random random = new Random(3);
        double[] eigenvalues = conditioned(D);
        eigenvalues[0] = -5;
        eigenvalues[1] = -0.5;
        double[][] a = symmetric(eigenvalues, random);
        double[] b = Dense.gaussian(random, 1, D, 1)[0];
        double[] start = Dense.gaussian(random, 1, D, 1)[0];
        double damping = 0.1;
        SubspaceNewton newton =
                SubspaceNewton.builder()
                        .optSubspace(Subspace.RANDOM)
                        .optDimension(D)
                        .optDamping(damping)
                        .build();
        try (QuadraticModel model = new QuadraticModel(manager, a, b, start, newton)) {
            model.backward();
            StepReport report = newton.prepare(model.block, model.loss, model.data, model.labels);
            model.update();
            assertEquals(1, report.stepSize());
            assertEquals(-5, report.curvatures()[D - 1], 1e-9);
            EigenDecomposition eigen = new EigenDecomposition(model.a);
            RealVector x = new ArrayRealVector(start);
            RealVector g = model.a.operate(x).subtract(model.b);
            RealVector step = new ArrayRealVector(D);
            for (int i = 0; i < D; i++) {
                RealVector u = eigen.getEigenvector(i);
                double weight = u.dotProduct(g) / (Math.abs(eigen.getRealEigenvalue(i)) + damping);
                step = step.add(u.mapMultiply(-weight));
            }
            double[] expected = x.add(step).toArray();
            assertTrue(Dense.relativeError(model.weights(), expected) < 1e-10);
            assertTrue(model.value(model.weights()) < model.value(start));
        }
    }

    @Test
    void anUpdateWithoutAPreparedStepIsAnError() {
        SubspaceNewton newton = SubspaceNewton.builder().build();
        try (QuadraticModel model =
                new QuadraticModel(
                        manager,
                        symmetric(conditioned(D), new Random(4)),
                        new double[D],
                        new double[D],
                        newton)) {
            model.backward();
            IllegalStateException e = assertThrows(IllegalStateException.class, model::update);
            assertTrue(e.getMessage().startsWith("SubspaceNewton needs the batch"), e.getMessage());
        }
    }

    /** A NaN gradient skips the step: weights untouched, counted in health. */
    @Test
    void aNonFiniteGradientSkipsTheStep() {
        SubspaceNewton newton = SubspaceNewton.builder().optDimension(3).build();
        double[] b = new double[D];
        b[0] = Double.NaN;
        double[] start = Dense.gaussian(new Random(5), 1, D, 1)[0];
        try (QuadraticModel model =
                new QuadraticModel(
                        manager, symmetric(conditioned(D), new Random(5)), b, start, newton)) {
            model.backward();
            newton.prepare(model.block, model.loss, model.data, model.labels);
            model.update();
            assertArrayEquals(start, model.weights());
            assertEquals(1, newton.health().skippedSteps());
            assertEquals(1, newton.health().nonFiniteGradientSteps());
        }
    }

    @Test
    void badSettingsAndSubspacesLargerThanTheModelAreRejected() {
        SubspaceNewton tooLarge = SubspaceNewton.builder().optDimension(D + 1).build();
        try (QuadraticModel model =
                new QuadraticModel(
                        manager,
                        symmetric(conditioned(D), new Random(6)),
                        new double[D],
                        new double[D],
                        tooLarge)) {
            model.backward();
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    tooLarge.prepare(
                                            model.block, model.loss, model.data, model.labels));
            assertEquals("dimension k must be at most d = 12, but was 13", e.getMessage());
        }
        assertMessage(
                "dimension must be at least 1, but was 0",
                () -> SubspaceNewton.builder().optDimension(0).build());
        assertMessage(
                "damping must be finite and non-negative, but was -1.0",
                () -> SubspaceNewton.builder().optDamping(-1).build());
        assertMessage(
                "armijo must be in (0, 1), but was 1.0",
                () -> SubspaceNewton.builder().optArmijo(1).build());
        assertMessage(
                "refreshEvery must be at least 1, but was 0",
                () -> SubspaceNewton.builder().optRefreshEvery(0).build());
    }

    private static void assertMessage(String message, Runnable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action::run);
        assertEquals(message, e.getMessage());
    }
}
