package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import io.github.so4j.curvature.DeviceCounters;
import io.github.so4j.curvature.Finite;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.subspace.BatchCurvature;
import io.github.so4j.optimizers.transform.WeightDecay;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * SMB, stochastic model building (Birbil, Martin, Onay and Öztoprak): an SGD trial step, kept when
 * it decreases the batch loss enough, replaced otherwise by the minimizer of a regularised
 * quadratic model built from the gradients at both ends of the trial step, one model per parameter
 * array.
 *
 * <p>With F the batch objective, g its gradient at the weights x, and \( \alpha \) the learning
 * rate:
 *
 * <p>trial step \( s = -\alpha g \); if \( F(x + s) \le F(x) - c\, \alpha \|g\|^2 \) (Armijo, on
 * the same batch) or \( \|g\| &lt; 10^{-8} \), then \( x \leftarrow x + s \).<br>
 * Otherwise, with \( g_t = \nabla F(x + s) \), for every parameter array p (its slices \( g_p, s_p,
 * y_p = g_{t,p} - g_p \)): \( x_p \leftarrow x_p + c_g g_p + c_s s_p + c_y y_p \), where
 *
 * <p>\( \sigma = \frac{1}{2} \left( \|s\| (\|y\| + \|g\| / \eta) - y^\top s \right) \), \( \theta =
 * (y^\top s + 2\sigma)^2 - \|s\|^2 \|y\|^2 \),<br>
 * \( c_g = -\frac{\|s\|^2}{2\sigma} \), \( c_s = \frac{c_g}{\theta} \left( -(y^\top s + 2\sigma)\,
 * y^\top g + \|y\|^2 s^\top g \right) \), \( c_y = \frac{c_g}{\theta} \left( -(y^\top s +
 * 2\sigma)\, s^\top g + \|s\|^2 y^\top g \right) \)
 *
 * <p>(all on the slices of p). This step is the exact minimizer of the model
 *
 * <p>\( m(d) = g^\top d + \frac{(s^\top d)(y^\top d) + \sigma \|d\|^2}{\|s\|^2} \),
 *
 * <p>the relaxation of the paper's model (the product of the linear models at both ends of s,
 * inside the region \( \|d\|^2 + \|d - s\|^2 \le \|s\|^2 \)) whose stationarity condition is \(
 * (2\sigma I + s y^\top + y s^\top) d = -\|s\|^2 g \). The smallest eigenvalue of that matrix is \(
 * \|s\|\|g\| / \eta \), so the model step is never longer than \( \eta \|s\| \): \( \sigma \) is
 * the regularisation that bounds it. Since \( y^\top s + 2\sigma = \|s\| (\|y\| + \|g\| / \eta) \)
 * by the definition of \( \sigma \), \( \theta \) is computed as \( \|s\|^2 \frac{\|g\|}{\eta} (2
 * \|y\| + \frac{\|g\|}{\eta}) \), without the cancellation of the difference of squares. A
 * parameter array whose gradient is zero keeps its (zero) trial step, where the formulas give 0/0.
 *
 * <p><b>The objective</b> is the one DJL's settings describe, as in {@link SubspaceNewton}: \( F(x)
 * = r L(x) + \frac{\omega}{2}\|x\|^2 \) with r DJL's {@code rescaleGrad} and \( \omega \) its
 * weight decay ({@code optWeightDecays}, as {@link WeightDecay#l2}); both gradients are rescaled
 * and clipped to DJL's {@code clipGrad} alike. Learning rates come from the tracker of each
 * parameter (\( \alpha_p \), and the Armijo decrease is then \( c \sum_p \alpha_p \|g_p\|^2 \)).
 *
 * <p><b>Why it needs the batch.</b> DJL hands an optimizer one parameter and its gradient at a
 * time, but SMB evaluates the loss and the gradient of the same batch at a second point, the trial
 * point (the Armijo test is only meaningful on the batch that gave g). So the batch comes through a
 * helper, as for {@link SubspaceNewton}. Replace
 *
 * <pre>{@code
 * EasyTrain.trainBatch(trainer, batch);
 * trainer.step();
 * }</pre>
 *
 * <p>with
 *
 * <pre>{@code
 * Smb smb = Smb.builder().optLearningRate(0.5f).build();
 * // ... new DefaultTrainingConfig(loss).optOptimizer(smb) ...
 * smb.trainStep(trainer, batch);   // trainBatch, prepare, trainer.step()
 * }</pre>
 *
 * <p>An update without a prepared batch ({@code EasyTrain.fit} never prepares) throws an {@link
 * IllegalStateException} naming the fix, and changes nothing. The loss evaluations run the block in
 * inference mode unless {@link Builder#optTrainingMode}. With dropout or batch statistics neither
 * mode evaluates the function whose gradient training gave: inference mode compares two values of
 * one deterministic function; training mode evaluates as the reference's closure does, with a fresh
 * dropout mask for each evaluation. The loss must not multiply recorded arrays by Java numbers, as
 * DJL's {@code L2Loss} does: the trial gradient could then read freed memory (see {@link
 * BatchCurvature}).
 *
 * <p><b>Decided on the device.</b> Both candidates are computed at every step: the trial point's
 * loss and gradient come from one forward and backward pass, which the Armijo test needs anyway for
 * the loss, and the model step costs a few passes over the parameters. The choice is then a {@code
 * where} on the device, so no step reads anything from the device (the reference reads the two
 * losses at every step and computes \( g_t \) only when the test fails): the price is a backward
 * pass on the steps whose trial is accepted. The step is taken only if \( F(x) \) and the chosen
 * step are finite; otherwise it leaves no trace (weights, counters) and is counted in {@code
 * health()} as rejected.
 *
 * <p><b>Learning-rate schedule</b> (off by default, as in the reference): {@link
 * Builder#optAutoSchedule} multiplies the learning rate every {@code window} taken steps by \(
 * \beta \) when more than a fraction \( \gamma \) of them took the model step, and divides it by \(
 * \beta \) otherwise while it stays at most {@code maxLearningRate}. That decision reads from the
 * device at the end of each window: the count of taken steps (which tells whether this step ends a
 * window), the step's decision and the window's count of model steps.
 *
 * <p>Defaults, all from the reference code ({@code sibirbil/SMB}): learning rate 1, c = 0.1, \(
 * \eta = 0.99 \), no schedule (window 500, \( \gamma = 0.05 \), \( \beta = 0.9 \), maximum learning
 * rate 20 when it is on). No momentum, as in the reference.
 *
 * <p><b>Cost</b> per step, with F the cost of a forward pass: the training forward and backward
 * (about 3F), a forward pass for \( F(x) \) (F) and a forward and backward pass at the trial point
 * (about 3F): about 7F against SGD's 3F. Vector work about 20 passes over the d parameters (the
 * trial step, \( y \), three float64 dot products per array, both candidates, the choice, a
 * finiteness sum), no d x d or d x k object. Memory: about 5d for the trial step, the trial point,
 * its gradient, \( y \) and the candidates. Host reads: none; three at the end of each window of
 * the schedule.
 *
 * @see <a href="https://arxiv.org/abs/2111.07058">paper</a> (Birbil et al., Bolstering stochastic
 *     gradient descent with model building)
 * @see <a href="https://github.com/sibirbil/SMB">reference code</a>
 */
