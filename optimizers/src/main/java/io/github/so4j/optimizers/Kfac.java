package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.EasyTrain;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.Finite;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.kfac.InversionMode;
import io.github.so4j.curvature.kfac.KroneckerFactoredBlock;
import io.github.so4j.curvature.kfac.KroneckerHealth;
import io.github.so4j.curvature.kfac.KroneckerSettings;
import io.github.so4j.curvature.kfac.LayerDirection;
import io.github.so4j.curvature.kfac.LinearKroneckerFactored;
import io.github.so4j.curvature.kfac.LossAverage;
import io.github.so4j.curvature.subspace.BatchCurvature;
import io.github.so4j.optimizers.kfac.AdaptiveDamping;
import io.github.so4j.optimizers.kfac.CapturedLayer;
import io.github.so4j.optimizers.kfac.CurvatureEstimator;
import io.github.so4j.optimizers.kfac.CurvatureEstimator.Layer;
import io.github.so4j.optimizers.kfac.CurvatureEstimator.Schedule;
import io.github.so4j.optimizers.kfac.FirstOrderRule;
import io.github.so4j.optimizers.kfac.Instrumentation;
import io.github.so4j.optimizers.kfac.LabelSampler;
import io.github.so4j.optimizers.kfac.LayerRecording;
import io.github.so4j.optimizers.kfac.MonteCarloFisher;
import io.github.so4j.optimizers.kfac.QuadraticModelStep;
import io.github.so4j.optimizers.transform.Chain;
import io.github.so4j.optimizers.transform.Momentum;
import io.github.so4j.optimizers.transform.Transform;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * K-FAC: gradient steps preconditioned, layer by layer, by the damped inverse of a
 * Kronecker-factored approximation of the Fisher, \( F_\ell \approx A_\ell \otimes G_\ell \).
 *
 * <p>Two changes to a DJL training loop: this optimizer, and the model's block passed once through
 * {@link #instrument(Block)}, which makes every {@code Linear} and {@code Conv2d} layer record its
 * inputs and output gradients (see {@link Instrumentation}); {@code EasyTrain.fit} stays as it is.
 * For each covered layer \( \ell \) with gradient \( M_\ell = [\nabla W_\ell, \nabla b_\ell] \) the
 * step is
 *
 * <p>\( V_\ell = \hat F_\ell^{-1} M_\ell \) (as {@link InversionMode} says, damping \( \lambda \))
 * <br>
 * \( \nu = \min\left(1, \sqrt{\kappa / (\eta^2 \sum_\ell \langle V_\ell, M_\ell \rangle)}\right) \)
 * (KL clipping, kfac-pytorch's {@code kl_clip} \( \kappa \), over all covered layers)<br>
 * \( u_\ell = \nu V_\ell + \omega W_\ell \) (decoupled weight decay \( \omega \); with {@link
 * WeightDecay#L2}, \( \omega W_\ell \) is added to \( M_\ell \) before preconditioning instead)
 * <br>
 * \( v_\ell \leftarrow \mu v_\ell + u_\ell \), \( W_\ell \leftarrow W_\ell - \eta_t v_\ell \)
 * (momentum as in PyTorch's SGD, which kfac-pytorch wraps, the one meaning of {@code optMomentum}
 * in so4j)
 *
 * <p>Weight decay and momentum are so4j's shared update transforms, their state kept per parameter
 * by {@link TransformState}. Parameters outside covered layers (and those of a layer before its
 * first inverse) move by the {@link FirstOrderRule} named in the builder (default: SGD with the
 * same momentum), on \( g + \omega w \). A model with no instrumented layer is refused at the first
 * step unless {@link Builder#optAllowUninstrumented} says otherwise. The factors and inverses are
 * the {@link CurvatureEstimator}'s: factors from every {@code factorUpdateFrequency}-th taken
 * step's batch, inverses every {@code inverseUpdateFrequency}-th, both fixed or scheduled by a
 * {@link Tracker}. The Fisher is the empirical one (training labels) unless {@link
 * Fisher#MONTE_CARLO} is chosen, which needs {@link MonteCarloFisher} as the training step. {@code
 * Linear} layers applied to sequences, (N, T, p) inputs as in a transformer, take the tokens as the
 * examples of the Fisher, for a loss averaged over every token ({@link LossAverage#ROWS}, the
 * default; {@link Builder#optLossAverage} for a loss averaged over sequences).
 *
 * <p><b>The adaptive step</b> ({@link Builder#optAdaptiveStep}, {@link
 * Builder#optAdaptiveDamping}): the learning rate and momentum of every step from the exact
 * quadratic model of the batch objective, \( \delta = w_0 \Delta + w_1 v \) with \( (A + \lambda D)
 * w = -b \) in the plane of the preconditioned gradient \( \Delta \) and the previous update v, and
 * the damping adapted by the Levenberg-Marquardt rule every few steps ({@link QuadraticModelStep},
 * {@link AdaptiveDamping}). It needs the batch: {@link #trainStep} (or {@link #prepare} before each
 * update) instead of {@code EasyTrain}'s step; plain {@code EasyTrain.fit} keeps the fixed mode. It
 * reads from the device every step (the decision and the 2 x 2 model; the Hessian's products add
 * their norms), and costs the Gauss-Newton model's two Jacobian-vector products (about 7 forward
 * passes) more than a K-FAC step. {@link #burnIn} updates the factors on batches before the first
 * step, without moving the weights (kfac-jax's {@code num_burnin_steps}).
 *
 * <p>The step guard ({@link Step}): a step is taken only if every gradient, the factor statistics
 * and the preconditioned norm \( \sum_\ell \langle V_\ell, M_\ell \rangle \) are finite (a float32
 * gradient of 1e30 overflows it); on refresh steps, decided on the host before the inverses are
 * computed, the last is replaced by its bound \( \sum_\ell \|M_\ell\|^2 / \lambda \), which the
 * damped inverses cannot exceed. A rejected step changes nothing: factors, momenta, moments,
 * inverses, the count of taken steps that drives the schedules, and the Monte-Carlo labels of later
 * steps. Ordinary steps read nothing from the device; refresh steps read the decision, the step's
 * index if the host does not know it, and the inversions' own reads; with a factor period above 1,
 * a step that may be a factor step reads its decision and index once, at its end. A failed
 * inversion keeps the previous inverse, and one more than {@code maxConsecutiveFailures} in a row
 * throws. Everything is counted ({@link #health()}, {@link #kroneckerHealth()}); sums across layers
 * are sorted, so that runs do not depend on the order in which DJL updates parameters.
 *
 * <p>Defaults, from the anchors: damping \( 10^{-3} \), factor decay 0.95 and KL clip \( 10^{-3} \)
 * (kfac-pytorch, {@code KFACPreconditioner}); momentum 0.9 and update frequencies 10 (factors) and
 * 100 (inverses) (kfac-pytorch's original {@code KFACOptimizer}, {@code TCov} and {@code TInv});
 * learning rate 0.1 (kfac-pytorch's {@code lr}); {@link InversionMode#INVERSE}; {@link
 * Fisher#EMPIRICAL}; {@link LossAverage#ROWS}; weight decay 0 ({@code optWeightDecays}), decoupled.
 *
 * <p><b>Cost</b> per step and layer with p inputs (plus the bias) and q outputs: \( 2pq(p + q) \)
 * flops to precondition ({@link InversionMode#EIGEN}: twice that; {@link InversionMode#LOW_RANK}
 * with rank k: about \( 4pq(k_G + k_A) \), with \( k_X = k \) for a factor larger than 2k and half
 * its size otherwise, and no recording on ordinary steps); every factor update \( 2R(p^2 + q^2) \)
 * for R rows of the batch; every inverse update \( O(p^3 + q^3) \). A dense layer whose batch has
 * fewer rows than that makes worthwhile (\( R(q^2 + p^2 + qp) &lt; qp(q + p) \), e.g. the 785 x 256
 * layer of an MLP at batch 128) is preconditioned from its gradient's rows, \( \nabla W = D^\top
 * \bar P \): \( ((G + d_G I)^{-1} D^\top)(\bar P (A + d_A I)^{-1}) \) at \( 2R(q^2 + p^2 + qp) \)
 * flops, the same direction up to rounding; such a layer records its inputs and output gradients on
 * every step. This needs the gradient to be the recordings' own: the {@link Fisher#EMPIRICAL}
 * Fisher, no DJL {@code clipGrad}, no {@link WeightDecay#L2}, and a loss that reaches the weight
 * only through the layer's recorded forwards (a weight shared with another block, or a penalty on
 * the weights inside the loss, breaks it: build such a model with {@code optClipGrad} set, which
 * turns the rows off). Memory: \( 2(p^2 + q^2) \) per layer plus one momentum buffer per parameter.
 *
 * <p>{@link #stateBytes()} counts, per covered layer, A and G, the last good preconditioner ({@link
 * InversionMode#INVERSE}: the two damped inverses, of the factors' sizes; {@link
 * InversionMode#EIGEN}: both eigenbases and the q x p inverse scale; {@link
 * InversionMode#LOW_RANK}: per factor U and W, n x k each, and 1/s, or the damped inverse of a
 * small factor, plus the fixed n x min(k + 10, n) Gaussian start block of each large factor, which
 * a checkpoint leaves out), the averaging weight and the layer's two device counts, and for a
 * convolution its im2col kernel (C kh kw x kh kw numbers, which a checkpoint leaves out: it is
 * rebuilt from the layer's shape); the next step's index; and the momentum buffers (when \( \mu > 0
 * \)) and the state of the first-order rule of uncovered parameters. The inputs and output
 * gradients that the instrumented layers record go with the batch and are not counted.
 *
 * @see <a href="https://arxiv.org/abs/1503.05671">paper</a>
 * @see <a href="https://arxiv.org/abs/1602.01407">KFC paper</a>
 */
public final class Kfac extends SecondOrderOptimizer {

    private static final Logger logger = LoggerFactory.getLogger(Kfac.class);
    private static final String STATE = "kfac/";
    private static final String ADAPTIVE = STATE + "adaptive/";
    private static final String UNINSTRUMENTED =
            "K-FAC found no instrumented layer among the model's trained parameters: pass the"
                    + " model's block through Kfac.instrument(block) before initializing the model"
                    + " or creating its trainer (model.setBlock(kfac.instrument(block))), or build"
                    + " with optAllowUninstrumented(true) to train every parameter with the"
                    + " first-order rule";

    /** Which labels define the output gradients of the Fisher's factors. */
    public enum Fisher {
        /** The training labels: a drop-in, no extra pass. */
        EMPIRICAL,
        /**
         * Labels sampled from the model's predictive distribution (the true Fisher in expectation);
         * needs {@link MonteCarloFisher#trainBatch} in place of {@code EasyTrain.trainBatch}.
         */
        MONTE_CARLO
    }

    /** How weight decay \( \omega \) (DJL's {@code optWeightDecays}) enters the step. */
    public enum WeightDecay {
        /** \( \omega W \) added to the preconditioned, clipped direction (kfac-pytorch). */
        DECOUPLED,
        /** \( \omega W \) added to the gradient before preconditioning (an L2 penalty). */
        L2
    }

    private final Tracker damping;
    private final Tracker factorUpdateFrequency;
    private final Tracker inverseUpdateFrequency;
    private final float klClip;
    private final float momentum;
    private final KroneckerSettings settings;
    private final Fisher fisher;
    private final LossAverage lossAverage;
    private final WeightDecay weightDecayMode;
    private final FirstOrderRule uncoveredRule;
    private final boolean allowUninstrumented;
    private final Instrumentation instrumentation = new Instrumentation();
    private long burnInBatches;
    private final CurvatureEstimator estimator;

    /** Learning rate and momentum from the quadratic model (and the damping rule), or null. */
    private final QuadraticModelStep adaptive;

    /** \( d + \omega w \), or null without weight decay. */
    private final Transform l2;

    /** Decoupled weight decay and momentum of covered layers, the uncovered rule's state. */
    private TransformState covered;

    private TransformState uncovered;
    private boolean started;

    /** The layers preconditioned from their gradients' rows at their last recorded step. */
    private final Set<CapturedLayer> rowLayers = new HashSet<>();

    private Kfac(Builder builder) {
        super(builder);
        this.damping = builder.damping;
        this.factorUpdateFrequency = builder.factorUpdateFrequency;
        this.inverseUpdateFrequency = builder.inverseUpdateFrequency;
        this.klClip = builder.adaptiveStep ? Float.POSITIVE_INFINITY : builder.klClip;
        this.momentum = builder.momentum;
        this.settings =
                new KroneckerSettings(
                        builder.factorDecay,
                        builder.inversion,
                        builder.maxConsecutiveFailures,
                        builder.hostEigenLimit,
                        builder.factorRank);
        this.fisher = builder.fisher;
        this.lossAverage = builder.lossAverage;
        this.weightDecayMode = builder.weightDecayMode;
        this.uncoveredRule =
                builder.uncoveredRule != null
                        ? builder.uncoveredRule
                        : FirstOrderRule.sgd(builder.momentum);
        this.allowUninstrumented = builder.allowUninstrumented;
        instrumentation.setLabelSeed(builder.seed);
        if (builder.adaptiveStep
                && weightDecayMode == WeightDecay.DECOUPLED
                && weightDecay() != 0) {
            throw new IllegalArgumentException(
                    "adaptiveStep needs weightDecayMode L2 (the objective's L2 term), but"
                            + " weightDecayMode was DECOUPLED with weight decay "
                            + weightDecay());
        }
        this.adaptive =
                builder.adaptiveStep
                        ? new QuadraticModelStep(
                                builder.quadraticCurvature,
                                builder.adaptiveDamping
                                        ? new AdaptiveDamping(
                                                builder.fixedDamping,
                                                builder.minDamping,
                                                builder.maxDamping,
                                                builder.dampingAdaptationInterval,
                                                builder.dampingAdaptationDecay)
                                        : null)
                        : null;
        this.estimator =
                new CurvatureEstimator(
                        instrumentation,
                        settings,
                        lossAverage,
                        adaptive == null ? damping : identityWeight(),
                        factorUpdateFrequency,
                        inverseUpdateFrequency,
                        fisher == Fisher.MONTE_CARLO);
        float decay = weightDecay();
        this.l2 = decay == 0 ? null : io.github.so4j.optimizers.transform.WeightDecay.l2(decay);
        List<Transform> after = new ArrayList<>();
        if (decay != 0 && weightDecayMode == WeightDecay.DECOUPLED) {
            after.add(io.github.so4j.optimizers.transform.WeightDecay.decoupled(decay));
        }
        if (momentum != 0) {
            after.add(Momentum.heavyBall(momentum));
        }
        this.covered =
                after.isEmpty()
                        ? null
                        : new TransformState(
                                Chain.named("covered", after.toArray(Transform[]::new)));
        Transform rule = uncoveredRule.transform();
        this.uncovered = rule == null ? null : new TransformState(rule);
    }

    /**
     * Returns a builder with the defaults listed in the class documentation.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Instruments a model's block tree so that this optimizer sees its layers: call it once, before
     * training, and give the model the block it returns. Warnings and {@link #health()} name the
     * layers and parameters as the block does.
     *
     * <pre>{@code
     * Kfac kfac = Kfac.builder().build();
     * model.setBlock(kfac.instrument(block));
     * }</pre>
     *
     * @param block the model's block. Modified: see {@link Instrumentation#instrument}.
     * @return the block to give the model ({@code block} itself unless it is a single layer)
     */
    public Block instrument(Block block) {
        return instrumentation.instrument(block);
    }

    /**
     * Returns the instrumentation, for {@link MonteCarloFisher} and for reports.
     *
     * @return the instrumentation
     */
    public Instrumentation instrumentation() {
        return instrumentation;
    }

    /**
     * Returns the curvature block of a covered layer.
     *
     * @param layer one of {@code instrumentation().layers()}
     * @return its block, or {@code null} before its first step
     */
    public KroneckerFactoredBlock curvatureBlock(CapturedLayer layer) {
        return estimator.block(layer);
    }

    /**
     * Returns what the curvature blocks have done, summed over the covered layers (reads the device
     * counters, one read per layer).
     *
     * @return the sum of their counters
     */
    public KroneckerHealth kroneckerHealth() {
        return sum(estimator.health().values());
    }

    private static KroneckerHealth sum(Collection<KroneckerHealth> layers) {
        KroneckerHealth total = KroneckerHealth.NONE;
        for (KroneckerHealth layer : layers) {
            total = total.plus(layer);
        }
        return total;
    }

    /**
     * Returns {@link #kroneckerHealth()} as named counters: {@code factorUpdates}, {@code
     * rejectedFactorUpdates}, {@code refreshes}, {@code failedRefreshes}, {@code inverseFallbacks},
     * summed over the covered layers, then {@code "layer <name>"} with the counters of each layer
     * that had a rejected update, a failed refresh or a fallback.
     *
     * @return the counters
     */
    @Override
    protected Map<String, Object> curvatureHealth() {
        Map<CapturedLayer, KroneckerHealth> layers = estimator.health();
        KroneckerHealth h = sum(layers.values());
        Map<String, Object> counters = new LinkedHashMap<>();
        counters.put("factorUpdates", h.factorUpdates());
        counters.put("rejectedFactorUpdates", h.rejectedFactorUpdates());
        counters.put("refreshes", h.refreshes());
        counters.put("failedRefreshes", h.failedRefreshes());
        counters.put("inverseFallbacks", h.inverseFallbacks());
        if (adaptive != null) {
            counters.putAll(adaptive.health());
        }
        for (Map.Entry<CapturedLayer, KroneckerHealth> entry : layers.entrySet()) {
            KroneckerHealth layer = entry.getValue();
            if (layer.rejectedFactorUpdates() + layer.failedRefreshes() + layer.inverseFallbacks()
                    > 0) {
                counters.put("layer " + entry.getKey().name(), layer.toString());
            }
        }
        return counters;
    }

    /** {@inheritDoc} */
    @Override
    protected Map<String, NDArray> computeStep(
            List<ParameterGradient> parameters, NDManager owner, Step step) {
        BatchCurvature batch = adaptive == null ? null : adaptive.take();
        Map<String, ParameterGradient> byKey = new HashMap<>();
        for (ParameterGradient p : parameters) {
            byKey.put(p.key(), p);
        }
        List<Layer> layers =
                estimator.layers(byKey.keySet(), parameters.get(0).weight().getManager());
        checkCoverage(layers);
        Schedule schedule = estimator.schedule(step);
        // the gradients the curvature sees: M, or M + omega W with L2 weight decay
        Map<String, NDArray> m = new HashMap<>();
        for (Layer layer : layers) {
            for (String key : keys(layer)) {
                ParameterGradient p = byKey.get(key);
                m.put(key, weightDecayMode == WeightDecay.L2 ? withL2(p, step) : p.gradient());
            }
        }
        Map<CapturedLayer, List<LayerRecording>> recordings =
                estimator.updateFactors(layers, schedule, step);
        boolean rows = gradientsAreRecorded();
        if (schedule.refresh()) {
            if (!m.isEmpty()) {
                NDArray bound = sortedSum(squaredNorms(m.values()));
                step.require(Finite.flag(bound.div(estimator.damping(schedule))));
            }
            if (!estimator.decide(step, schedule)) {
                estimator.prepareNextStep(schedule);
                return null;
            }
            estimator.refreshInverses(layers, schedule);
        }
        Map<String, NDArray> preconditioned = new HashMap<>();
        Map<String, NDArray> scales = new HashMap<>();
        // by layer name, unique in a model: the sum's order is the same for any order of layers
        Map<String, NDArray> squaredNorms = new TreeMap<>();
        for (Layer layer : layers) {
            List<LayerRecording> own = recordings.get(layer.captured());
            NDList inputs = rows ? recordedInputs(layer, own) : null;
            boolean fromRows = inputs != null && rowsAreCheaper(layer, inputs);
            if (fromRows) {
                rowLayers.add(layer.captured());
            } else if (!rows || (own != null && !own.isEmpty())) {
                rowLayers.remove(layer.captured());
            }
            if (layer.hasPreconditioner()) {
                NDArray bias = layer.biasKey() == null ? null : m.get(layer.biasKey());
                NDArray weight = m.get(layer.weightKey());
                LayerDirection v =
                        fromRows
                                ? ((LinearKroneckerFactored) layer.block())
                                        .precondition(
                                                weight,
                                                bias,
                                                inputs,
                                                outputGradients(own, step.scope()))
                                : layer.block().preconditionScaled(weight, bias);
                preconditioned.put(layer.weightKey(), v.directions().get(0));
                if (bias != null) {
                    preconditioned.put(layer.biasKey(), v.directions().get(1));
                }
                if (v.scale() != null) {
                    for (String key : keys(layer)) {
                        scales.put(key, v.scale());
                    }
                }
                squaredNorms.put(layer.captured().name(), v.squaredNorm());
            }
        }
        estimator.recordEveryStep(rowLayers);
        if (!squaredNorms.isEmpty()) {
            NDArray total =
                    squaredNorms.size() == 1
                            ? squaredNorms.values().iterator().next()
                            : NDArrays.stack(new NDList(squaredNorms.values())).sum();
            clip(preconditioned, scales, total, schedule, step, parameters);
        }
        // every condition is registered: a factor step is decided now, so that the next step
        // knows its index and gathers no statistics in case this one was rejected unseen
        if (schedule.decideAtEnd() && !estimator.decide(step, schedule)) {
            estimator.prepareNextStep(schedule);
            return null;
        }
        if (adaptive != null) {
            Map<String, NDArray> directions =
                    adaptiveStep(batch, parameters, m, preconditioned, owner, step);
            estimator.prepareNextStep(schedule);
            return directions;
        }
        Map<String, NDArray> directions = new HashMap<>();
        for (ParameterGradient p : parameters) {
            NDArray v = preconditioned.get(p.key());
            NDArray u = v != null ? coveredDirection(p, v, step) : uncoveredDirection(p, step);
            u.attach(owner);
            directions.put(p.key(), u);
        }
        estimator.prepareNextStep(schedule);
        return directions;
    }

    /**
     * The adaptive step ({@link QuadraticModelStep}) of a step decided on the host: \( \Delta \) is
     * \( V_\ell \) on layers with a preconditioner and \( g + \omega w \) elsewhere.
     */
    private Map<String, NDArray> adaptiveStep(
            BatchCurvature batch,
            List<ParameterGradient> parameters,
            Map<String, NDArray> m,
            Map<String, NDArray> preconditioned,
            NDManager owner,
            Step step) {
        if (!step.accepted()) {
            return null;
        }
        Map<String, NDArray> gradients = new HashMap<>(m);
        for (ParameterGradient p : parameters) {
            if (!gradients.containsKey(p.key())) {
                gradients.put(p.key(), withL2(p, step));
            }
        }
        AdaptiveDamping rule = adaptive.damping();
        long index = step.lowestPossibleIndex();
        double lambda =
                rule != null
                        ? rule.value()
                        : damping.getNewValue((int) Math.min(index - 1, Integer.MAX_VALUE));
        boolean adapt = rule != null && step.isDue(rule::adapts);
        return adaptive.step(
                batch,
                gradients,
                preconditioned,
                lambda,
                rescaleGrad,
                weightDecay(),
                adapt,
                owner,
                step.scope());
    }

    /** \( \lambda + \omega \), the identity weight of the inverses in the adaptive step. */
    private Tracker identityWeight() {
        float decay = weightDecay();
        AdaptiveDamping rule = adaptive.damping();
        Tracker fixed = damping;
        return n -> (float) ((rule != null ? rule.value() : fixed.getNewValue(n)) + decay);
    }

    /**
     * Trains on one batch with the adaptive step: {@code EasyTrain.trainBatch}, then {@link
     * #prepare}, then {@code trainer.step()}. Without {@link Builder#optAdaptiveStep} it is {@code
     * EasyTrain.trainBatch} and {@code trainer.step()}. (With {@link Fisher#MONTE_CARLO}, call
     * {@link MonteCarloFisher#trainBatch}, {@link #prepare} and {@code trainer.step()} instead.)
     *
     * @param trainer a trainer whose optimizer is this one, of the instrumented model
     * @param batch the batch. Not modified.
     */
    public void trainStep(Trainer trainer, Batch batch) {
        EasyTrain.trainBatch(trainer, batch);
        if (adaptive != null) {
            prepare(
                    trainer.getModel().getBlock(),
                    trainer.getLoss(),
                    batch.getData(),
                    batch.getLabels());
        }
        trainer.step();
    }

    /**
     * Burn-in, as kfac-jax's {@code num_burnin_steps} (5 in its autoencoder example): one batch
     * that only updates the curvature estimate, before the first step. A forward and a backward of
     * the batch (at labels drawn from the model for {@link Fisher#MONTE_CARLO}, with {@link
     * #burnIn(Trainer, Batch, LabelSampler)}) record the layers' statistics, which enter the
     * factors' moving average as a factor step's would; the parameter gradients are zeroed, and the
     * weights, the step counts, the adaptive step's state and the training listeners are left
     * alone. The first step then refreshes the inverses from these factors. The statistics of all
     * layers are taken or none: a batch with a non-finite statistic leaves the factors as they
     * were. (kfac-jax weighs its burn-in batches equally; here they enter the debiased average with
     * decay \( \rho \), so with \( \rho = 0.95 \) the first of 5 weighs \( 0.95^4 \approx 0.81 \)
     * of the last.)
     *
     * <p><b>Cost</b>: a forward and a backward pass of the batch, and the factors' statistics and
     * update; no host read.
     *
     * @param trainer a trainer whose optimizer is this one, of the instrumented model
     * @param batch the batch. Not modified.
     * @throws IllegalStateException if the Fisher is {@link Fisher#MONTE_CARLO} (it needs the
     *     sampler)
     */
    public void burnIn(Trainer trainer, Batch batch) {
        if (fisher == Fisher.MONTE_CARLO) {
            throw new IllegalStateException(
                    "the MONTE_CARLO Fisher burns in at sampled labels: call burnIn(trainer, batch,"
                            + " sampler)");
        }
        burnIn(trainer, batch, null);
    }

    /**
     * Burn-in with the {@link Fisher#MONTE_CARLO} Fisher: {@link #burnIn(Trainer, Batch)} with the
     * output-side statistics at labels drawn by {@code sampler} ({@link
     * MonteCarloFisher#sampledPass}); the n-th burn-in batch draws from the generator of index -n.
     *
     * @param trainer a trainer whose optimizer is this one, of the instrumented model
     * @param batch the batch. Not modified.
     * @param sampler draws labels from the model's predictive distribution, or null for the
     *     EMPIRICAL Fisher
     * @throws IllegalArgumentException if {@code sampler} does not match the Fisher
     */
    public void burnIn(Trainer trainer, Batch batch, LabelSampler sampler) {
        if ((sampler != null) != (fisher == Fisher.MONTE_CARLO)) {
            throw new IllegalArgumentException(
                    "sampler must be given exactly for the MONTE_CARLO Fisher, but the Fisher is "
                            + fisher
                            + " and the sampler "
                            + sampler);
        }
        estimator.prepareBurnIn(++burnInBatches);
        if (sampler != null) {
            MonteCarloFisher.sampledPass(trainer, batch, instrumentation, sampler);
        } else {
            try (GradientCollector collector = trainer.newGradientCollector()) {
                NDList predictions = trainer.forward(batch.getData(), batch.getLabels());
                collector.backward(trainer.getLoss().evaluate(batch.getLabels(), predictions));
            }
            MonteCarloFisher.zeroGradients(trainer);
        }
        Set<String> keys = new HashSet<>();
        NDManager parent = null;
        for (Parameter parameter : trainer.getModel().getBlock().getParameters().values()) {
            if (parameter.requiresGradient() && parameter.isInitialized()) {
                keys.add(parameter.getArray().getUid());
                parent = parent != null ? parent : parameter.getArray().getManager();
            }
        }
        if (parent == null) {
            throw new IllegalStateException("the model has no initialized trainable parameter");
        }
        try (NDManager scope = parent.newSubManager()) {
            estimator.burnIn(keys, parent, scope);
        }
    }

    /**
     * Returns how many burn-in batches this optimizer has taken.
     *
     * @return the count
     */
    public long burnInBatches() {
        return burnInBatches;
    }

    /**
     * Hands the adaptive step the batch of the next update, whose backward has run: the quadratic
     * model and the reduction ratio are evaluated on it. The arrays stay the caller's and must stay
     * open until the update.
     *
     * @param block the block being trained
     * @param loss its loss
     * @param data the batch's inputs. Not modified.
     * @param labels the batch's labels. Not modified.
     * @throws IllegalStateException if the optimizer was built without {@link
     *     Builder#optAdaptiveStep}
     */
    public void prepare(Block block, Loss loss, NDList data, NDList labels) {
        if (adaptive == null) {
            throw new IllegalStateException(
                    "prepare is for the adaptive step: build with optAdaptiveStep(true)");
        }
        adaptive.prepare(block, loss, data, labels);
    }

    /**
     * Returns the adaptive step, for its values and counters.
     *
     * @return the step, or null without {@link Builder#optAdaptiveStep}
     */
    public QuadraticModelStep adaptiveStep() {
        return adaptive;
    }

    /**
     * Scales every \( V_\ell \) by the KL clip \( \nu \), on the device, and requires a finite \(
     * \sum_\ell \langle V_\ell, M_\ell \rangle \); a refresh step, decided already, zeros the
     * covered directions instead in the (bounded-away) case that the sum is not finite. A layer's
     * scale still to apply ({@link LayerDirection#scale()}) joins \( \nu \) in one factor.
     */
    private void clip(
            Map<String, NDArray> preconditioned,
            Map<String, NDArray> scales,
            NDArray total,
            Schedule schedule,
            Step step,
            List<ParameterGradient> parameters) {
        NDArray finite = Finite.flag(total);
        if (!schedule.refresh()) {
            step.require(finite);
        }
        NDArray nu = null;
        if (Float.isFinite(klClip)) {
            String id = parameters.get(0).id() != null ? parameters.get(0).id() : "";
            int index = (int) Math.min(schedule.learningRateIndex(), Integer.MAX_VALUE);
            float learningRate = getLearningRateTracker().getNewValue(id, index);
            double factor = klClip / ((double) learningRate * learningRate);
            nu = total.abs().pow(-1).muli(factor).sqrt().minimum(1);
        }
        NDArray clipFactor = nu;
        Map<NDArray, NDArray> factors = new IdentityHashMap<>();
        for (Map.Entry<String, NDArray> entry : preconditioned.entrySet()) {
            NDArray scale = scales.get(entry.getKey());
            NDArray factor =
                    scale == null
                            ? nu
                            : factors.computeIfAbsent(
                                    scale, s -> clipFactor == null ? s : s.mul(clipFactor));
            NDArray u = factor == null ? entry.getValue() : entry.getValue().mul(factor);
            entry.setValue(schedule.refresh() ? Step.select(finite, u, u.zerosLike()) : u);
        }
    }

    /**
     * Whether a covered layer's gradient, as this optimizer is handed it, is the one of its
     * recorded forwards, \( \sum_r \delta_r \bar a_r^\top \) times DJL's {@code rescaleGrad}: the
     * recordings are of the training labels (EMPIRICAL), and neither DJL's {@code clipGrad} nor L2
     * weight decay changes it.
     */
    private boolean gradientsAreRecorded() {
        return fisher == Fisher.EMPIRICAL
                && !(clipGrad > 0)
                && (l2 == null || weightDecayMode != WeightDecay.L2);
    }

    /** Whether preconditioning a dense layer from its recorded rows costs fewer flops. */
    private static boolean rowsAreCheaper(Layer layer, NDList inputs) {
        long rows = ((LinearKroneckerFactored) layer.block()).rows(inputs);
        return layer.block().factors().rowsAreCheaper(rows);
    }

    /** A dense layer's recorded inputs if it has recordings and all are valid, else null. */
    private static NDList recordedInputs(Layer layer, List<LayerRecording> recordings) {
        if (!(layer.block() instanceof LinearKroneckerFactored)
                || recordings == null
                || recordings.isEmpty()) {
            return null;
        }
        NDList inputs = new NDList(recordings.size());
        for (LayerRecording recording : recordings) {
            if (!recording.isValid()) {
                return null;
            }
            inputs.add(recording.input());
        }
        return inputs;
    }

    /** The recordings' output gradients times DJL's {@code rescaleGrad}, owned by the scope. */
    private NDList outputGradients(List<LayerRecording> recordings, NDManager scope) {
        NDList gradients = new NDList(recordings.size());
        for (LayerRecording recording : recordings) {
            NDArray gradient = recording.outputGradient();
            gradient.attach(scope);
            gradients.add(rescaleGrad == 1f ? gradient : gradient.mul(rescaleGrad));
        }
        return gradients;
    }

    /** Decoupled weight decay and momentum after the preconditioner. */
    private NDArray coveredDirection(ParameterGradient p, NDArray v, Step step) {
        return covered == null ? v : covered.apply(p.key(), v, p.gradient(), p.weight(), step);
    }

    /** The first-order rule on \( g + \omega w \). */
    private NDArray uncoveredDirection(ParameterGradient p, Step step) {
        NDArray g = l2 == null ? p.gradient() : withL2(p, step);
        NDArray u =
                uncovered == null
                        ? g.duplicate()
                        : uncovered.apply(p.key(), g, g, p.weight(), step);
        // not in place: a heavy-ball direction shares its memory with the velocity
        return uncoveredRule.scale() == 1 ? u : u.mul(uncoveredRule.scale());
    }

    /** \( g + \omega w \) (the gradient itself without weight decay), in the step's scope. */
    @SuppressWarnings("try") // the workspace scopes the temporaries made from the weight
    private NDArray withL2(ParameterGradient p, Step step) {
        if (l2 == null) {
            return p.gradient();
        }
        try (Workspace ws = new Workspace(step.scope(), p.weight())) {
            Transform.Context context =
                    new Transform.Context(p.gradient(), p.weight(), step.index());
            return ws.keep(l2.apply(p.gradient(), new NDList(), context).direction(), step.scope());
        }
    }

    private static List<String> keys(Layer layer) {
        return layer.biasKey() == null
                ? List.of(layer.weightKey())
                : List.of(layer.weightKey(), layer.biasKey());
    }

    private static NDList squaredNorms(Collection<NDArray> arrays) {
        NDList norms = new NDList(arrays.size());
        for (NDArray a : arrays) {
            norms.add(a.square().sum());
        }
        return norms;
    }

    /** The sum of scalars in sorted order: the same for any order of the layers. */
    private static NDArray sortedSum(NDList scalars) {
        return NDArrays.stack(scalars).sort().sum();
    }

    /**
     * At the first step: names layers and parameters as the instrumented blocks do, and refuses a
     * model with no instrumented layer unless allowed.
     */
    private void checkCoverage(List<Layer> layers) {
        if (started) {
            return;
        }
        for (Block root : instrumentation.roots()) {
            nameParameters(root);
        }
        if (layers.isEmpty()) {
            if (!allowUninstrumented) {
                throw new IllegalStateException(UNINSTRUMENTED);
            }
            logger.warn(
                    "K-FAC covers no layer of this model: every parameter moves by the first-order"
                            + " rule {} (optAllowUninstrumented)",
                    uncoveredRule);
        }
        started = true;
    }

    /**
     * {@inheritDoc}
     *
     * <p>K-FAC's state: per covered layer (named by its weight) the running factors, their
     * averaging weight, the last good damped inverse and the layer's counters, and the next step's
     * index among taken steps ({@code kfac/...}, see {@link CurvatureEstimator#write}); the momenta
     * of the covered layers ({@code kfac/covered/...}) and the state of the rule of the others
     * ({@code kfac/uncovered/...}), by parameter name.
     */
    @Override
    protected void writeState(OptimizerState state) {
        estimator.write(state, STATE);
        writeRules(state);
        writeAdaptive(state);
    }

    /**
     * Puts the estimate's arrays without reading the device ({@link CurvatureEstimator#measure}:
     * per covered layer A, G, the last good damped inverses or eigenbasis, the averaging weight and
     * the layer's counts, a convolution's im2col kernel; the next step's index), and the momenta
     * and the uncovered rule's state as {@link #writeState} does.
     */
    @Override
    protected void measureState(OptimizerState state) {
        estimator.measure(state, STATE);
        writeRules(state);
        writeAdaptive(state);
    }

    /** The adaptive step's damping and previous update v, by parameter name. */
    private void writeAdaptive(OptimizerState state) {
        if (adaptive == null) {
            return;
        }
        if (adaptive.damping() != null) {
            state.putDouble(ADAPTIVE + "damping", adaptive.damping().value());
        }
        List<String> names = new ArrayList<>();
        for (String key : adaptive.velocityKeys()) {
            String name = state.nameOf(key);
            names.add(name);
            state.put(ADAPTIVE + "velocity/" + name, adaptive.velocity(key));
        }
        state.putStrings(ADAPTIVE + "velocities", names);
    }

    private void writeRules(OptimizerState state) {
        if (covered != null) {
            covered.write(state, STATE + "covered");
        }
        if (uncovered != null) {
            uncovered.write(state, STATE + "uncovered");
        }
    }

    /** {@inheritDoc} */
    @Override
    protected void readState(OptimizerState state) {
        CurvatureEstimator.Restored restored = estimator.read(state, STATE);
        TransformState readCovered = null;
        TransformState readUncovered = null;
        try {
            if (covered != null) {
                readCovered = new TransformState(covered.transform());
                readCovered.read(state, STATE + "covered");
            }
            if (uncovered != null) {
                readUncovered = new TransformState(uncovered.transform());
                readUncovered.read(state, STATE + "uncovered");
            }
        } catch (RuntimeException e) {
            restored.discard();
            if (readCovered != null) {
                readCovered.close();
            }
            throw e;
        }
        if (adaptive != null) {
            readAdaptive(state);
        }
        estimator.install(restored);
        if (covered != null) {
            covered.close();
            covered = readCovered;
        }
        if (uncovered != null) {
            uncovered.close();
            uncovered = readUncovered;
        }
    }

    private void readAdaptive(OptimizerState state) {
        if (adaptive.damping() != null && state.contains(ADAPTIVE + "damping")) {
            adaptive.damping().restore(state.getDouble(ADAPTIVE + "damping"));
        }
        Map<String, NDArray> velocities = new HashMap<>();
        NDManager manager = state.parameterManager().newSubManager();
        if (state.contains(ADAPTIVE + "velocities")) {
            for (String name : state.getStrings(ADAPTIVE + "velocities")) {
                velocities.put(
                        state.keyOf(name), state.array(ADAPTIVE + "velocity/" + name, manager));
            }
        }
        adaptive.restore(velocities, manager);
    }

    /** {@inheritDoc} */
    @Override
    protected boolean parametersChanged(List<String> keys) {
        boolean restarted = estimator.retain(Set.copyOf(keys));
        if (adaptive != null) {
            adaptive.retain(Set.copyOf(keys));
        }
        if (covered != null) {
            covered.retain(keys);
        }
        if (uncovered != null) {
            uncovered.retain(keys);
        }
        return restarted;
    }

    /**
     * Returns the damping schedule.
     *
     * @return \( \lambda \) by step
     */
    public Tracker getDampingTracker() {
        return damping;
    }

    /**
     * Returns the schedule of the factor updates' period.
     *
     * @return steps between factor updates, by step
     */
    public Tracker getFactorUpdateFrequencyTracker() {
        return factorUpdateFrequency;
    }

    /**
     * Returns the schedule of the inverse updates' period.
     *
     * @return steps between inverse updates, by step
     */
    public Tracker getInverseUpdateFrequencyTracker() {
        return inverseUpdateFrequency;
    }

    /**
     * Returns \( \kappa \).
     *
     * @return the KL clip (infinite: no clipping)
     */
    public float getKlClip() {
        return klClip;
    }

    /**
     * Returns \( \mu \).
     *
     * @return the momentum
     */
    public float getMomentum() {
        return momentum;
    }

    /**
     * Returns the settings of the curvature blocks.
     *
     * @return factor decay, inversion mode and failure policy
     */
    public KroneckerSettings getKroneckerSettings() {
        return settings;
    }

    /**
     * Returns which Fisher the factors estimate.
     *
     * @return EMPIRICAL or MONTE_CARLO
     */
    public Fisher getFisher() {
        return fisher;
    }

    /**
     * Returns what the loss is taken to average over, for dense layers' inputs with more than two
     * axes.
     *
     * @return ROWS or EXAMPLES
     */
    public LossAverage getLossAverage() {
        return lossAverage;
    }

    /**
     * Returns how weight decay enters the step.
     *
     * @return DECOUPLED or L2
     */
    public WeightDecay getWeightDecayMode() {
        return weightDecayMode;
    }

    /**
     * Returns the rule for the parameters outside covered layers.
     *
     * @return the rule
     */
    public FirstOrderRule getUncoveredRule() {
        return uncoveredRule;
    }

    /** Builds {@link Kfac}; every setting has the default given in the class documentation. */
    public static final class Builder extends BaseBuilder<Builder> {

        private Tracker damping = Tracker.fixed(1e-3f);
        private Tracker factorUpdateFrequency = Tracker.fixed(10);
        private Tracker inverseUpdateFrequency = Tracker.fixed(100);
        private int fixedFactorUpdateFrequency = 10;
        private int fixedInverseUpdateFrequency = 100;
        private float fixedDamping = 1e-3f;
        private boolean dampingScheduled;
        private double factorDecay = 0.95;
        private float klClip = 1e-3f;
        private float momentum = 0.9f;
        private InversionMode inversion = InversionMode.INVERSE;
        private Fisher fisher = Fisher.EMPIRICAL;
        private LossAverage lossAverage = LossAverage.ROWS;
        private WeightDecay weightDecayMode = WeightDecay.DECOUPLED;
        private FirstOrderRule uncoveredRule;
        private boolean allowUninstrumented;
        private long seed;
        private int maxConsecutiveFailures = KroneckerSettings.DEFAULT.maxConsecutiveFailures();
        private int hostEigenLimit = KroneckerSettings.DEFAULT.hostEigenLimit();
        private int factorRank = KroneckerSettings.DEFAULT_FACTOR_RANK;
        private boolean factorRankSet;
        private boolean adaptiveStep;
        private boolean adaptiveDamping;
        private QuadraticModelStep.Curvature quadraticCurvature =
                QuadraticModelStep.Curvature.GAUSS_NEWTON;
        private double minDamping = 1e-5;
        private double maxDamping = 1000;
        private int dampingAdaptationInterval = 5;
        private double dampingAdaptationDecay = 0.95;

        Builder() {
            super(0.1f);
        }

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets a fixed damping \( \lambda \).
         *
         * @param damping \( \lambda \), positive and finite; default 1e-3
         * @return this {@code Builder}
         */
        public Builder optDamping(float damping) {
            this.fixedDamping = damping;
            this.dampingScheduled = false;
            this.damping = Tracker.fixed(damping);
            return this;
        }

        /**
         * Sets a damping schedule, read at every inverse update with the number of steps taken
         * before it.
         *
         * @param damping \( \lambda \) by step; its values must be positive and finite
         * @return this {@code Builder}
         */
        public Builder optDampingTracker(Tracker damping) {
            this.dampingScheduled = true;
            this.damping = Objects.requireNonNull(damping, "damping");
            return this;
        }

        /**
         * Sets how often the factors are updated: on every {@code steps}-th taken step, the first
         * included.
         *
         * @param steps the period in steps, at least 1; default 10
         * @return this {@code Builder}
         */
        public Builder optFactorUpdateFrequency(int steps) {
            this.fixedFactorUpdateFrequency = steps;
            this.factorUpdateFrequency = Tracker.fixed(steps);
            return this;
        }

        /**
         * Sets a schedule for the period of the factor updates (rounded, at least 1): the factors
         * take the statistics of the taken step whose count of taken steps before it is a multiple
         * of the period read at that count.
         *
         * @param steps the period by step
         * @return this {@code Builder}
         */
        public Builder optFactorUpdateFrequencyTracker(Tracker steps) {
            this.fixedFactorUpdateFrequency = 1;
            this.factorUpdateFrequency = Objects.requireNonNull(steps, "steps");
            return this;
        }

        /**
         * Sets how often the damped inverses are recomputed: on every {@code steps}-th taken step,
         * the first included.
         *
         * @param steps the period in steps, at least 1; default 100
         * @return this {@code Builder}
         */
        public Builder optInverseUpdateFrequency(int steps) {
            this.fixedInverseUpdateFrequency = steps;
            this.inverseUpdateFrequency = Tracker.fixed(steps);
            return this;
        }

        /**
         * Sets a schedule for the period of the inverse updates (rounded, at least 1), read as for
         * {@link #optFactorUpdateFrequencyTracker}.
         *
         * @param steps the period by step
         * @return this {@code Builder}
         */
        public Builder optInverseUpdateFrequencyTracker(Tracker steps) {
            this.fixedInverseUpdateFrequency = 1;
            this.inverseUpdateFrequency = Objects.requireNonNull(steps, "steps");
            return this;
        }

        /**
         * Sets the decay of the factors' moving average.
         *
         * @param factorDecay \( \rho \) in [0, 1); default 0.95
         * @return this {@code Builder}
         */
        public Builder optFactorDecay(double factorDecay) {
            this.factorDecay = factorDecay;
            return this;
        }

        /**
         * Sets the KL clip \( \kappa \).
         *
         * @param klClip \( \kappa \), positive; {@code Float.POSITIVE_INFINITY} disables clipping;
         *     default 1e-3
         * @return this {@code Builder}
         */
        public Builder optKlClip(float klClip) {
            this.klClip = klClip;
            return this;
        }

        /**
         * Sets the momentum \( \mu \) of covered layers (and of the default first-order rule), as
         * PyTorch's SGD defines it.
         *
         * @param momentum \( \mu \) in [0, 1); default 0.9
         * @return this {@code Builder}
         */
        public Builder optMomentum(float momentum) {
            this.momentum = momentum;
            return this;
        }

        /**
         * Sets how the damped inverse is computed.
         *
         * @param inversion INVERSE (default), EIGEN or LOW_RANK (with {@link #optFactorRank})
         * @return this {@code Builder}
         */
        public Builder optInversion(InversionMode inversion) {
            this.inversion = inversion;
            return this;
        }

        /**
         * Sets which Fisher the factors estimate.
         *
         * @param fisher EMPIRICAL (default) or MONTE_CARLO
         * @return this {@code Builder}
         */
        public Builder optFisher(Fisher fisher) {
            this.fisher = fisher;
            return this;
        }

        /**
         * Sets what the training loss averages over when a {@code Linear} layer sees inputs with
         * more than two axes, (N, T, ..., p): the scale of its factors (see {@link
         * io.github.so4j.curvature.kfac.LinearKroneckerFactored}). Two-axis inputs and convolutions
         * are not affected.
         *
         * @param lossAverage {@link LossAverage#ROWS} (default): the mean over every token, as
         *     DJL's losses compute it for per-token labels (language models); {@link
         *     LossAverage#EXAMPLES}: the mean over the N sequences, each loss depending on all its
         *     tokens (one label per sequence)
         * @return this {@code Builder}
         */
        public Builder optLossAverage(LossAverage lossAverage) {
            this.lossAverage = lossAverage;
            return this;
        }

        /**
         * Sets how weight decay ({@code optWeightDecays}) enters the step.
         *
         * @param weightDecayMode DECOUPLED (default) or L2
         * @return this {@code Builder}
         */
        public Builder optWeightDecayMode(WeightDecay weightDecayMode) {
            this.weightDecayMode = weightDecayMode;
            return this;
        }

        /**
         * Sets the rule for parameters outside covered layers.
         *
         * @param rule the rule; default SGD with this optimizer's momentum
         * @return this {@code Builder}
         */
        public Builder optUncoveredRule(FirstOrderRule rule) {
            this.uncoveredRule = rule;
            return this;
        }

        /**
         * Allows a model with no instrumented layer (its block was not passed through {@link
         * Kfac#instrument}, or none of its layers is a {@code Linear} or {@code Conv2d}): every
         * parameter then moves by the first-order rule. Without it, the first step of such a model
         * throws an {@link IllegalStateException} that names the fix.
         *
         * @param allow whether to allow it; default false
         * @return this {@code Builder}
         */
        public Builder optAllowUninstrumented(boolean allow) {
            this.allowUninstrumented = allow;
            return this;
        }

        /**
         * Sets the seed of the Monte-Carlo labels ({@link Fisher#MONTE_CARLO}): the labels of the
         * step with index t among taken steps are drawn from a generator seeded by the seed and t.
         *
         * @param seed the seed; default 0
         * @return this {@code Builder}
         */
        public Builder optSeed(long seed) {
            this.seed = seed;
            return this;
        }

        /**
         * Sets how many failed inversions of a layer in a row are tolerated.
         *
         * @param failures at least 0; default 3
         * @return this {@code Builder}
         */
        public Builder optMaxConsecutiveFailures(int failures) {
            this.maxConsecutiveFailures = failures;
            return this;
        }

        /**
         * Sets k, the number of eigenpairs {@link InversionMode#LOW_RANK} keeps of each factor
         * larger than 2k; smaller factors keep their exact damped inverse. A layer's product then
         * costs about \( 4qp(k_G + k_A) \) flops instead of \( 2qp(q + p) \). Only with {@code
         * optInversion(InversionMode.LOW_RANK)}.
         *
         * @param rank at least 1; default {@value KroneckerSettings#DEFAULT_FACTOR_RANK}
         * @return this {@code Builder}
         */
        public Builder optFactorRank(int rank) {
            this.factorRank = rank;
            this.factorRankSet = true;
            return this;
        }

        /**
         * Sets the largest factor that {@link InversionMode#EIGEN} decomposes on the host.
         *
         * @param size at least 1; default 512
         * @return this {@code Builder}
         */
        public Builder optHostEigenLimit(int size) {
            this.hostEigenLimit = size;
            return this;
        }

        /**
         * Chooses the learning rate and the momentum of every step from the exact quadratic model
         * of the batch objective ({@link QuadraticModelStep}): the step is \( \delta = w_0 \Delta +
         * w_1 v \) with \( (A + \lambda D) w = -b \) in the plane of the preconditioned gradient
         * and the previous update. It needs the batch: train with {@link Kfac#trainStep} (or call
         * {@link Kfac#prepare} before each update); {@code EasyTrain.fit} alone throws. KL clipping
         * and the momentum setting do not apply; the objective is \( r L + \frac{\omega}{2}
         * \|\theta\|^2 \), so weight decay must be {@link WeightDecay#L2}; keep the learning rate
         * at 1 (it multiplies \( \delta \)); the inverses are damped by \( \lambda + \omega \).
         *
         * @param adaptive whether to; default false
         * @return this {@code Builder}
         */
        public Builder optAdaptiveStep(boolean adaptive) {
            this.adaptiveStep = adaptive;
            return this;
        }

        /**
         * Adapts the damping by the Levenberg-Marquardt rule ({@link AdaptiveDamping}), starting
         * from {@link #optDamping}'s value; needs {@link #optAdaptiveStep}.
         *
         * @param adaptive whether to; default false
         * @return this {@code Builder}
         */
        public Builder optAdaptiveDamping(boolean adaptive) {
            this.adaptiveDamping = adaptive;
            return this;
        }

        /**
         * Sets the curvature of the adaptive step's quadratic model.
         *
         * @param curvature GAUSS_NEWTON (default) or HESSIAN
         * @return this {@code Builder}
         */
        public Builder optQuadraticCurvature(QuadraticModelStep.Curvature curvature) {
            this.quadraticCurvature = curvature;
            return this;
        }

        /**
         * Sets the bounds of the adaptive damping.
         *
         * @param min the lower bound, positive; default 1e-5
         * @param max the upper bound, finite and at least min; default 1000
         * @return this {@code Builder}
         */
        public Builder optDampingBounds(double min, double max) {
            this.minDamping = min;
            this.maxDamping = max;
            return this;
        }

        /**
         * Sets how often and how fast the adaptive damping moves: every {@code interval} taken
         * steps (the first included) by \( \text{decay}^{\text{interval}} \) or its inverse.
         *
         * @param interval at least 1; default 5
         * @param decay in (0, 1); default 0.95
         * @return this {@code Builder}
         */
        public Builder optDampingAdaptation(int interval, double decay) {
            this.dampingAdaptationInterval = interval;
            this.dampingAdaptationDecay = decay;
            return this;
        }

        /**
         * Builds the optimizer.
         *
         * @return the optimizer
         * @throws IllegalArgumentException naming the setting and its value if one is invalid
         *     (trackers are checked at their first value)
         */
        public Kfac build() {
            checkAdaptive();
            if (dampingScheduled) {
                checkTracker("dampingTracker", damping);
                float first = damping.getNewValue(0);
                if (!(first > 0)) {
                    throw new IllegalArgumentException(
                            "dampingTracker must give positive values, but its first is " + first);
                }
            } else if (!(fixedDamping > 0) || Float.isInfinite(fixedDamping)) {
                throw new IllegalArgumentException(
                        "damping must be positive and finite, but was " + fixedDamping);
            }
            if (fixedFactorUpdateFrequency < 1) {
                throw new IllegalArgumentException(
                        "factorUpdateFrequency must be at least 1, but was "
                                + fixedFactorUpdateFrequency);
            }
            if (fixedInverseUpdateFrequency < 1) {
                throw new IllegalArgumentException(
                        "inverseUpdateFrequency must be at least 1, but was "
                                + fixedInverseUpdateFrequency);
            }
            checkTracker("factorUpdateFrequencyTracker", factorUpdateFrequency);
            checkTracker("inverseUpdateFrequencyTracker", inverseUpdateFrequency);
            if (!(klClip > 0)) {
                throw new IllegalArgumentException(
                        "klClip must be positive (Infinity disables clipping), but was " + klClip);
            }
            if (!(momentum >= 0 && momentum < 1)) {
                throw new IllegalArgumentException(
                        "momentum must be in [0, 1), but was " + momentum);
            }
            if (inversion == null
                    || fisher == null
                    || weightDecayMode == null
                    || lossAverage == null) {
                throw new IllegalArgumentException(
                        "inversion, fisher, weightDecayMode and lossAverage must not be null");
            }
            new KroneckerSettings(
                    factorDecay, inversion, maxConsecutiveFailures, hostEigenLimit, factorRank);
            if (factorRankSet && inversion != InversionMode.LOW_RANK) {
                throw new IllegalArgumentException(
                        "factorRank "
                                + factorRank
                                + " applies to inversion LOW_RANK only, but inversion was "
                                + inversion);
            }
            return new Kfac(this);
        }

        private void checkAdaptive() {
            if (quadraticCurvature == null) {
                throw new IllegalArgumentException("quadraticCurvature must not be null");
            }
            if (adaptiveDamping && !adaptiveStep) {
                throw new IllegalArgumentException(
                        "adaptiveDamping needs adaptiveStep(true): the reduction ratio divides by"
                                + " the change of the quadratic model");
            }
            if (adaptiveDamping) {
                if (dampingScheduled) {
                    throw new IllegalArgumentException(
                            "adaptiveDamping starts from a fixed damping, but a dampingTracker was"
                                    + " set");
                }
                AdaptiveDamping.check(
                        fixedDamping,
                        minDamping,
                        maxDamping,
                        dampingAdaptationInterval,
                        dampingAdaptationDecay);
            }
        }
    }
}
