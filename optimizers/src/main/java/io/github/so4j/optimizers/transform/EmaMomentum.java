package io.github.so4j.optimizers.transform;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.util.List;

/**
 * Momentum kept as an exponential moving average of the directions: the form of Muon's reference
 * implementations (Keller Jordan's {@code muon.py}, {@code torch.optim.Muon}).
 *
 * <p>With momentum \( \mu \) and the buffer b starting at zero:
 *
 * <p>\( b \leftarrow \mu b + (1 - \mu) d \)<br>
 * heavy ball: \( d \leftarrow b \); Nesterov: \( d \leftarrow (1 - \mu) d + \mu b \)
 *
 * <p>It is {@link Momentum} (PyTorch's SGD momentum, no dampening) up to a constant factor: with
 * the same \( \mu \) and v, Momentum's velocity, \( b = (1 - \mu) v \) at every step, and both
 * outputs are \( 1 - \mu \) times Momentum's (heavy ball: \( b = (1 - \mu) v \); Nesterov: \( (1 -
 * \mu) d + \mu b = (1 - \mu)(d + \mu v) \)). A step that does not depend on the direction's scale,
 * such as Muon's orthogonalisation, therefore moves a weight exactly as {@link Momentum} would;
 * this class reproduces the reference's numbers and its buffer.
 *
 * <p><b>Cost</b>: 3 passes over the parameter's d entries (4 with Nesterov), and d numbers of
 * state.
 */
public final class EmaMomentum implements Transform {

    private final float momentum;
    private final boolean nesterov;

    /**
     * Creates the transform.
     *
     * @param momentum \( \mu \) in [0, 1)
     * @param nesterov whether to use Nesterov's form
     * @throws IllegalArgumentException if \( \mu \) is out of range
     */
    public EmaMomentum(float momentum, boolean nesterov) {
        if (!(momentum >= 0 && momentum < 1)) {
            throw new IllegalArgumentException("momentum must be in [0, 1), but was " + momentum);
        }
        this.momentum = momentum;
        this.nesterov = nesterov;
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "momentum";
    }

    /** {@inheritDoc} */
    @Override
    public List<String> stateNames() {
        return List.of("buffer");
    }

    /** {@inheritDoc} */
    @Override
    public NDList init(NDArray weight) {
        return new NDList(weight.zerosLike());
    }

    /** {@inheritDoc} */
    @Override
    public Result apply(NDArray direction, NDList state, Context context) {
        double keep = 1.0 - momentum;
        NDArray buffer = state.head().mul(momentum).addi(direction.mul(keep));
        NDArray out =
                nesterov ? direction.mul(keep).addi(buffer.mul(momentum)) : buffer.duplicate();
        return new Result(out, new NDList(buffer));
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
     * Returns whether the transform uses Nesterov's form.
     *
     * @return whether Nesterov
     */
    public boolean isNesterov() {
        return nesterov;
    }
}
