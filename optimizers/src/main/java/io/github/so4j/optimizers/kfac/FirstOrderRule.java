package io.github.so4j.optimizers.kfac;

import io.github.so4j.optimizers.transform.Momentum;
import io.github.so4j.optimizers.transform.SecondMoment;
import io.github.so4j.optimizers.transform.Transform;

/**
 * The first-order rule that moves the parameters K-FAC does not cover (biases of uncovered layers,
 * normalisation layers, embeddings, ...), with the optimizer's learning rate: settings only, run by
 * so4j's shared update transforms ({@link #transform()}), whose state {@code TransformState} keeps
 * and commits only when a step is taken.
 */
public sealed interface FirstOrderRule permits FirstOrderRule.Sgd, FirstOrderRule.Adam {

    /**
     * Returns the rule as a shared update transform, applied to the parameter's gradient (with the
     * L2 term, if any).
     *
     * @return {@link Momentum#heavyBall} for SGD with momentum, {@code null} for plain SGD (the
     *     direction is the gradient), {@link SecondMoment#adamChain} for Adam
     */
    Transform transform();

    /**
     * Returns the factor applied to the transform's direction.
     *
     * @return 1 for SGD, s for Adam
     */
    float scale();

    /**
     * SGD with momentum as PyTorch defines it (no dampening): \( v \leftarrow \mu v + g \), the
     * direction is \( v \) (\( v_1 = g \)): {@link Momentum#heavyBall}.
     *
     * @param momentum \( \mu \) in [0, 1)
     */
    record Sgd(float momentum) implements FirstOrderRule {

        /**
         * Checks the setting.
         *
         * @param momentum \( \mu \) in [0, 1)
         * @throws IllegalArgumentException naming the value if it is out of range
         */
        public Sgd {
            if (!(momentum >= 0 && momentum < 1)) {
                throw new IllegalArgumentException(
                        "SGD momentum must be in [0, 1), but was " + momentum);
            }
        }

        /** {@inheritDoc} */
        @Override
        public Transform transform() {
            return momentum == 0 ? null : Momentum.heavyBall(momentum);
        }

        /** {@inheritDoc} */
        @Override
        public float scale() {
            return 1;
        }
    }

    /**
     * Adam (Kingma and Ba 2015): \( m \leftarrow \beta_1 m + (1 - \beta_1) g \), \( v \leftarrow
     * \beta_2 v + (1 - \beta_2) g^2 \), direction \( s \cdot \hat m / (\sqrt{\hat v} + \epsilon) \)
     * with the bias corrections \( \hat m = m / (1 - \beta_1^t) \), \( \hat v = v / (1 - \beta_2^t)
     * \), t the step's index among taken steps ({@link SecondMoment#adamChain}). The scale s
     * relates Adam's step to the optimizer's learning rate \( \eta \): the parameter moves by \(
     * \eta s \hat m / (\sqrt{\hat v} + \epsilon) \).
     *
     * @param learningRateScale s, positive and finite
     * @param beta1 \( \beta_1 \) in [0, 1)
     * @param beta2 \( \beta_2 \) in [0, 1)
     * @param epsilon \( \epsilon \), positive and finite
     */
    record Adam(float learningRateScale, float beta1, float beta2, float epsilon)
            implements FirstOrderRule {

        /**
         * Checks the settings.
         *
         * @param learningRateScale s, positive and finite
         * @param beta1 \( \beta_1 \) in [0, 1)
         * @param beta2 \( \beta_2 \) in [0, 1)
         * @param epsilon \( \epsilon \), positive and finite
         * @throws IllegalArgumentException naming the setting and its value if one is invalid
         */
        public Adam {
            if (!(learningRateScale > 0) || Float.isInfinite(learningRateScale)) {
                throw new IllegalArgumentException(
                        "Adam learningRateScale must be positive and finite, but was "
                                + learningRateScale);
            }
            if (!(beta1 >= 0 && beta1 < 1)) {
                throw new IllegalArgumentException(
                        "Adam beta1 must be in [0, 1), but was " + beta1);
            }
            if (!(beta2 >= 0 && beta2 < 1)) {
                throw new IllegalArgumentException(
                        "Adam beta2 must be in [0, 1), but was " + beta2);
            }
            if (!(epsilon > 0) || Float.isInfinite(epsilon)) {
                throw new IllegalArgumentException(
                        "Adam epsilon must be positive and finite, but was " + epsilon);
            }
        }

        /** {@inheritDoc} */
        @Override
        public Transform transform() {
            return SecondMoment.adamChain(beta1, beta2, epsilon);
        }

        /** {@inheritDoc} */
        @Override
        public float scale() {
            return learningRateScale;
        }
    }

    /**
     * SGD with momentum.
     *
     * @param momentum \( \mu \) in [0, 1)
     * @return the rule
     */
    static FirstOrderRule sgd(float momentum) {
        return new Sgd(momentum);
    }

    /**
     * Adam with Kingma and Ba's defaults (\( \beta_1 = 0.9 \), \( \beta_2 = 0.999 \), \( \epsilon =
     * 10^{-8} \)).
     *
     * @param learningRateScale s: Adam's step is \( \eta s \) for the optimizer's learning rate \(
     *     \eta \)
     * @return the rule
     */
    static FirstOrderRule adam(float learningRateScale) {
        return new Adam(learningRateScale, 0.9f, 0.999f, 1e-8f);
    }
}
