package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.kfac.FactorStatistics;
import io.github.so4j.curvature.kfac.FiniteProbe;
import io.github.so4j.curvature.kfac.InversionMode;
import io.github.so4j.curvature.kfac.KroneckerFactoredBlock;
import io.github.so4j.curvature.kfac.KroneckerFactors;
import io.github.so4j.curvature.kfac.KroneckerHealth;
import io.github.so4j.curvature.kfac.KroneckerSettings;
import io.github.so4j.curvature.kfac.LayerDirection;
import io.github.so4j.optimizers.kfac.CapturedLayer;
import io.github.so4j.optimizers.kfac.FirstOrderRule;
import io.github.so4j.optimizers.kfac.FirstOrderStep;
import io.github.so4j.optimizers.kfac.Instrumentation;
import io.github.so4j.optimizers.kfac.LayerRecording;
import io.github.so4j.optimizers.kfac.MonteCarloFisher;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;
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
 * (momentum as in PyTorch's SGD, which kfac-pytorch wraps)
 *
 * <p>Parameters outside covered layers move by the {@link FirstOrderRule} named in the builder
 * (default: SGD with the same momentum). The factors are averaged every {@code
 * factorUpdateFrequency} steps from the step's batch (only those steps record, see {@link
 * Instrumentation#arm}), and the damped inverses recomputed every {@code inverseUpdateFrequency}
 * steps, both fixed or scheduled by a {@link Tracker}. The Fisher is the empirical one (training
 * labels) unless {@link Fisher#MONTE_CARLO} is chosen, which needs {@link MonteCarloFisher} as the
 * training step.
 *
 * <p>Guards: a NaN or infinite gradient skips the whole step (nothing changes); statistics with NaN
 * or infinities are not averaged in (that layer keeps its running factors); a failed inversion
 * keeps the previous inverse, and one more than {@code maxConsecutiveFailures} in a row throws. All
 * are counted ({@link #health()}, {@link #kroneckerHealth()}) and logged once per streak. One host
 * synchronisation per step decides the finiteness of every gradient and statistic; sums across
 * layers are sorted, so that runs do not depend on the order in which DJL updates parameters.
 *
 * <p>Defaults, from the anchors: damping \( 10^{-3} \), factor decay 0.95 and KL clip \( 10^{-3} \)
 * (kfac-pytorch, {@code KFACPreconditioner}); momentum 0.9 and update frequencies 10 (factors) and
 * 100 (inverses) (kfac-pytorch's original {@code KFACOptimizer}, {@code TCov} and {@code TInv});
 * learning rate 0.1 (kfac-pytorch's {@code lr}); {@link InversionMode#INVERSE}; {@link
 * Fisher#EMPIRICAL}; weight decay 0 ({@code optWeightDecays}), decoupled.
 *
 * <p><b>Cost</b> per step and layer with p inputs (plus the bias) and q outputs: \( 2pq(p + q) \)
 * flops to precondition ({@link InversionMode#EIGEN}: twice that); every factor update \( 2R(p^2 +
 * q^2) \) for R rows of the batch; every inverse update \( O(p^3 + q^3) \). Memory: \( 2(p^2 + q^2)
 * \) per layer plus one momentum buffer per parameter.
 *
 * @see <a href="https://arxiv.org/abs/1503.05671">paper</a>
 * @see <a href="https://arxiv.org/abs/1602.01407">KFC paper</a>
 */
public final class Kfac extends SecondOrderOptimizer {

    private static final Logger logger = LoggerFactory.getLogger(Kfac.class);
    private static final String STATE = "kfac/";

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
    private final WeightDecay weightDecayMode;
    private final FirstOrderRule uncoveredRule;
    private final Instrumentation instrumentation = new Instrumentation();

    private final Map<CapturedLayer, KroneckerFactoredBlock> blocks = new LinkedHashMap<>();
    private NDManager stateManager;
    private FirstOrderStep coveredMomentum;
    private FirstOrderStep uncoveredStep;
    private int steps;
    private int lastFactorStep = -1;
    private int lastInverseStep = -1;
    private boolean warnedUninstrumented;
    private boolean warnedReleased;

    private Kfac(Builder builder) {
        super(builder);
        this.damping = builder.damping;
        this.factorUpdateFrequency = builder.factorUpdateFrequency;
        this.inverseUpdateFrequency = builder.inverseUpdateFrequency;
        this.klClip = builder.klClip;
        this.momentum = builder.momentum;
        this.settings =
                new KroneckerSettings(
                        builder.factorDecay,
                        builder.inversion,
                        builder.maxConsecutiveFailures,
                        builder.hostEigenLimit);
        this.fisher = builder.fisher;
        this.weightDecayMode = builder.weightDecayMode;
        this.uncoveredRule =
                builder.uncoveredRule != null
                        ? builder.uncoveredRule
                        : FirstOrderRule.sgd(builder.momentum);
        instrumentation.setLabelRandom(new Random(builder.seed));
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
     * training, and give the model the block it returns.
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
        return blocks.get(layer);
    }

    /**
     * Returns what the curvature blocks have done, summed over the covered layers.
     *
     * @return the sum of their counters
     */
    public KroneckerHealth kroneckerHealth() {
        KroneckerHealth total = KroneckerHealth.NONE;
        for (KroneckerFactoredBlock block : blocks.values()) {
            total = total.plus(block.factors().health());
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
        KroneckerHealth h = kroneckerHealth();
        Map<String, Object> counters = new LinkedHashMap<>();
        counters.put("factorUpdates", h.factorUpdates());
        counters.put("rejectedFactorUpdates", h.rejectedFactorUpdates());
        counters.put("refreshes", h.refreshes());
        counters.put("failedRefreshes", h.failedRefreshes());
        counters.put("inverseFallbacks", h.inverseFallbacks());
        // per block, for the layers that had a problem
        for (Map.Entry<CapturedLayer, KroneckerFactoredBlock> entry : blocks.entrySet()) {
            KroneckerHealth layer = entry.getValue().factors().health();
            if (layer.rejectedFactorUpdates() + layer.failedRefreshes() + layer.inverseFallbacks()
                    > 0) {
                counters.put("layer " + entry.getKey().name(), layer.toString());
            }
        }
        return counters;
    }

    /**
     * Returns {@code false}: the gradients are checked inside {@link #computeStep}, in the same
     * host synchronisation as the factor statistics.
     *
     * @return {@code false}
     */
    @Override
    protected boolean checksGradientsFirst() {
        return false;
    }

    /** {@inheritDoc} */
    @Override
    @SuppressWarnings("try") // the workspace scopes the temporaries made from the weights
    protected Map<String, NDArray> computeStep(
            List<ParameterGradient> parameters, NDManager owner) {
        if (stateManager == null) {
            stateManager = parameters.get(0).weight().getManager().newSubManager();
            coveredMomentum = new FirstOrderStep(FirstOrderRule.sgd(momentum), stateManager);
            uncoveredStep = new FirstOrderStep(uncoveredRule, stateManager);
        }
        Map<String, ParameterGradient> byKey = new HashMap<>();
        NDList weights = new NDList(parameters.size());
        for (ParameterGradient p : parameters) {
            byKey.put(p.key(), p);
            weights.add(p.weight());
        }
        boolean factorStep = due(factorUpdateFrequency, steps, lastFactorStep);
        try (Workspace ws = new Workspace(owner, weights)) {
            List<Layer> covered = coveredLayers(byKey, factorStep, ws.manager());
            List<NDArray> probes = new ArrayList<>();
            for (ParameterGradient p : parameters) {
                probes.add(FiniteProbe.ofSum(p.gradient()));
            }
            for (Layer layer : covered) {
                if (layer.statistics != null) {
                    probes.add(layer.statistics.finiteProbe());
                }
            }
            boolean[] finite = FiniteProbe.resolve(probes);
            for (int i = 0; i < parameters.size(); i++) {
                if (!finite[i]) {
                    return null;
                }
            }
            int next = parameters.size();
            for (Layer layer : covered) {
                if (layer.statistics != null) {
                    if (finite[next++]) {
                        layer.block.factors().update(layer.statistics);
                    } else {
                        layer.block.factors().rejectUpdate();
                    }
                }
            }
            if (factorStep) {
                lastFactorStep = steps;
            }
            refreshInverses(covered);
            Map<String, NDArray> directions = directions(parameters, covered, owner);
            if (directions == null) {
                return null;
            }
            steps++;
            instrumentation.arm(due(factorUpdateFrequency, steps, lastFactorStep));
            return directions;
        }
    }

    /** The covered layers of this step, with their statistics on factor steps. */
    private List<Layer> coveredLayers(
            Map<String, ParameterGradient> byKey, boolean factorStep, NDManager scope) {
        List<Layer> covered = new ArrayList<>();
        boolean recorded = false;
        for (CapturedLayer captured : instrumentation.layers()) {
            List<LayerRecording> recordings = captured.takeRecordings();
            ParameterGradient weight = gradientOf(captured.weight(), byKey);
            ParameterGradient bias =
                    captured.bias() == null ? null : gradientOf(captured.bias(), byKey);
            if (weight == null || (captured.bias() != null && bias == null)) {
                continue;
            }
            KroneckerFactoredBlock block =
                    blocks.computeIfAbsent(
                            captured, c -> c.newCurvatureBlock(stateManager, settings));
            FactorStatistics statistics = null;
            if (factorStep) {
                statistics = averageStatistics(block, recordings, scope);
                recorded |= statistics != null;
                if (statistics == null && !recordings.isEmpty() && !warnedReleased) {
                    warnedReleased = true;
                    logger.warn(
                            "K-FAC's recordings of {} were freed before the optimizer step, so"
                                    + " its factors are not updated: keep the batch's arrays"
                                    + " open until the step, as EasyTrain and Trainer.step do",
                            captured.name());
                }
            }
            covered.add(new Layer(block, weight, bias, statistics));
        }
        if (instrumentation.layers().isEmpty() && !warnedUninstrumented) {
            warnedUninstrumented = true;
            logger.warn(
                    "K-FAC sees no instrumented layer: every parameter moves by the first-order"
                            + " rule; pass the model's block through kfac.instrument(block)");
        }
        if (recorded) {
            checkFisher();
        }
        return covered;
    }

    private void checkFisher() {
        if (fisher == Fisher.MONTE_CARLO && !instrumentation.isHeld()) {
            throw new IllegalStateException(
                    "K-FAC with the MONTE_CARLO Fisher needs MonteCarloFisher.trainBatch in place"
                            + " of EasyTrain.trainBatch");
        }
        if (fisher == Fisher.EMPIRICAL && instrumentation.isHeld()) {
            throw new IllegalStateException(
                    "the batch went through MonteCarloFisher.trainBatch, but K-FAC's Fisher is"
                            + " EMPIRICAL; build it with optFisher(Fisher.MONTE_CARLO)");
        }
    }

    private static ParameterGradient gradientOf(
            Parameter parameter, Map<String, ParameterGradient> byKey) {
        if (!parameter.isInitialized()) {
            return null;
        }
        return byKey.get(parameter.getArray().getUid());
    }

    /** The mean of the statistics of the valid recordings (owned by scope), or null if none. */
    private static FactorStatistics averageStatistics(
            KroneckerFactoredBlock block, List<LayerRecording> recordings, NDManager scope) {
        NDArray input = null;
        NDArray output = null;
        int count = 0;
        for (LayerRecording recording : recordings) {
            if (!recording.isValid()) {
                continue;
            }
            try (Workspace ws = new Workspace(scope, recording.input(), recording.probe())) {
                FactorStatistics s =
                        block.statistics(recording.input(), recording.outputGradient());
                if (input == null) {
                    input = ws.keep(s.input(), scope);
                    output = ws.keep(s.output(), scope);
                } else {
                    input.addi(s.input());
                    output.addi(s.output());
                }
            }
            count++;
        }
        if (count == 0) {
            return null;
        }
        if (count > 1) {
            input.divi(count);
            output.divi(count);
        }
        return new FactorStatistics(input, output);
    }

    private void refreshInverses(List<Layer> covered) {
        boolean inverseStep = due(inverseUpdateFrequency, steps, lastInverseStep);
        double lambda = damping.getNewValue(steps);
        for (Layer layer : covered) {
            var factors = layer.block.factors();
            if (factors.inputFactor() != null && (inverseStep || !factors.hasPreconditioner())) {
                factors.refresh(lambda);
            }
        }
        if (inverseStep) {
            lastInverseStep = steps;
        }
    }

    private Map<String, NDArray> directions(
            List<ParameterGradient> parameters, List<Layer> covered, NDManager owner) {
        float decay = weightDecay();
        Map<String, NDArray> preconditioned = new HashMap<>();
        NDList squaredNorms = new NDList();
        for (Layer layer : covered) {
            if (!layer.block.factors().hasPreconditioner()) {
                continue;
            }
            NDArray weightGradient = withL2(layer.weight, decay);
            NDArray biasGradient = layer.bias == null ? null : withL2(layer.bias, decay);
            LayerDirection v = layer.block.precondition(weightGradient, biasGradient);
            preconditioned.put(layer.weight.key(), v.directions().get(0));
            if (layer.bias != null) {
                preconditioned.put(layer.bias.key(), v.directions().get(1));
            }
            squaredNorms.add(v.squaredNorm());
        }
        if (!squaredNorms.isEmpty()) {
            // summed in sorted order: the same for any order of the layers
            NDArray total = NDArrays.stack(squaredNorms).sort().sum();
            // a finite gradient can still overflow once preconditioned (a gradient of 1e30 in
            // float32): reject the step before any momentum changes, the weights stay as they were
            if (!Double.isFinite(total.toType(DataType.FLOAT64, false).getDouble())) {
                return null;
            }
            if (Float.isFinite(klClip)) {
                NDArray scale = klScale(total, learningRate(parameters));
                for (NDArray v : preconditioned.values()) {
                    v.muli(scale);
                }
            }
        }
        Map<String, NDArray> directions = new HashMap<>();
        for (ParameterGradient p : parameters) {
            NDArray v = preconditioned.get(p.key());
            if (v != null) {
                NDArray u =
                        decay != 0 && weightDecayMode == WeightDecay.DECOUPLED
                                ? v.add(p.weight().mul(decay))
                                : v;
                directions.put(p.key(), coveredMomentum.direction(p.key(), u, owner));
            } else {
                NDArray g = decay == 0 ? p.gradient() : p.gradient().add(p.weight().mul(decay));
                directions.put(p.key(), uncoveredStep.direction(p.key(), g, owner));
            }
        }
        return directions;
    }

    private NDArray withL2(ParameterGradient p, float decay) {
        return decay != 0 && weightDecayMode == WeightDecay.L2
                ? p.gradient().add(p.weight().mul(decay))
                : p.gradient();
    }

    /**
     * \( \nu = \min(1, \sqrt{\kappa / (\eta^2 |\sum_\ell \langle V_\ell, M_\ell \rangle|)}) \) on
     * the device, from the sum of the per-layer terms. A zero sum gives \( \nu = 1 \).
     */
    private NDArray klScale(NDArray total, float learningRate) {
        double factor = klClip / ((double) learningRate * learningRate);
        return total.abs().pow(-1).muli(factor).sqrt().minimum(1);
    }

    /** The learning rate the base will use for this step (DJL counts updates from 1). */
    private float learningRate(List<ParameterGradient> parameters) {
        String id = parameters.get(0).id() != null ? parameters.get(0).id() : "";
        return getLearningRateTracker().getNewValue(id, (int) health().steps());
    }

    /** Whether an amortized computation is due: never done, or its period has passed. */
    private static boolean due(Tracker frequency, int step, int last) {
        if (last < 0) {
            return true;
        }
        int period = Math.max(1, Math.round(frequency.getNewValue(step)));
        return step - last >= period;
    }

    /**
     * {@inheritDoc}
     *
     * <p>K-FAC's state: per covered layer (named by its weight) the running factors, their
     * averaging weight, the last good damped inverse and the layer's counters; the momentum of the
     * covered layers and the state of the rule of the others; the step counters that decide when
     * factors and inverses are next updated; the generator of the Monte-Carlo labels.
     */
    @Override
    protected void writeState(OptimizerState state) {
        state.putLong(STATE + "steps", steps)
                .putLong(STATE + "lastFactorStep", lastFactorStep)
                .putLong(STATE + "lastInverseStep", lastInverseStep);
        List<String> names = new ArrayList<>();
        for (Map.Entry<CapturedLayer, KroneckerFactoredBlock> entry : blocks.entrySet()) {
            String name = state.nameOf(entry.getKey().weight().getArray().getUid());
            names.add(name);
            String prefix = STATE + "layer/" + name + "/";
            KroneckerFactors.State factors = entry.getValue().factors().state();
            if (factors.inputFactor() != null) {
                state.put(prefix + "A", factors.inputFactor())
                        .put(prefix + "G", factors.outputFactor());
            }
            state.putDouble(prefix + "weightSum", factors.weightSum())
                    .putLong(prefix + "preconditioner", factors.preconditioner().size());
            for (int i = 0; i < factors.preconditioner().size(); i++) {
                state.put(prefix + "preconditioner/" + i, factors.preconditioner().get(i));
            }
            long[] counters = factors.counters();
            for (int i = 0; i < counters.length; i++) {
                state.putLong(prefix + "counter/" + i, counters[i]);
            }
        }
        state.putStrings(STATE + "layers", names);
        state.putRandom(STATE + "labelRandom", instrumentation.labelRandom());
        state.putLong(STATE + "hasRules", coveredMomentum == null ? 0 : 1);
        if (coveredMomentum != null) {
            coveredMomentum.save(state, STATE + "momentum/");
            uncoveredStep.save(state, STATE + "uncovered/");
        }
    }

    /** {@inheritDoc} */
    @Override
    protected void readState(OptimizerState state) {
        Map<String, CapturedLayer> byKey = new HashMap<>();
        for (CapturedLayer layer : instrumentation.layers()) {
            if (layer.weight().isInitialized()) {
                byKey.put(layer.weight().getArray().getUid(), layer);
            }
        }
        NDManager manager =
                stateManager != null ? stateManager : state.parameterManager().newSubManager();
        Random labelRandom = state.getRandom(STATE + "labelRandom");
        Map<CapturedLayer, KroneckerFactoredBlock> restored = new LinkedHashMap<>();
        FirstOrderStep restoredMomentum = null;
        FirstOrderStep restoredUncovered = null;
        boolean done = false;
        try {
            for (String name : state.getStrings(STATE + "layers")) {
                CapturedLayer layer = byKey.get(state.keyOf(name));
                if (layer == null) {
                    throw new IllegalArgumentException(
                            "the checkpoint has K-FAC factors for "
                                    + name
                                    + ", which is not the weight of a layer this optimizer"
                                    + " instrumented; pass the model's block through"
                                    + " instrument() before loadState");
                }
                String prefix = STATE + "layer/" + name + "/";
                KroneckerFactoredBlock block = layer.newCurvatureBlock(manager, settings);
                restored.put(layer, block);
                NDList preconditioner = new NDList();
                long count = state.getLong(prefix + "preconditioner");
                for (int i = 0; i < count; i++) {
                    preconditioner.add(state.array(prefix + "preconditioner/" + i, manager));
                }
                long[] counters = new long[5];
                for (int i = 0; i < counters.length; i++) {
                    counters[i] = state.getLong(prefix + "counter/" + i);
                }
                boolean hasFactors = state.contains(prefix + "A");
                try (NDList factors = new NDList(preconditioner)) {
                    NDArray a = hasFactors ? state.array(prefix + "A", manager) : null;
                    NDArray g = hasFactors ? state.array(prefix + "G", manager) : null;
                    if (hasFactors) {
                        factors.add(a);
                        factors.add(g);
                    }
                    block.factors()
                            .restore(
                                    new KroneckerFactors.State(
                                            a,
                                            g,
                                            state.getDouble(prefix + "weightSum"),
                                            preconditioner,
                                            counters));
                }
            }
            if (state.getLong(STATE + "hasRules") == 1) {
                restoredMomentum = new FirstOrderStep(FirstOrderRule.sgd(momentum), manager);
                restoredMomentum.load(state, STATE + "momentum/");
                restoredUncovered = new FirstOrderStep(uncoveredRule, manager);
                restoredUncovered.load(state, STATE + "uncovered/");
            }
            done = true;
        } finally {
            if (!done) {
                restored.values().forEach(KroneckerFactoredBlock::close);
                closeIfPresent(restoredMomentum);
                closeIfPresent(restoredUncovered);
                if (manager != stateManager) {
                    manager.close();
                }
            }
        }
        blocks.values().forEach(KroneckerFactoredBlock::close);
        blocks.clear();
        blocks.putAll(restored);
        closeIfPresent(coveredMomentum);
        closeIfPresent(uncoveredStep);
        stateManager = manager;
        coveredMomentum =
                restoredMomentum != null
                        ? restoredMomentum
                        : new FirstOrderStep(FirstOrderRule.sgd(momentum), stateManager);
        uncoveredStep =
                restoredUncovered != null
                        ? restoredUncovered
                        : new FirstOrderStep(uncoveredRule, stateManager);
        steps = Math.toIntExact(state.getLong(STATE + "steps"));
        lastFactorStep = Math.toIntExact(state.getLong(STATE + "lastFactorStep"));
        lastInverseStep = Math.toIntExact(state.getLong(STATE + "lastInverseStep"));
        instrumentation.arm(due(factorUpdateFrequency, steps, lastFactorStep));
        instrumentation.setLabelRandom(labelRandom);
    }

    private static void closeIfPresent(FirstOrderStep step) {
        if (step != null) {
            step.close();
        }
    }

    /** {@inheritDoc} */
    @Override
    protected boolean parametersChanged(List<String> keys) {
        Set<String> present = new HashSet<>(keys);
        boolean restarted = false;
        var entries = blocks.entrySet().iterator();
        while (entries.hasNext()) {
            var entry = entries.next();
            Parameter weight = entry.getKey().weight();
            if (!weight.isInitialized() || !present.contains(weight.getArray().getUid())) {
                entry.getValue().close();
                entries.remove();
                restarted = true;
            }
        }
        if (coveredMomentum != null) {
            coveredMomentum.retainOnly(keys);
            uncoveredStep.retainOnly(keys);
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

    /** A covered layer in one step. */
    private static final class Layer {
        final KroneckerFactoredBlock block;
        final ParameterGradient weight;
        final ParameterGradient bias;
        final FactorStatistics statistics;

        Layer(
                KroneckerFactoredBlock block,
                ParameterGradient weight,
                ParameterGradient bias,
                FactorStatistics statistics) {
            this.block = block;
            this.weight = weight;
            this.bias = bias;
            this.statistics = statistics;
        }
    }

    /** Builds {@link Kfac}; every setting has the default given in the class documentation. */
    public static final class Builder extends BaseBuilder<Builder> {

        private Tracker damping = Tracker.fixed(1e-3f);
        private Tracker factorUpdateFrequency = Tracker.fixed(10);
        private Tracker inverseUpdateFrequency = Tracker.fixed(100);
        private int fixedFactorUpdateFrequency = 10;
        private int fixedInverseUpdateFrequency = 100;
        private float fixedDamping = 1e-3f;
        private double factorDecay = 0.95;
        private float klClip = 1e-3f;
        private float momentum = 0.9f;
        private InversionMode inversion = InversionMode.INVERSE;
        private Fisher fisher = Fisher.EMPIRICAL;
        private WeightDecay weightDecayMode = WeightDecay.DECOUPLED;
        private FirstOrderRule uncoveredRule;
        private long seed;
        private int maxConsecutiveFailures = KroneckerSettings.DEFAULT.maxConsecutiveFailures();
        private int hostEigenLimit = KroneckerSettings.DEFAULT.hostEigenLimit();

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
            this.damping = Tracker.fixed(damping);
            return this;
        }

        /**
         * Sets a damping schedule, read at every inverse update with the step number.
         *
         * @param damping \( \lambda \) by step; its values must be positive and finite
         * @return this {@code Builder}
         */
        public Builder optDampingTracker(Tracker damping) {
            this.fixedDamping = 1;
            this.damping = Objects.requireNonNull(damping, "damping");
            return this;
        }

        /**
         * Sets how often the factors are updated.
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
         * Sets a schedule for the period of the factor updates (rounded, at least 1).
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
         * Sets how often the damped inverses are recomputed.
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
         * Sets a schedule for the period of the inverse updates (rounded, at least 1).
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
         * Sets the momentum \( \mu \) of covered layers (and of the default first-order rule).
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
         * @param inversion INVERSE (default) or EIGEN
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
         * Sets the seed of the generator of the Monte-Carlo labels ({@link Fisher#MONTE_CARLO}).
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
         * Builds the optimizer.
         *
         * @return the optimizer
         * @throws IllegalArgumentException naming the setting and its value if one is invalid
         */
        public Kfac build() {
            if (!(fixedDamping > 0) || Float.isInfinite(fixedDamping)) {
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
            if (!(klClip > 0)) {
                throw new IllegalArgumentException(
                        "klClip must be positive (Infinity disables clipping), but was " + klClip);
            }
            if (!(momentum >= 0 && momentum < 1)) {
                throw new IllegalArgumentException(
                        "momentum must be in [0, 1), but was " + momentum);
            }
            if (inversion == null || fisher == null || weightDecayMode == null) {
                throw new IllegalArgumentException(
                        "inversion, fisher and weightDecayMode must not be null");
            }
            new KroneckerSettings(factorDecay, inversion, maxConsecutiveFailures, hostEigenLimit);
            return new Kfac(this);
        }
    }
}