public final class Smb extends SecondOrderOptimizer {

    private static final Logger logger = LoggerFactory.getLogger(Smb.class);

    private static final String MODEL_STEPS = "smb/modelSteps";
    private static final String WINDOW_MODEL_STEPS = "smb/windowModelSteps";
    private static final String SCALE = "smb/learningRateScale";

    /** The reference's threshold: a gradient of smaller norm always takes the trial step. */
    private static final double SMALL_GRADIENT_SQUARED = 1e-16;

    private static final int C_MODEL = 0;
    private static final int C_WINDOW = 1;

    private final double armijo;
    private final double eta;
    private final boolean trainingMode;
    private final int window;
    private final double gamma;
    private final double beta;
    private final double maxLearningRate;
    private final float decay;
    private final TransformState weightDecay;

    private BatchCurvature pending;
    private DeviceCounters counts;
    private double scale = 1;

    private Smb(Builder builder) {
        super(builder);
        this.armijo = builder.armijo;
        this.eta = builder.eta;
        this.trainingMode = builder.trainingMode;
        this.window = builder.autoSchedule ? builder.window : 0;
        this.gamma = builder.gamma;
        this.beta = builder.beta;
        this.maxLearningRate = builder.maxLearningRate;
        this.decay = weightDecay();
        this.weightDecay = new TransformState(WeightDecay.l2(decay));
    }

