package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.tracker.ParameterTracker;
import ai.djl.training.tracker.Tracker;
import ai.djl.util.Pair;
import io.github.so4j.curvature.linalg.NewtonSchulzOrthogonalizer;
import io.github.so4j.optimizers.transform.Chain;
import io.github.so4j.optimizers.transform.EmaMomentum;
import io.github.so4j.optimizers.transform.Orthogonalize;
import io.github.so4j.optimizers.transform.SecondMoment;
import io.github.so4j.optimizers.transform.Transform;
import io.github.so4j.optimizers.transform.WeightDecay;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Muon optimizer: momentum orthogonalised by a Newton–Schulz iteration for the hidden weight
 * matrices, AdamW for every other parameter.
 *
 * <p>Every taken step t, for a parameter W that Muon moves (a matrix, or a convolution kernel
 * viewed as out x in·kh·kw, m x n), with gradient G and learning rate \( \eta_t \):
 *
 * <p>\( B \leftarrow \mu B + (1 - \mu) G \) ({@link EmaMomentum})<br>
 * \( D = (1 - \mu) G + \mu B \) (Nesterov, the default) or \( D = B \)<br>
 * \( O = \mathrm{NS}_5(D) \approx U V^\top \) for \( D = U \Sigma V^\top \) ({@link
 * NewtonSchulzOrthogonalizer}: five quintic steps on \( D / (\|D\|_F + 10^{-7}) \), singular values
 * mapped into [0.68, 1.21] from 0.0015 of the norm up)<br>
 * \( W \leftarrow W - \eta_t (s(m, n) \, O + \omega W) \), with \( s = \sqrt{\max(1, m / n)} \) (or
 * Moonlight's \( 0.2 \sqrt{\max(m, n)} \), {@link Orthogonalize.Scale}) and \( \omega \) the weight
 * decay, that is \( W \leftarrow (1 - \eta_t \omega) W - \eta_t s O \) as the reference writes it.
 *
 * <p>Every other parameter moves by AdamW with its own learning rate \( \alpha_t \), \( \beta_1,
 * \beta_2, \epsilon \) and weight decay \( \omega_a \) ({@link SecondMoment#adamChain}, {@link
 * WeightDecay#decoupled}):
 *
 * <p>\( W \leftarrow W - \alpha_t (\hat m / (\sqrt{\hat v} + \epsilon) + \omega_a W) \)
 *
 * <p>The base class applies one learning rate to every direction, so the AdamW direction is
 * multiplied by \( \alpha_t / \eta_t \), both trackers read at the step's index (0 when \( \eta_t =
 * 0 \): a step at learning rate 0 moves nothing).
 *
 * <p><b>Which parameters Muon moves</b> is a {@link ParameterRule} (builder: {@link
 * Builder#optParameterRule}), decided once per parameter at its first step, logged, and listed by
 * {@link #parameterGroups()}. The default, {@link ParameterRule#HIDDEN_WEIGHTS}, follows the
 * reference's advice (Muon for hidden weights; "the input embedding, final output layer, and any
 * internal gains or biases" to AdamW): Muon moves a parameter of 2 or more dimensions unless it is
 * a gain or a bias (DJL names them {@code gamma}, {@code beta}, {@code bias}; a {@code LayerNorm}'s
 * gain is 2-D when it normalises two axes), an embedding (DJL names the table of its {@code
 * Embedding} blocks {@code embedding}; or the model's name for the parameter contains "embed") or
 * the output layer (the last of the others in the model's parameter order). Limits of that rule:
 *
 * <ul>
 *   <li>The output layer needs the model's parameter order, which DJL does not give an optimizer
 *       (it hands parameters over one at a time, in no fixed order, from inside the first step).
 *       Muon learns it from {@link #nameParameters(Block)}: call it once with the model's block
 *       (before or after {@code trainer.initialize}); so4j's harness does. Without it, a rule that
 *       asks {@link ParameterInfo#isOutputLayer()} throws at the first step, naming the fix.
 *   <li>"Last in the model's order" is the last in {@code Block.getParameters()}: the last layer
 *       built, which is the output layer of sequential models, but not of a model whose last
 *       parameter belongs to a layer applied earlier (a head built first, weights tied to an
 *       embedding). Give such models a rule of their own, by name or shape.
 *   <li>Names are DJL's: a custom block that names a gain or an embedding otherwise, or a weight
 *       {@code bias}, needs a rule of its own.
 *   <li>A layer frozen when the rule runs is still part of the order (its parameters are in the
 *       block); a parameter's group never changes once decided.
 * </ul>
 *
 * <p><b>Rejected steps and host reads.</b> The momentum buffers and Adam's moments are staged
 * through {@link TransformState} and committed with the step's decision, made on the device: a step
 * with a non-finite gradient leaves weights, buffers and moments bit-identical. Ordinary steps make
 * no host read (the iteration is products and a norm on the device). Checkpoints ({@link
 * #saveState}) hold, by parameter name, each Muon parameter's buffer ({@code
 * muon/orthogonalized/momentum/buffer/<name>}) and each AdamW parameter's moments ({@code
 * muon/adamw/adam/firstMoment/m/<name>}, {@code .../secondMoment/v/<name>}); the groups are those
 * lists.
 *
 * <p>Defaults, from Keller Jordan's {@code muon.py} ({@code SingleDeviceMuonWithAuxAdam}, commit
 * 857d1ad): learning rate 0.02, momentum 0.95 with Nesterov, weight decay 0, Newton–Schulz (3.4445,
 * −4.7750, 2.0315) for 5 steps with \( \epsilon = 10^{-7} \), scale \( \sqrt{\max(1, m / n)} \);
 * AdamW learning rate 3e-4, \( \beta = (0.9, 0.95) \), \( \epsilon = 10^{-10} \), weight decay 0.
 * The iteration runs in the parameters' dtype (the reference uses bfloat16 on GPUs).
 *
 * <p><b>Cost</b> per step, for an m x n Muon parameter with r = min(m, n) and l = max(m, n): the
 * iteration's \( 20 r^2 l + 10 r^3 \) flops (30 n<sup>3</sup> for a square n x n matrix: 5 steps of
 * \( X X^\top \), \( A^2 \) and \( B X \)) plus about 10 passes over the mn entries (momentum,
 * norm, scale, weight decay); Adam's O(d) for the rest. Memory: one momentum buffer per Muon
 * parameter (mn numbers), Adam's two moments per AdamW parameter; the iteration's temporaries (rl +
 * 2 r<sup>2</sup>) live for one parameter's step.
 *
 * <p>{@link #stateBytes()} counts the checkpoint's arrays: the momentum buffer of each Muon
 * parameter and the two moments of each AdamW parameter.
 *
 * @see <a href="https://kellerjordan.github.io/posts/muon/">Muon</a> (Keller Jordan, 2024)
 * @see <a href="https://arxiv.org/abs/2502.16982">paper</a> (Moonlight: Muon is Scalable for LLM
 *     Training)
 */
public final class Muon extends SecondOrderOptimizer {

    private static final Logger logger = LoggerFactory.getLogger(Muon.class);

    private static final String ORTHOGONALIZED = "muon/orthogonalized";
    private static final String ADAMW = "muon/adamw";

    /** The update that moves a parameter. */
    public enum Group {
        /** Orthogonalised momentum. */
        MUON,
        /** AdamW. */
        ADAMW
    }

    private final float momentum;
    private final boolean nesterov;
    private final NewtonSchulzOrthogonalizer orthogonalizer;
    private final Orthogonalize.Scale updateScale;
    private final ParameterTracker adamLearningRateTracker;
    private final float adamBeta1;
    private final float adamBeta2;
    private final float adamEpsilon;
    private final float adamWeightDecay;
    private final ParameterRule rule;
    private final Transform muonUpdate;
    private final Transform adamwUpdate;

    private TransformState orthogonalized;
    private TransformState adamw;

    /** Each parameter's group, by key, decided at its first step. */
    private final Map<String, Group> groups = new HashMap<>();

    /** The model, when the caller named it: the order of its parameters finds the output layer. */
    private Block model;

    private Muon(Builder builder) {
        super(builder);
        this.momentum = builder.momentum;
        this.nesterov = builder.nesterov;
        this.orthogonalizer =
                new NewtonSchulzOrthogonalizer(
                        builder.coefficients[0],
                        builder.coefficients[1],
                        builder.coefficients[2],
                        builder.newtonSchulzSteps,
                        builder.newtonSchulzEpsilon);
        this.updateScale = builder.updateScale;
        this.adamLearningRateTracker =
                builder.adamLearningRateTracker != null
                        ? builder.adamLearningRateTracker
                        : Tracker.fixed(builder.adamLearningRate);
        this.adamBeta1 = builder.adamBeta1;
        this.adamBeta2 = builder.adamBeta2;
        this.adamEpsilon = builder.adamEpsilon;
        this.adamWeightDecay = builder.adamWeightDecay;
        this.rule = builder.rule;
        List<Transform> muon = new ArrayList<>();
        muon.add(new EmaMomentum(momentum, nesterov));
        muon.add(new Orthogonalize(orthogonalizer, updateScale));
        // weightDecay(): DJL's optWeightDecays; the transform rejects negative or non-finite values
        WeightDecay decay = WeightDecay.decoupled(weightDecay());
        if (decay.decay() != 0) {
            muon.add(decay);
        }
        this.muonUpdate = Chain.named("muon", muon.toArray(Transform[]::new));
        Chain adam = SecondMoment.adamChain(adamBeta1, adamBeta2, adamEpsilon);
        this.adamwUpdate =
                adamWeightDecay == 0
                        ? Chain.named("adamw", adam)
                        : Chain.named("adamw", adam, WeightDecay.decoupled(adamWeightDecay));
        this.orthogonalized = new TransformState(muonUpdate);
        this.adamw = new TransformState(adamwUpdate);
    }

    /**
     * Returns a builder with the reference defaults.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Which parameters Muon moves; every other parameter moves by AdamW. Asked once per parameter,
     * at its first step.
     */
    @FunctionalInterface
    public interface ParameterRule {

        /**
         * Muon for every parameter of 2 or more dimensions except gains, biases, embeddings and the
         * output layer: {@code isMatrix() && !isGainOrBias() && !isEmbedding() && !isOutputLayer()}
         * (see {@link Muon} for the limits). Needs the model ({@link Muon#nameParameters}) for the
         * output layer.
         */
        ParameterRule HIDDEN_WEIGHTS =
                p -> p.isMatrix() && !p.isGainOrBias() && !p.isEmbedding() && !p.isOutputLayer();

        /**
         * Tells whether Muon moves a parameter.
         *
         * @param parameter what is known about the parameter
         * @return {@code true} for Muon (the parameter must have 2 or more dimensions), {@code
         *     false} for AdamW
         */
        boolean orthogonalize(ParameterInfo parameter);
    }

    /** What a {@link ParameterRule} knows about a parameter. */
    public static final class ParameterInfo {

        private final String name;
        private final String djlName;
        private final Shape shape;
        private final Boolean outputLayer;

        ParameterInfo(String name, String djlName, Shape shape, Boolean outputLayer) {
            this.name = name;
            this.djlName = djlName;
            this.shape = shape;
            this.outputLayer = outputLayer;
        }

        /**
         * Returns the model's name for the parameter ({@code 02Linear_weight}) when the optimizer
         * knows the model, else DJL's name for it.
         *
         * @return the name
         */
        public String name() {
            return name;
        }

        /**
         * Returns the name the parameter's block gives it: {@code weight}, {@code bias}, {@code
         * gamma}, {@code embedding}, ...
         *
         * @return DJL's name, or {@code ""} if it has none
         */
        public String djlName() {
            return djlName;
        }

        /**
         * Returns the parameter's shape.
         *
         * @return the shape
         */
        public Shape shape() {
            return shape;
        }

        /**
         * Returns whether the parameter has 2 or more dimensions (Muon views a kernel (out, in, kh,
         * kw) as out x in·kh·kw).
         *
         * @return whether it can be orthogonalised
         */
        public boolean isMatrix() {
            return shape.dimension() >= 2;
        }

        /**
         * Returns whether the parameter is a gain, a shift or a bias, whatever its shape: DJL names
         * it {@code gamma}, {@code beta} or {@code bias} (normalisation layers' gains and shifts
         * have the shape of the normalised axes, 2-D for a {@code LayerNorm} over two axes).
         *
         * @return whether it is a gain or a bias
         */
        public boolean isGainOrBias() {
            return isGainOrBias(djlName);
        }

        static boolean isGainOrBias(String djlName) {
            return "gamma".equals(djlName) || "beta".equals(djlName) || "bias".equals(djlName);
        }

        /**
         * Returns whether the parameter is an embedding table: DJL names it {@code embedding} (its
         * {@code Embedding} blocks do), or the model's name for it contains "embed" in any case.
         *
         * @return whether it is an embedding
         */
        public boolean isEmbedding() {
            return isEmbedding(name, djlName);
        }

        static boolean isEmbedding(String name, String djlName) {
            return "embedding".equals(djlName) || name.toLowerCase(Locale.ROOT).contains("embed");
        }

        /**
         * Returns whether the parameter is the output layer's weight: the last parameter of 2 or
         * more dimensions, gains, biases and embeddings aside, in the model's parameter order.
         *
         * @return whether it is the output layer
         * @throws IllegalStateException if the optimizer does not know the model, or the parameter
         *     is not one of the model's
         */
        public boolean isOutputLayer() {
            if (outputLayer == null) {
                throw new IllegalStateException(
                        "Muon's parameter rule asks whether "
                                + name
                                + " "
                                + shape
                                + " is the output layer, which takes the model's parameter order:"
                                + " call nameParameters(block) on the optimizer with the model's"
                                + " block (DJL does not tell an optimizer the model), or give"
                                + " optParameterRule a rule that does not ask");
            }
            return outputLayer;
        }
    }

    /** {@inheritDoc} */
    @Override
    protected Map<String, NDArray> computeStep(
            List<ParameterGradient> parameters, NDManager owner, Step step) {
        assignGroups(parameters);
        int index = (int) Math.min(step.highestPossibleIndex(), Integer.MAX_VALUE);
        Map<String, NDArray> directions = new HashMap<>();
        for (ParameterGradient p : parameters) {
            NDArray d;
            if (groups.get(p.key()) == Group.MUON) {
                d = orthogonalized.apply(p.key(), p.gradient(), p.gradient(), p.weight(), step);
            } else {
                d = adamw.apply(p.key(), p.gradient(), p.gradient(), p.weight(), step);
                String id = p.id() == null ? "" : p.id();
                // the base class multiplies by eta_t, the rate of this same index
                float eta = getLearningRateTracker().getNewValue(id, index);
                float alpha = adamLearningRateTracker.getNewValue(id, index);
                double ratio = eta > 0 ? alpha / (double) eta : 0;
                if (ratio != 1) {
                    d.muli(ratio);
                }
            }
            d.attach(owner);
            directions.put(p.key(), d);
        }
        return directions;
    }

    /** Decides the group of every parameter seen for the first time, all or none, and logs it. */
    private void assignGroups(List<ParameterGradient> parameters) {
        Map<String, Group> fresh = new LinkedHashMap<>();
        Map<String, ParameterInfo> infos = null;
        for (ParameterGradient p : parameters) {
            if (groups.containsKey(p.key())) {
                continue;
            }
            if (infos == null) {
                infos = describe(parameters);
            }
            ParameterInfo info = infos.get(p.key());
            boolean muon = rule.orthogonalize(info);
            if (muon && !info.isMatrix()) {
                throw new IllegalStateException(
                        "Muon's parameter rule chose "
                                + info.name()
                                + " "
                                + info.shape()
                                + " for Muon, which orthogonalises parameters of 2 or more"
                                + " dimensions only");
            }
            fresh.put(p.key(), muon ? Group.MUON : Group.ADAMW);
        }
        if (fresh.isEmpty()) {
            return;
        }
        groups.putAll(fresh);
        if (logger.isInfoEnabled()) {
            Map<Group, List<String>> listed = new TreeMap<>();
            for (Map.Entry<String, Group> e : fresh.entrySet()) {
                ParameterInfo info = infos.get(e.getKey());
                listed.computeIfAbsent(e.getValue(), g -> new ArrayList<>())
                        .add(info.name() + " " + info.shape());
            }
            logger.info(
                    "Muon orthogonalises {}; AdamW moves {}",
                    listed.getOrDefault(Group.MUON, List.of()),
                    listed.getOrDefault(Group.ADAMW, List.of()));
        }
    }

    /** What the rule may know about each parameter: the model's names and order when known. */
    private Map<String, ParameterInfo> describe(List<ParameterGradient> parameters) {
        Map<String, String> modelNames = new HashMap<>();
        String outputLayer = null;
        if (model != null) {
            // the block may have been named before it was initialized: name its arrays now
            super.nameParameters(model);
            for (Pair<String, Parameter> entry : model.getParameters()) {
                Parameter parameter = entry.getValue();
                if (!parameter.isInitialized()) {
                    continue;
                }
                NDArray array = parameter.getArray();
                modelNames.put(array.getUid(), entry.getKey());
                String djlName = djlName(array);
                if (array.getShape().dimension() >= 2
                        && !ParameterInfo.isGainOrBias(djlName)
                        && !ParameterInfo.isEmbedding(entry.getKey(), djlName)) {
                    outputLayer = array.getUid();
                }
            }
        }
        Map<String, ParameterInfo> infos = new HashMap<>();
        for (ParameterGradient p : parameters) {
            String djlName = djlName(p.weight());
            String modelName = modelNames.get(p.key());
            infos.put(
                    p.key(),
                    new ParameterInfo(
                            modelName != null
                                    ? modelName
                                    : djlName.isEmpty() ? "parameter" : djlName,
                            djlName,
                            p.weight().getShape(),
                            modelName == null ? null : p.key().equals(outputLayer)));
        }
        return infos;
    }

    private static String djlName(NDArray array) {
        return array.getName() == null ? "" : array.getName();
    }

    /**
     * {@inheritDoc}
     *
     * <p>Muon also keeps the block: the order of its parameters tells the default {@link
     * ParameterRule} which layer is the output layer. It may be called before {@code
     * trainer.initialize}; the order is read at the first step.
     */
    @Override
    public Muon nameParameters(Block block) {
        this.model = Objects.requireNonNull(block, "block");
        super.nameParameters(block);
        return this;
    }

    /** {@inheritDoc} */
    @Override
    protected boolean parametersChanged(List<String> keys) {
        orthogonalized.retain(keys);
        adamw.retain(keys);
        groups.keySet().retainAll(keys);
        return false;
    }

    /**
     * Saves each Muon parameter's momentum buffer under {@code muon/orthogonalized} and each AdamW
     * parameter's moments under {@code muon/adamw}, by parameter name, with the list of each
     * group's parameters.
     */
    @Override
    protected void writeState(OptimizerState state) {
        orthogonalized.write(state, ORTHOGONALIZED);
        adamw.write(state, ADAMW);
    }

    /**
     * {@inheritDoc}
     *
     * <p>The groups are restored with the state: a parameter keeps the group it had when saved.
     */
    @Override
    protected void readState(OptimizerState state) {
        TransformState restoredOrthogonalized = new TransformState(muonUpdate);
        TransformState restoredAdamw = new TransformState(adamwUpdate);
        Map<String, Group> restoredGroups = new HashMap<>();
        boolean done = false;
        try {
            restoredOrthogonalized.read(state, ORTHOGONALIZED);
            restoredAdamw.read(state, ADAMW);
            for (String name : state.getStrings(ORTHOGONALIZED + "/parameters")) {
                restoredGroups.put(state.keyOf(name), Group.MUON);
            }
            for (String name : state.getStrings(ADAMW + "/parameters")) {
                if (restoredGroups.put(state.keyOf(name), Group.ADAMW) != null) {
                    throw new IllegalArgumentException(
                            "the checkpoint moves " + name + " by both Muon and AdamW");
                }
            }
            done = true;
        } finally {
            if (!done) {
                restoredOrthogonalized.close();
                restoredAdamw.close();
            }
        }
        orthogonalized.close();
        adamw.close();
        orthogonalized = restoredOrthogonalized;
        adamw = restoredAdamw;
        groups.clear();
        groups.putAll(restoredGroups);
    }

    /**
     * Returns how many parameters each group holds: {@code muonParameters}, {@code
     * adamwParameters}.
     *
     * @return the counts by name
     */
    @Override
    protected Map<String, Object> curvatureHealth() {
        Map<String, Object> counts = new LinkedHashMap<>();
        counts.put("muonParameters", groups.values().stream().filter(g -> g == Group.MUON).count());
        counts.put(
                "adamwParameters", groups.values().stream().filter(g -> g == Group.ADAMW).count());
        return counts;
    }

    /**
     * Returns the group of every parameter decided so far, by the model's name for it (see {@link
     * #nameParameters}).
     *
     * @return the groups, sorted by name
     */
    public Map<String, Group> parameterGroups() {
        Map<String, Group> named = new TreeMap<>();
        groups.forEach((key, group) -> named.put(nameOf(key), group));
        return named;
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
     * Returns whether the momentum is Nesterov's.
     *
     * @return whether Nesterov
     */
    public boolean isNesterov() {
        return nesterov;
    }

    /**
     * Returns the Newton–Schulz iteration.
     *
     * @return the orthogonalizer
     */
    public NewtonSchulzOrthogonalizer getOrthogonalizer() {
        return orthogonalizer;
    }

    /**
     * Returns the scale of the orthogonalised update.
     *
     * @return the scale
     */
    public Orthogonalize.Scale getUpdateScale() {
        return updateScale;
    }

    /**
     * Returns AdamW's learning-rate tracker.
     *
     * @return the tracker
     */
    public ParameterTracker getAdamLearningRateTracker() {
        return adamLearningRateTracker;
    }

    /**
     * Returns AdamW's \( \beta_1 \).
     *
     * @return \( \beta_1 \)
     */
    public float getAdamBeta1() {
        return adamBeta1;
    }

    /**
     * Returns AdamW's \( \beta_2 \).
     *
     * @return \( \beta_2 \)
     */
    public float getAdamBeta2() {
        return adamBeta2;
    }

    /**
     * Returns AdamW's \( \epsilon \).
     *
     * @return \( \epsilon \)
     */
    public float getAdamEpsilon() {
        return adamEpsilon;
    }

    /**
     * Returns AdamW's weight decay \( \omega_a \).
     *
     * @return the weight decay of the AdamW parameters
     */
    public float getAdamWeightDecay() {
        return adamWeightDecay;
    }

    /**
     * Returns the rule that chooses the Muon parameters.
     *
     * @return the rule
     */
    public ParameterRule getParameterRule() {
        return rule;
    }

    /**
     * Builds {@link Muon}; every setting has the reference default stated on {@link Muon}. The
     * learning rate ({@code optLearningRate}, default 0.02) and the weight decay ({@code
     * optWeightDecays}, default 0) are those of the Muon parameters.
     */
    public static final class Builder extends BaseBuilder<Builder> {

        private float momentum = 0.95f;
        private boolean nesterov = true;
        private final double[] coefficients = {
            NewtonSchulzOrthogonalizer.DEFAULT_A,
            NewtonSchulzOrthogonalizer.DEFAULT_B,
            NewtonSchulzOrthogonalizer.DEFAULT_C
        };
        private int newtonSchulzSteps = NewtonSchulzOrthogonalizer.DEFAULT_STEPS;
        private double newtonSchulzEpsilon = NewtonSchulzOrthogonalizer.DEFAULT_EPSILON;
        private Orthogonalize.Scale updateScale = Orthogonalize.Scale.ORIGINAL;
        private float adamLearningRate = 3e-4f;
        private ParameterTracker adamLearningRateTracker;
        private float adamBeta1 = 0.9f;
        private float adamBeta2 = 0.95f;
        private float adamEpsilon = 1e-10f;
        private float adamWeightDecay;
        private ParameterRule rule = ParameterRule.HIDDEN_WEIGHTS;

        Builder() {
            super(0.02f);
        }

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets \( \mu \), the momentum of the Muon parameters, in the reference's form ({@link
         * EmaMomentum}: an exponential average, which the orthogonalisation makes equivalent to the
         * suite's SGD momentum).
         *
         * @param momentum \( \mu \) in [0, 1); default 0.95
         * @return this {@code Builder}
         */
        public Builder optMomentum(float momentum) {
            this.momentum = momentum;
            return this;
        }

        /**
         * Sets whether the momentum takes Nesterov's form, \( (1 - \mu) G + \mu B \).
         *
         * @param nesterov whether to use Nesterov momentum; default true
         * @return this {@code Builder}
         */
        public Builder optNesterov(boolean nesterov) {
            this.nesterov = nesterov;
            return this;
        }

        /**
         * Sets the number of Newton–Schulz steps.
         *
         * @param newtonSchulzSteps at least 1; default 5
         * @return this {@code Builder}
         */
        public Builder optNewtonSchulzSteps(int newtonSchulzSteps) {
            this.newtonSchulzSteps = newtonSchulzSteps;
            return this;
        }

        /**
         * Sets the coefficients of the quintic \( a x + b x^3 + c x^5 \).
         *
         * @param a positive and finite; default 3.4445
         * @param b finite; default −4.7750
         * @param c finite; default 2.0315
         * @return this {@code Builder}
         */
        public Builder optNewtonSchulzCoefficients(double a, double b, double c) {
            coefficients[0] = a;
            coefficients[1] = b;
            coefficients[2] = c;
            return this;
        }

        /**
         * Sets the \( \epsilon \) of the normalisation \( D / (\|D\|_F + \epsilon) \).
         *
         * @param newtonSchulzEpsilon positive and finite; default 1e-7
         * @return this {@code Builder}
         */
        public Builder optNewtonSchulzEpsilon(double newtonSchulzEpsilon) {
            this.newtonSchulzEpsilon = newtonSchulzEpsilon;
            return this;
        }

        /**
         * Sets the scale of the orthogonalised update by the matrix's shape.
         *
         * @param updateScale ORIGINAL (\( \sqrt{\max(1, m / n)} \), default) or MATCH_RMS_ADAMW (\(
         *     0.2 \sqrt{\max(m, n)} \))
         * @return this {@code Builder}
         */
        public Builder optUpdateScale(Orthogonalize.Scale updateScale) {
            this.updateScale = updateScale;
            return this;
        }

        /**
         * Sets a fixed learning rate for the AdamW parameters.
         *
         * @param adamLearningRate \( \alpha \), finite and non-negative; default 3e-4
         * @return this {@code Builder}
         */
        public Builder optAdamLearningRate(float adamLearningRate) {
            this.adamLearningRate = adamLearningRate;
            this.adamLearningRateTracker = null;
            return this;
        }

        /**
         * Sets a schedule for the AdamW parameters' learning rate, read at the same index as the
         * main learning rate (the count of taken steps; when the main rate is fixed, the host's
         * count, which runs ahead by the rejected steps it has not yet read).
         *
         * @param adamLearningRateTracker the tracker
         * @return this {@code Builder}
         */
        public Builder optAdamLearningRateTracker(ParameterTracker adamLearningRateTracker) {
            this.adamLearningRateTracker =
                    Objects.requireNonNull(adamLearningRateTracker, "adamLearningRateTracker");
            return this;
        }

        /**
         * Sets AdamW's \( \beta_1 \) and \( \beta_2 \).
         *
         * @param adamBeta1 in [0, 1); default 0.9
         * @param adamBeta2 in [0, 1); default 0.95
         * @return this {@code Builder}
         */
        public Builder optAdamBetas(float adamBeta1, float adamBeta2) {
            this.adamBeta1 = adamBeta1;
            this.adamBeta2 = adamBeta2;
            return this;
        }

        /**
         * Sets AdamW's \( \epsilon \).
         *
         * @param adamEpsilon positive and finite; default 1e-10
         * @return this {@code Builder}
         */
        public Builder optAdamEpsilon(float adamEpsilon) {
            this.adamEpsilon = adamEpsilon;
            return this;
        }

        /**
         * Sets the decoupled weight decay of the AdamW parameters (the Muon parameters' is DJL's
         * {@code optWeightDecays}).
         *
         * @param adamWeightDecay \( \omega_a \), finite and non-negative; default 0
         * @return this {@code Builder}
         */
        public Builder optAdamWeightDecay(float adamWeightDecay) {
            this.adamWeightDecay = adamWeightDecay;
            return this;
        }

        /**
         * Sets the rule that chooses the parameters Muon moves.
         *
         * @param rule the rule; default {@link ParameterRule#HIDDEN_WEIGHTS}
         * @return this {@code Builder}
         */
        public Builder optParameterRule(ParameterRule rule) {
            this.rule = rule;
            return this;
        }

        /**
         * Builds the optimizer.
         *
         * @return the optimizer
         * @throws IllegalArgumentException naming the setting and its value if one is invalid (the
         *     learning-rate trackers and DJL's weight decay included)
         */
        public Muon build() {
            if (!(momentum >= 0 && momentum < 1)) {
                throw new IllegalArgumentException(
                        "momentum must be in [0, 1), but was " + momentum);
            }
            if (newtonSchulzSteps < 1) {
                throw new IllegalArgumentException(
                        "newtonSchulzSteps must be at least 1, but was " + newtonSchulzSteps);
            }
            String[] names = {"a", "b", "c"};
            for (int i = 0; i < 3; i++) {
                if (!Double.isFinite(coefficients[i]) || (i == 0 && !(coefficients[i] > 0))) {
                    throw new IllegalArgumentException(
                            "newtonSchulzCoefficients' "
                                    + names[i]
                                    + " must be "
                                    + (i == 0 ? "positive and " : "")
                                    + "finite, but was "
                                    + coefficients[i]);
                }
            }
            if (!(newtonSchulzEpsilon > 0) || Double.isInfinite(newtonSchulzEpsilon)) {
                throw new IllegalArgumentException(
                        "newtonSchulzEpsilon must be positive and finite, but was "
                                + newtonSchulzEpsilon);
            }
            if (updateScale == null) {
                throw new IllegalArgumentException("updateScale must not be null");
            }
            if (adamLearningRateTracker == null) {
                if (!(adamLearningRate >= 0) || Float.isInfinite(adamLearningRate)) {
                    throw new IllegalArgumentException(
                            "adamLearningRate must be finite and non-negative, but was "
                                    + adamLearningRate);
                }
            } else {
                checkTracker("adamLearningRateTracker", adamLearningRateTracker);
            }
            if (!(adamBeta1 >= 0 && adamBeta1 < 1)) {
                throw new IllegalArgumentException(
                        "adamBeta1 must be in [0, 1), but was " + adamBeta1);
            }
            if (!(adamBeta2 >= 0 && adamBeta2 < 1)) {
                throw new IllegalArgumentException(
                        "adamBeta2 must be in [0, 1), but was " + adamBeta2);
            }
            if (!(adamEpsilon > 0) || Float.isInfinite(adamEpsilon)) {
                throw new IllegalArgumentException(
                        "adamEpsilon must be positive and finite, but was " + adamEpsilon);
            }
            if (!(adamWeightDecay >= 0) || Float.isInfinite(adamWeightDecay)) {
                throw new IllegalArgumentException(
                        "adamWeightDecay must be finite and non-negative, but was "
                                + adamWeightDecay);
            }
            if (rule == null) {
                throw new IllegalArgumentException("parameterRule must not be null");
            }
            return new Muon(this);
        }
    }
}
