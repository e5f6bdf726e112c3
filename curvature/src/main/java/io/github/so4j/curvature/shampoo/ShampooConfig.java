package io.github.so4j.curvature.shampoo;

import io.github.so4j.curvature.linalg.CoupledNewtonInverseRoot;

/**
 * The settings of a {@link ShampooPreconditioner}: how its Kronecker statistics accumulate and how
 * their inverse roots are computed. Immutable and validated; change a setting with its {@code with}
 * method.
 *
 * <p>Defaults, unless said otherwise, are those of Meta's distributed Shampoo ({@code
 * facebookresearch/optimizers}, {@code distributed_shampoo/distributed_shampoo.py} and {@code
 * shampoo_types.py} at commit f606606, version 1.0.0).
 *
 * @param maxPreconditionerDim B, the largest factor; larger sides are blocked (Meta: 1024)
 * @param beta2 \( \beta_2 \): 1 keeps running sums \( L \mathrel{+}= G G^\top \) (AdaGrad, Meta's
 *     default); below 1, exponential averages \( L \leftarrow \beta_2 L + (1 - \beta_2) G G^\top \)
 * @param biasCorrection whether exponential averages are divided by \( 1 - \beta_2^t \) before
 *     their roots are taken (Meta: true; no effect for running sums)
 * @param relativeEpsilon \( \epsilon_{rel} \): the ridge added before a root is \( \epsilon_{rel}
 *     \lambda_{\max} \) (default 1e-4; scalable Shampoo's relative ridge, its {@code
 *     matrix_epsilon}, is 1e-6: see {@code Shampoo} for why 1e-4)
 * @param leftRoot p for the left factor, whose root is \( L^{-1/p} \) (default 4: the exponent -1/4
 *     of a 2-D tensor; 2 gives the "Shampoo squared" exponent -1/2)
 * @param rightRoot p for the right factor, \( R^{-1/p} \) (default 4)
 * @param hostRootMaxDim the size of the largest single factor whose root is computed by a host
 *     eigendecomposition instead of the device iteration; a batch of b factors of size n goes to
 *     the host when \( b n^3 \le \) hostRootMaxDim<sup>3</sup> (default 64: one inverse root of a
 *     Shampoo-like 64 x 64 statistic took 1.3 ms on the host against 2.8 ms on the device, where 20
 *     Newton steps cost more in per-operation overhead than in arithmetic; at 128, 9.4 against 4.9
 *     ms; {@code BenchmarkInverseRoot}, 2-core CPU)
 * @param acceptableResidual the largest root residual (see {@link
 *     io.github.so4j.curvature.linalg.InverseRootResidual}) accepted before the next rung of the
 *     failure ladder is tried (default 1e-2; converged float32 roots reach about 1e-7)
 * @param maxConsecutiveFailures how many root computations in a row may fail (keeping the previous
 *     roots) before the preconditioner throws (Meta: 3, {@code
 *     num_tolerated_failed_amortized_computations})
 * @param newtonMaxIterations the coupled Newton iteration's maximum number of steps (Meta: 100)
 * @param newtonTolerance its tolerance on the float32 residual (Meta: 1e-6)
 */