    /**
     * Returns a builder with the reference's defaults.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Trains on one batch: {@code EasyTrain.trainBatch}, then {@link #prepare}, then {@code
     * trainer.step()}.
     *
     * @param trainer a trainer whose optimizer is this one
     * @param batch the batch. Not modified.
     */
    public void trainStep(Trainer trainer, Batch batch) {
        EasyTrain.trainBatch(trainer, batch);
        prepare(
                trainer.getModel().getBlock(),
                trainer.getLoss(),
                batch.getData(),
                batch.getLabels());
        trainer.step();
    }

    /**
     * Hands over the batch of the next update, whose backward has run; the update evaluates the
     * loss and gradient of this batch at the trial point. The arrays stay the caller's and must
     * stay open until then.
     *
     * @param block the block being trained
     * @param loss its loss
     * @param data the batch's inputs. Not modified.
     * @param labels the batch's labels. Not modified.
     */
    public void prepare(Block block, Loss loss, NDList data, NDList labels) {
        pending =
                BatchCurvature.builder()
                        .setBlock(block)
                        .setLoss(loss)
                        .setBatch(data, labels)
                        .optTraining(trainingMode)
                        .build();
    }

    /** {@inheritDoc} */
    @Override
    protected Map<String, NDArray> computeStep(
            List<ParameterGradient> parameters, NDManager owner, Step step) {
        BatchCurvature batch = pending;
        pending = null;
        if (batch == null) {
            throw new IllegalStateException(
                    "Smb needs the batch: call trainStep(trainer, batch), or prepare(block, loss,"
                            + " data, labels) after backward and before each update (EasyTrain.fit"
                            + " and trainer.step() alone do not)");
        }
        NDManager scope = step.scope();
        Map<String, ParameterGradient> byKey = new HashMap<>();
        for (ParameterGradient p : parameters) {
            byKey.put(p.key(), p);
        }
        int index = (int) Math.min(step.highestPossibleIndex(), Integer.MAX_VALUE);
        List<Parameter> arrays = batch.parameters();
        int n = arrays.size();
        NDList weights = new NDList(n);
        for (Parameter parameter : arrays) {
            weights.add(parameter.getArray());
        }
        if (counts == null) {
            counts = new DeviceCounters(weights.head().getManager(), 2);
        }
        Map<String, NDArray> directions = new HashMap<>();
        try (Workspace ws = new Workspace(scope, weights)) {
            NDManager work = ws.manager();
            String[] keys = new String[n];
            double[] rates = new double[n];
            NDList gradients = new NDList(n);
            NDList trial = new NDList(n);
            double largestRate = 0;
            for (int i = 0; i < n; i++) {
                NDArray weight = weights.get(i);
                keys[i] = weight.getUid();
                ParameterGradient p = byKey.get(keys[i]);
                NDArray raw =
                        p != null
                                ? p.gradient()
                                // trainable since this step: it moves from the next one
                                : work.zeros(weight.getShape(), weight.getDataType());
                String id = p == null || p.id() == null ? "" : p.id();
                rates[i] = getLearningRateTracker().getNewValue(id, index);
                largestRate = Math.max(largestRate, rates[i]);
                NDArray g = weightDecay.apply(keys[i], raw, raw, weight, step);
                gradients.add(g);
                trial.add(g.mul(-rates[i] * scale));
            }
            NDArray value = objective(batch.loss(work), weights, null);
            BatchCurvature.ValueAndGradient at = batch.valueAndGradientAt(trial, work);
            NDArray trialValue = objective(at.value(), weights, trial);
            NDList squares = new NDList(n);
            NDList decreases = new NDList(n);
            NDList moves = new NDList(n);
            for (int i = 0; i < n; i++) {
                NDArray g64 = gradients.get(i).toType(DataType.FLOAT64, false);
                NDArray gg = g64.mul(g64).sum();
                squares.add(gg);
                decreases.add(gg.mul(rates[i] * scale));
                NDArray gt =
                        objectiveGradient(
                                keys[i], at.gradient().get(i), weights.get(i), trial.get(i), step);
                NDArray y = gt.sub(gradients.get(i));
                moves.add(modelDirection(gradients.get(i), g64, gg, y, rates[i]));
            }
            NDArray takeTrial =
                    trialValue
                            .lte(value.sub(sum(decreases).mul(armijo)))
                            .logicalOr(sum(squares).lt(SMALL_GRADIENT_SQUARED));
            step.require(ws.keep(Finite.flag(value), scope));
            NDList chosen = new NDList(n);
            for (int i = 0; i < n; i++) {
                NDArray g = gradients.get(i);
                NDArray sgd = scale == 1 ? g : g.mul(scale);
                chosen.add(rates[i] == 0 ? sgd : Step.select(takeTrial, sgd, moves.get(i)));
            }
            step.require(ws.keep(Finite.ofSums(chosen), scope));
            NDArray model = takeTrial.logicalNot().toType(DataType.INT64, false);
            NDArray old = counts.array();
            NDArray candidate;
            try (Workspace counting = new Workspace(work, old)) {
                // kept in the step's scope: the commit runs after this method returns
                candidate = counting.keep(old.add(NDArrays.stack(new NDList(model, model))), scope);
            }
            if (window > 0 && step.isDue(t -> t % window == 0)) {
                if (!step.accepted()) {
                    return null;
                }
                candidate = reschedule(candidate, largestRate);
            }
            NDArray counted = candidate;
            step.onCommit(accepted -> counts.replace(Step.select(accepted, counted, old)));
            for (int i = 0; i < n; i++) {
                // only the parameters of this step: one that became trainable since it began is
                // left to the base class, which moves it from the next step on
                if (byKey.containsKey(keys[i])) {
                    directions.put(keys[i], ws.keep(chosen.get(i), owner));
                }
            }
        }
        for (ParameterGradient p : parameters) {
            if (!directions.containsKey(p.key())) { // not a trainable parameter of the block
                NDArray w = p.weight();
                directions.put(p.key(), owner.zeros(w.getShape(), w.getDataType()));
            }
        }
        return directions;
    }

