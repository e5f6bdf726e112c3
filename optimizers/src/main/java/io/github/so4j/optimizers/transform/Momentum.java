package io.github.so4j.optimizers.transform;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.util.List;

/**
 * Momentum with the meaning of PyTorch's {@code torch.optim.SGD}, the one meaning of {@code
 * optMomentum} in every so4j optimizer.
 *
 * <p>With momentum \( \mu \), dampening \( \tau \) and the buffer v starting at zero:
 *
 * <p>\( v \leftarrow \mu v + (1 - \tau) d \)<br>
 * heavy ball: \( d \leftarrow v \); Nesterov: \( d \leftarrow d + \mu v \)
 *
 * <p>With \( \tau = 0 \) (the default) a constant direction moves a weight \( 1 / (1 - \mu) \)
 * times as far as without momentum; \( \tau = \mu \) makes v an exponential average of the
 * directions, which moves it as far as without. (PyTorch starts v at the first direction, which
 * differs from a zero start only when \( \tau \ne 0 \).)
 *
 * <p><b>Cost</b>: 3 passes over the parameter's d entries, and d numbers of state.
 */
public final class Momentum implements Transform {

    private final float momentum;
    private final float dampening;
    private final boolean nesterov;

    private Momentum(float momentum, float dampening, boolean nesterov) {
        if (!(momentum >= 0 && momentum < 1)) {
            throw new IllegalArgumentException("momentum must be in [0, 1), but was " + momentum);
        }
        if (!(dampening >= 0 && dampening <= 1)) {
            throw new IllegalArgumentException("dampening must be in [0, 1], but was " + dampening);
        }
        this.momentum = momentum;
        this.dampening = dampening;
        this.nesterov = nesterov;
    }

    /**
     * Returns heavy-ball momentum without dampening.
     *
     * @param momentum \( \mu \) in [0, 1)
     * @return the transform
     * @throws IllegalArgumentException if \( \mu \) is out of range
     */
    public static Momentum heavyBall(float momentum) {
        return new Momentum(momentum, 0, false);
    }

    /**
     * Returns Nesterov momentum without dampening.
     *
     * @param momentum \( \mu \) in [0, 1)
     * @return the transform
     * @throws IllegalArgumentException if \( \mu \) is out of range
     */
    public static Momentum nesterov(float momentum) {
        return new Momentum(momentum, 0, true);
    }

    /**
     * Returns momentum with a choice of every setting.
     *
     * @param momentum \( \mu \) in [0, 1)
     * @param dampening \( \tau \) in [0, 1]
     * @param nesterov whether to use Nesterov's form
     * @return the transform
     * @throws IllegalArgumentException if a setting is out of range
     */
    public static Momentum of(float momentum, float dampening, boolean nesterov) {
        return new Momentum(momentum, dampening, nesterov);
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "momentum";
    }

    /** {@inheritDoc} */
    @Override
    public List<String> stateNames() {
        return List.of("velocity");
    }

    /** {@inheritDoc} */
    @Override
    public NDList init(NDArray weight) {
        return new NDList(weight.zerosLike());
    }

    /** {@inheritDoc} */
    @Override
    public Result apply(NDArray direction, NDList state, Context context) {
        NDArray incoming = dampening == 0 ? direction : direction.mul(1 - dampening);
        NDArray velocity = state.head().mul(momentum).addi(incoming);
        // heavy ball's direction is the velocity itself: the caller settles it as state first
        NDArray out = nesterov ? direction.add(velocity.mul(momentum)) : velocity;
        return new Result(out, new NDList(velocity));
    }

    /**
     * Returns \( \mu \).
     *
     * @return the momentum
     */
    public float momentum() {
        return momentum;
    }

    /**
     * Returns \( \tau \).
     *
     * @return the dampening
     */
    public float dampening() {
        return dampening;
    }

    /**
     * Returns whether the transform uses Nesterov's form.
     *
     * @return whether Nesterov
     */
    public boolean isNesterov() {
        return nesterov;
    }
}