public record ShampooConfig(
        int maxPreconditionerDim,
        double beta2,
        boolean biasCorrection,
        double relativeEpsilon,
        int leftRoot,
        int rightRoot,
        int hostRootMaxDim,
        double acceptableResidual,
        int maxConsecutiveFailures,
        int newtonMaxIterations,
        double newtonTolerance) {

    /** The defaults. */
    public static final ShampooConfig DEFAULT =
            new ShampooConfig(
                    1024,
                    1.0,
                    true,
                    1e-4,
                    4,
                    4,
                    64,
                    1e-2,
                    3,
                    CoupledNewtonInverseRoot.DEFAULT_MAX_ITERATIONS,
                    CoupledNewtonInverseRoot.DEFAULT_TOLERANCE);

    /**
     * Validates the settings.
     *
     * @param maxPreconditionerDim B, at least 1
     * @param beta2 \( \beta_2 \) in (0, 1]
     * @param biasCorrection whether averages are bias-corrected
     * @param relativeEpsilon \( \epsilon_{rel} \), positive and finite
     * @param leftRoot p of the left factor, at least 1
     * @param rightRoot p of the right factor, at least 1
     * @param hostRootMaxDim non-negative
     * @param acceptableResidual positive and finite
     * @param maxConsecutiveFailures non-negative
     * @param newtonMaxIterations at least 1
     * @param newtonTolerance non-negative and finite
     * @throws IllegalArgumentException naming the setting and its value if one is invalid
     */
    public ShampooConfig {
        if (maxPreconditionerDim < 1) {
            throw new IllegalArgumentException(
                    "maxPreconditionerDim must be at least 1, but was " + maxPreconditionerDim);
        }
        if (!(beta2 > 0 && beta2 <= 1)) {
            throw new IllegalArgumentException("beta2 must be in (0, 1], but was " + beta2);
        }
        if (!(relativeEpsilon > 0) || Double.isInfinite(relativeEpsilon)) {
            throw new IllegalArgumentException(
                    "epsilon must be positive and finite, but was " + relativeEpsilon);
        }
        if (leftRoot < 1) {
            throw new IllegalArgumentException("leftRoot must be at least 1, but was " + leftRoot);
        }
        if (rightRoot < 1) {
            throw new IllegalArgumentException(
                    "rightRoot must be at least 1, but was " + rightRoot);
        }
        if (hostRootMaxDim < 0) {
            throw new IllegalArgumentException(
                    "hostRootMaxDim must be non-negative, but was " + hostRootMaxDim);
        }
        if (!(acceptableResidual > 0) || Double.isInfinite(acceptableResidual)) {
            throw new IllegalArgumentException(
                    "acceptableResidual must be positive and finite, but was "
                            + acceptableResidual);
        }
        if (maxConsecutiveFailures < 0) {
            throw new IllegalArgumentException(
                    "maxConsecutiveFailures must be non-negative, but was "
                            + maxConsecutiveFailures);
        }
        // the iteration's own constructor checks its two settings, with their names
        new CoupledNewtonInverseRoot(newtonMaxIterations, newtonTolerance);
    }

    /**
     * Returns a copy with another B.
     *
     * @param value B
     * @return the new settings
     */
    public ShampooConfig withMaxPreconditionerDim(int value) {
        return new ShampooConfig(
                value,
                beta2,
                biasCorrection,
                relativeEpsilon,
                leftRoot,
                rightRoot,
                hostRootMaxDim,
                acceptableResidual,
                maxConsecutiveFailures,
                newtonMaxIterations,
                newtonTolerance);
    }

    /**
     * Returns a copy with another \( \beta_2 \).
     *
     * @param value \( \beta_2 \)
     * @return the new settings
     */
    public ShampooConfig withBeta2(double value) {
        return new ShampooConfig(
                maxPreconditionerDim,
                value,
                biasCorrection,
                relativeEpsilon,
                leftRoot,
                rightRoot,
                hostRootMaxDim,
                acceptableResidual,
                maxConsecutiveFailures,
                newtonMaxIterations,
                newtonTolerance);
    }

    /**
     * Returns a copy with bias correction on or off.
     *
     * @param value whether to bias-correct
     * @return the new settings
     */
    public ShampooConfig withBiasCorrection(boolean value) {
        return new ShampooConfig(
                maxPreconditionerDim,
                beta2,
                value,
                relativeEpsilon,
                leftRoot,
                rightRoot,
                hostRootMaxDim,
                acceptableResidual,
                maxConsecutiveFailures,
                newtonMaxIterations,
                newtonTolerance);
    }

    /**
     * Returns a copy with another \( \epsilon_{rel} \).
     *
     * @param value \( \epsilon_{rel} \)
     * @return the new settings
     */
    public ShampooConfig withRelativeEpsilon(double value) {
        return new ShampooConfig(
                maxPreconditionerDim,
                beta2,
                biasCorrection,
                value,
                leftRoot,
                rightRoot,
                hostRootMaxDim,
                acceptableResidual,
                maxConsecutiveFailures,
                newtonMaxIterations,
                newtonTolerance);
    }

    /**
     * Returns a copy with other roots: p = 4 on both sides is Shampoo, p = 2 on both sides is
     * "Shampoo squared".
     *
     * @param left p of the left factor
     * @param right p of the right factor
     * @return the new settings
     */
    public ShampooConfig withRoots(int left, int right) {
        return new ShampooConfig(
                maxPreconditionerDim,
                beta2,
                biasCorrection,
                relativeEpsilon,
                left,
                right,
                hostRootMaxDim,
                acceptableResidual,
                maxConsecutiveFailures,
                newtonMaxIterations,
                newtonTolerance);
    }

    /**
     * Returns a copy with another host threshold.
     *
     * @param value the largest factor whose root is computed on the host
     * @return the new settings
     */
    public ShampooConfig withHostRootMaxDim(int value) {
        return new ShampooConfig(
                maxPreconditionerDim,
                beta2,
                biasCorrection,
                relativeEpsilon,
                leftRoot,
                rightRoot,
                value,
                acceptableResidual,
                maxConsecutiveFailures,
                newtonMaxIterations,
                newtonTolerance);
    }

    /**
     * Returns a copy with another acceptable residual.
     *
     * @param value the largest residual accepted
     * @return the new settings
     */
    public ShampooConfig withAcceptableResidual(double value) {
        return new ShampooConfig(
                maxPreconditionerDim,
                beta2,
                biasCorrection,
                relativeEpsilon,
                leftRoot,
                rightRoot,
                hostRootMaxDim,
                value,
                maxConsecutiveFailures,
                newtonMaxIterations,
                newtonTolerance);
    }

    /**
     * Returns a copy with another failure tolerance.
     *
     * @param value how many root computations in a row may fail
     * @return the new settings
     */
    public ShampooConfig withMaxConsecutiveFailures(int value) {
        return new ShampooConfig(
                maxPreconditionerDim,
                beta2,
                biasCorrection,
                relativeEpsilon,
                leftRoot,
                rightRoot,
                hostRootMaxDim,
                acceptableResidual,
                value,
                newtonMaxIterations,
                newtonTolerance);
    }

    /**
     * Returns a copy with other coupled Newton settings.
     *
     * @param maxIterations the maximum number of steps
     * @param tolerance the tolerance on the float32 residual
     * @return the new settings
     */
    public ShampooConfig withNewton(int maxIterations, double tolerance) {
        return new ShampooConfig(
                maxPreconditionerDim,
                beta2,
                biasCorrection,
                relativeEpsilon,
                leftRoot,
                rightRoot,
                hostRootMaxDim,
                acceptableResidual,
                maxConsecutiveFailures,
                maxIterations,
                tolerance);
    }
}