    /**
     * The schedule's decision at the end of a window, on an accepted step: one read of the window's
     * count of model steps; returns the counts with the window's restarted.
     */
    private NDArray reschedule(NDArray candidate, double rate) {
        long[] values = HostReads.toLongs(candidate);
        double fraction = values[C_WINDOW] / (double) window;
        double before = scale;
        if (fraction > gamma) {
            scale *= beta;
        } else if (rate * scale / beta <= maxLearningRate) {
            scale /= beta;
        }
        logger.debug(
                "Smb: {} of the last {} steps took the model step; learning-rate scale {} -> {}",
                values[C_WINDOW],
                window,
                before,
                scale);
        values[C_WINDOW] = 0;
        return candidate.getManager().create(values);
    }

    /**
     * The model step of one parameter array as a direction u (the base class moves the weight by \(
     * -\alpha u \)): with \( s = -a g \), \( a = \alpha \cdot \) scale, the step \( c_g g + c_s s +
     * c_y y \) is \( -\alpha (k_g g + k_y y) \) for \( k_g = (a c_s - c_g) / \alpha \), \( k_y =
     * -c_y / \alpha \).
     */
    private NDArray modelDirection(NDArray g, NDArray g64, NDArray gg, NDArray y, double rate) {
        if (rate == 0) {
            return g;
        }
        double a = rate * scale;
        NDArray y64 = y.toType(DataType.FLOAT64, false);
        NDArray yy = y64.mul(y64).sum();
        NDArray yg = y64.mul(g64).sum();
        NDArray c = coefficients(gg.mul(a * a), yy, gg, gg.mul(-a), yg, yg.mul(-a), eta);
        NDArray kg = c.get(1).mul(a).sub(c.get(0)).div(rate);
        NDArray ky = c.get(2).div(-rate);
        return g.mul(kg.toType(g.getDataType(), false))
                .add(y.mul(ky.toType(y.getDataType(), false)));
    }

    /**
     * The closed-form coefficients \( (c_g, c_s, c_y) \) of the model step \( c_g g + c_s s + c_y y
     * \) (see the class javadoc), from the inner products of the slices of one parameter array, on
     * the device. Where \( \|s\| = 0 \) or \( \|g\| = 0 \) (0/0) they are (0, 1, 0): the trial
     * step.
     *
     * @param ss \( \|s\|^2 \)
     * @param yy \( \|y\|^2 \)
     * @param gg \( \|g\|^2 \)
     * @param sg \( s^\top g \)
     * @param yg \( y^\top g \)
     * @param ys \( y^\top s \)
     * @param eta \( \eta \) in (0, 1)
     * @return a float64 vector of three entries, owned by {@code ss}'s manager
     */
    static NDArray coefficients(
            NDArray ss, NDArray yy, NDArray gg, NDArray sg, NDArray yg, NDArray ys, double eta) {
        NDArray normS = ss.sqrt();
        NDArray normY = yy.sqrt();
        NDArray gOverEta = gg.sqrt().div(eta);
        NDArray shifted = normS.mul(normY.add(gOverEta)); // y's + 2 sigma
        NDArray sigma = shifted.sub(ys).mul(0.5);
        NDArray theta = ss.mul(gOverEta).mul(normY.mul(2).add(gOverEta));
        NDArray cg = ss.div(sigma.mul(2)).neg();
        NDArray ratio = cg.div(theta);
        NDArray cs = ratio.mul(shifted.neg().mul(yg).add(yy.mul(sg)));
        NDArray cy = ratio.mul(shifted.neg().mul(sg).add(ss.mul(yg)));
        NDArray computed = NDArrays.stack(new NDList(cg, cs, cy));
        NDArray trialStep = ss.getManager().create(new double[] {0, 1, 0});
        NDArray defined = ss.gt(0).logicalAnd(gg.gt(0));
        return computed.getNDArrayInternal()
                .where(defined.broadcast(computed.getShape()), trialStep);
    }

    /**
     * \( \nabla F \) at the trial point from the loss's gradient there: rescaled and clipped as the
     * base class does with the training gradient, plus \( \omega (w + s) \).
     */
    private NDArray objectiveGradient(
            String key, NDArray lossGradient, NDArray weight, NDArray displacement, Step step) {
        NDArray g = lossGradient;
        if (rescaleGrad != 1f) {
            g = g.mul(rescaleGrad);
        }
        if (clipGrad > 0) {
            g = g.clip(-clipGrad, clipGrad);
        }
        return decay == 0 ? g : weightDecay.apply(key, g, g, weight.add(displacement), step);
    }

    /**
     * \( F(w + \delta) = r L + \frac{\omega}{2} \|w + \delta\|^2 \) in float64, from the loss at
     * that point ({@code displacement} null for \( \delta = 0 \)).
     */
    private NDArray objective(NDArray loss, NDList weights, NDList displacement) {
        NDArray value = loss.toType(DataType.FLOAT64, false).mul(rescaleGrad);
        if (decay == 0) {
            return value;
        }
        NDList squares = new NDList(weights.size());
        for (int i = 0; i < weights.size(); i++) {
            NDArray x = weights.get(i);
            if (displacement != null) {
                x = x.add(displacement.get(i));
            }
            NDArray x64 = x.toType(DataType.FLOAT64, false);
            squares.add(x64.mul(x64).sum());
        }
        return value.add(sum(squares).mul(decay / 2.0));
    }

    private static NDArray sum(NDList scalars) {
        return scalars.size() == 1 ? scalars.head() : NDArrays.stack(scalars).sum();
    }

    /** {@inheritDoc} */
    @Override
    protected boolean parametersChanged(List<String> keys) {
        weightDecay.retain(keys);
        return false;
    }

    /** {@inheritDoc} */
    @Override
    protected Map<String, Object> curvatureHealth() {
        Map<String, Object> health = new LinkedHashMap<>();
        health.put("modelSteps", counts == null ? 0L : counts.read()[C_MODEL]);
        if (window > 0) {
            health.put("learningRateScale", scale);
        }
        return health;
    }

    /**
     * Returns how many taken steps replaced the trial step by the model step (one host read).
     *
     * @return the count
     */
    public long modelSteps() {
        return counts == null ? 0 : counts.read()[C_MODEL];
    }

    /**
     * Returns the factor by which the schedule has multiplied the learning rate so far.
     *
     * @return 1 without {@link Builder#optAutoSchedule}
     */
    public double learningRateScale() {
        return scale;
    }

    /**
     * Saves the count of model steps, the count of the schedule's current window and the schedule's
     * learning-rate factor. A prepared batch is not part of the state: save between steps.
     */
    @Override
    protected void writeState(OptimizerState state) {
        long[] values = counts == null ? new long[2] : counts.read();
        state.putLong(MODEL_STEPS, values[C_MODEL])
                .putLong(WINDOW_MODEL_STEPS, values[C_WINDOW])
                .putDouble(SCALE, scale);
    }

    /**
     * Puts the device counters of model steps (two int64), without the read that {@link
     * #writeState} makes to save them as numbers.
     */
    @Override
    protected void measureState(OptimizerState state) {
        if (counts != null) {
            state.put(MODEL_STEPS, counts.array());
        }
    }

    /** {@inheritDoc} */
    @Override
    protected void readState(OptimizerState state) {
        long[] values = {state.getLong(MODEL_STEPS), state.getLong(WINDOW_MODEL_STEPS)};
        double restoredScale = state.getDouble(SCALE);
        if (!(restoredScale > 0) || Double.isInfinite(restoredScale)) {
            throw new IllegalArgumentException(
                    "the checkpoint's learning-rate scale must be positive and finite, but was "
                            + restoredScale);
        }
        if (window == 0 && restoredScale != 1) {
            throw new IllegalArgumentException(
                    "the checkpoint's learning-rate scale is "
                            + restoredScale
                            + ", but this optimizer has no schedule (optAutoSchedule)");
        }
        if (counts != null) {
            counts.close();
        }
        counts = new DeviceCounters(state.parameterManager(), values);
        scale = restoredScale;
        pending = null;
    }

    /** Builds {@link Smb}. */
    public static final class Builder extends BaseBuilder<Builder> {

        private double armijo = 0.1;
        private double eta = 0.99;
        private boolean trainingMode;
        private boolean autoSchedule;
        private int window = 500;
        private double gamma = 0.05;
        private double beta = 0.9;
        private double maxLearningRate = 20;

        Builder() {
            super(1f);
        }

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets c, the Armijo constant of the test of the trial step.
         *
         * @param armijo positive; default 0.1 (the reference's)
         * @return this {@code Builder}
         */
        public Builder optArmijo(double armijo) {
            this.armijo = armijo;
            return this;
        }

        /**
         * Sets \( \eta \), which bounds the model step: \( \|c_g g + c_s s + c_y y\| \le \eta \|s\|
         * \) for every parameter array.
         *
         * @param eta in (0, 1); default 0.99 (the reference's)
         * @return this {@code Builder}
         */
        public Builder optEta(double eta) {
            this.eta = eta;
            return this;
        }

        /**
         * Sets whether the loss evaluations run the block in training mode.
         *
         * @param trainingMode default {@code false}
         * @return this {@code Builder}
         */
        public Builder optTrainingMode(boolean trainingMode) {
            this.trainingMode = trainingMode;
            return this;
        }

        /**
         * Turns on the reference's learning-rate schedule (see the class javadoc).
         *
         * @param autoSchedule default {@code false}
         * @return this {@code Builder}
         */
        public Builder optAutoSchedule(boolean autoSchedule) {
            this.autoSchedule = autoSchedule;
            return this;
        }

        /**
         * Sets the number of taken steps after which the schedule decides.
         *
         * @param window at least 1; default 500 (the reference's {@code n_batches_per_epoch})
         * @return this {@code Builder}
         */
        public Builder optScheduleWindow(int window) {
            this.window = window;
            return this;
        }

        /**
         * Sets \( \gamma \), the fraction of model steps above which the schedule shrinks the
         * learning rate.
         *
         * @param gamma in [0, 1]; default 0.05 (the reference's)
         * @return this {@code Builder}
         */
        public Builder optScheduleGamma(double gamma) {
            this.gamma = gamma;
            return this;
        }

        /**
         * Sets \( \beta \), the schedule's factor.
         *
         * @param beta in (0, 1); default 0.9 (the reference's)
         * @return this {@code Builder}
         */
        public Builder optScheduleBeta(double beta) {
            this.beta = beta;
            return this;
        }

        /**
         * Sets the largest learning rate the schedule grows to.
         *
         * @param maxLearningRate positive and finite; default 20 (the reference's)
         * @return this {@code Builder}
         */
        public Builder optMaxLearningRate(double maxLearningRate) {
            this.maxLearningRate = maxLearningRate;
            return this;
        }

        /**
         * Builds the optimizer.
         *
         * @return the optimizer
         * @throws IllegalArgumentException naming the setting and its value if one is invalid
         */
        public Smb build() {
            if (!(armijo > 0) || Double.isInfinite(armijo)) {
                throw new IllegalArgumentException(
                        "armijo must be positive and finite, but was " + armijo);
            }
            if (!(eta > 0 && eta < 1)) {
                throw new IllegalArgumentException("eta must be in (0, 1), but was " + eta);
            }
            if (window < 1) {
                throw new IllegalArgumentException(
                        "scheduleWindow must be at least 1, but was " + window);
            }
            if (!(gamma >= 0 && gamma <= 1)) {
                throw new IllegalArgumentException(
                        "scheduleGamma must be in [0, 1], but was " + gamma);
            }
            if (!(beta > 0 && beta < 1)) {
                throw new IllegalArgumentException(
                        "scheduleBeta must be in (0, 1), but was " + beta);
            }
            if (!(maxLearningRate > 0) || Double.isInfinite(maxLearningRate)) {
                throw new IllegalArgumentException(
                        "maxLearningRate must be positive and finite, but was " + maxLearningRate);
            }
            return new Smb(this);
        }
    }
}
