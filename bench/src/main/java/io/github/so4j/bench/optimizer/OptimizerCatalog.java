package io.github.so4j.bench.optimizer;

import ai.djl.nn.Block;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.curvature.kfac.InversionMode;
import io.github.so4j.optimizers.DctAdam;
import io.github.so4j.optimizers.GaLore;
import io.github.so4j.optimizers.Grafting;
import io.github.so4j.optimizers.Kfac;
import io.github.so4j.optimizers.LowRankAdam;
import io.github.so4j.optimizers.MFac;
import io.github.so4j.optimizers.Muon;
import io.github.so4j.optimizers.OnlineSubspaceDescent;
import io.github.so4j.optimizers.Shampoo;
import io.github.so4j.optimizers.Smb;
import io.github.so4j.optimizers.Soap;
import io.github.so4j.optimizers.SubspaceNewton;
import io.github.so4j.optimizers.transform.Orthogonalize;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * The optimizers that {@code ./so4j compare} knows by name, with their settings and their defaults
 * per workload.
 *
 * <p>Defaults come from the optimizer's paper or reference code, then from a small learning-rate
 * sweep per workload on this project's machine (one epoch, batch 128, seed 0), documented in {@code
 * docs/harness.md}: the value kept is the best of the sweep unless a neighbour was nearly as good
 * and less aggressive.
 */
public final class OptimizerCatalog {

    /**
     * One optimizer: its name, settings with defaults, how to build it and how to train with it.
     *
     * @param name the command-line name
     * @param description a one-line description
     * @param defaults every setting with its default
     * @param perWorkload overrides of the defaults for particular workloads
     * @param factory builds the optimizer from settings
     * @param strategy how the harness trains with it
     */
    public record Entry(
            String name,
            String description,
            Map<String, String> defaults,
            Map<Workload, Map<String, String>> perWorkload,
            Function<OptimizerSettings, Optimizer> factory,
            TrainingStrategy strategy) {

        /**
         * The setting besides the learning rate that a sweep tunes, by optimizer: the damping of
         * the curvature methods, on which their result depends as much as on the learning rate
         * (docs/harness.md: K-FAC's final loss moves from 0.368 to 0.273 over damping 1e-3 to 0.1;
         * M-FAC's from 0.410 to 0.390 over 1e-5 to 1e-4).
         */
        private static final Map<String, String> TUNED_KNOBS =
                Map.of("mfac", "damping", "kfac", "damping", "subspace-newton", "damping");

        /**
         * Returns the setting besides the learning rate that a sweep ({@code ./so4j tune}) should
         * tune for this optimizer, if any.
         *
         * @return the setting's key, such as {@code damping}, or empty for the learning rate alone
         */
        public Optional<String> tuningKnob() {
            return Optional.ofNullable(TUNED_KNOBS.get(name));
        }

        /**
         * Builds the optimizer for a workload with the user's overrides.
         *
         * @param workload the workload (selects the defaults)
         * @param overrides the user's settings
         * @return a new optimizer
         * @throws IllegalArgumentException if a setting is unknown or invalid
         */
        public Optimizer create(Workload workload, Map<String, String> overrides) {
            return factory.apply(settings(workload, overrides));
        }

        /**
         * Returns the effective settings for a workload.
         *
         * @param workload the workload
         * @param overrides the user's settings
         * @return the defaults, then the workload's defaults, then the overrides
         */
        public OptimizerSettings settings(Workload workload, Map<String, String> overrides) {
            Map<String, String> merged = new LinkedHashMap<>(defaults);
            merged.putAll(perWorkload.getOrDefault(workload, Map.of()));
            return OptimizerSettings.of(name, defaults, merged, overrides);
        }
    }

    private final Map<String, Entry> entries = new LinkedHashMap<>();

    /** Creates the catalog of every optimizer the harness knows. */
    public OptimizerCatalog() {
        add(
                "sgd",
                "DJL Sgd with momentum",
                defaults("lr", "0.05", "momentum", "0.9"),
                Map.of(Workload.AUTOENCODER, defaults("lr", "0.5")),
                s ->
                        Optimizer.sgd()
                                .setLearningRateTracker(Tracker.fixed(s.getFloat("lr")))
                                .optMomentum(s.getFloat("momentum"))
                                .build());
        add(
                "adam",
                "DJL Adam",
                defaults("lr", "0.001", "beta1", "0.9", "beta2", "0.999"),
                Map.of(
                        Workload.CNN,
                        defaults("lr", "0.002"),
                        Workload.LOGREG,
                        defaults("lr", "0.01")),
                s ->
                        Optimizer.adam()
                                .optLearningRateTracker(Tracker.fixed(s.getFloat("lr")))
                                .optBeta1(s.getFloat("beta1"))
                                .optBeta2(s.getFloat("beta2"))
                                .build());
        add(
                "adamw",
                "DJL AdamW (decoupled weight decay)",
                defaults("lr", "0.001", "beta1", "0.9", "beta2", "0.999", "weight_decay", "0.01"),
                Map.of(
                        Workload.CNN,
                        defaults("lr", "0.002"),
                        Workload.LOGREG,
                        defaults("lr", "0.01")),
                s ->
                        Optimizer.adamW()
                                .optLearningRateTracker(Tracker.fixed(s.getFloat("lr")))
                                .optBeta1(s.getFloat("beta1"))
                                .optBeta2(s.getFloat("beta2"))
                                .optWeightDecays(s.getFloat("weight_decay"))
                                .build());
        add(
                "mfac",
                "so4j M-FAC (sliding-window inverse Fisher)",
                defaults(
                        "lr",
                        "0.008",
                        "window",
                        "32",
                        "damping",
                        "1e-4",
                        "momentum",
                        "0",
                        "weight_decay",
                        "0",
                        "scope",
                        "global"),
                Map.of(),
                s ->
                        MFac.builder()
                                .optLearningRate(s.getFloat("lr"))
                                .optWindowSize(s.getInt("window"))
                                .optDamping(s.getFloat("damping"))
                                .optMomentum(s.getFloat("momentum"))
                                .optWeightDecays(s.getFloat("weight_decay"))
                                .optScope(choice(s, "mfac", "scope", MFac.Scope.class))
                                .build());
        add(
                new Entry(
                        "kfac",
                        "so4j K-FAC (Kronecker-factored Fisher of Linear and Conv2d layers)",
                        defaults(
                                "lr",
                                "0.1",
                                "damping",
                                "0.1",
                                "kl_clip",
                                "1e-3",
                                "momentum",
                                "0.9",
                                "factor_decay",
                                "0.95",
                                "factor_frequency",
                                "10",
                                "inverse_frequency",
                                "100",
                                "inversion",
                                "inverse",
                                "factor_rank",
                                "0",
                                "weight_decay",
                                "0"),
                        Map.of(),
                        OptimizerCatalog::kfac,
                        new TrainingStrategy() {
                            @Override
                            public Block prepare(Block block, Optimizer optimizer) {
                                return ((Kfac) optimizer).instrument(block);
                            }

                            @Override
                            public double step(Trainer trainer, Batch batch, Optimizer optimizer) {
                                return EASY_TRAIN.step(trainer, batch, optimizer);
                            }
                        }));
        add(
                "shampoo",
                "so4j Shampoo (Kronecker statistics, inverse roots, Adam grafting)",
                defaults(
                        "lr",
                        "0.002",
                        "block",
                        "128",
                        "precondition_frequency",
                        "100",
                        "epsilon",
                        "1e-4",
                        "beta2",
                        "1",
                        "grafting",
                        "adam",
                        "momentum",
                        "0",
                        "weight_decay",
                        "0"),
                Map.of(),
                s ->
                        Shampoo.builder()
                                .optLearningRate(s.getFloat("lr"))
                                .optMaxPreconditionerDim(s.getInt("block"))
                                .optPreconditionFrequency(s.getInt("precondition_frequency"))
                                .optEpsilon(s.getFloat("epsilon"))
                                .optBeta2(s.getFloat("beta2"))
                                .optGrafting(choice(s, "shampoo", "grafting", Grafting.class))
                                .optMomentum(s.getFloat("momentum"))
                                .optWeightDecays(s.getFloat("weight_decay"))
                                .build());
        add(
                new Entry(
                        "muon",
                        "so4j Muon (orthogonalised Nesterov momentum for hidden weights, AdamW for"
                                + " the rest)",
                        defaults(
                                "lr",
                                "0.02",
                                "momentum",
                                "0.95",
                                "weight_decay",
                                "0",
                                "update_scale",
                                "original",
                                "ns_steps",
                                "5",
                                "adam_lr",
                                "3e-4",
                                "adam_beta1",
                                "0.9",
                                "adam_beta2",
                                "0.95",
                                "adam_weight_decay",
                                "0"),
                        Map.of(),
                        s ->
                                Muon.builder()
                                        .optLearningRate(s.getFloat("lr"))
                                        .optMomentum(s.getFloat("momentum"))
                                        .optWeightDecays(s.getFloat("weight_decay"))
                                        .optUpdateScale(
                                                choice(
                                                        s,
                                                        "muon",
                                                        "update_scale",
                                                        Orthogonalize.Scale.class))
                                        .optNewtonSchulzSteps(s.getInt("ns_steps"))
                                        .optAdamLearningRate(s.getFloat("adam_lr"))
                                        .optAdamBetas(
                                                s.getFloat("adam_beta1"), s.getFloat("adam_beta2"))
                                        .optAdamWeightDecay(s.getFloat("adam_weight_decay"))
                                        .build(),
                        new TrainingStrategy() {
                            @Override
                            public Block prepare(Block block, Optimizer optimizer) {
                                // the default rule needs the model's parameter order
                                ((Muon) optimizer).nameParameters(block);
                                return block;
                            }

                            @Override
                            public double step(Trainer trainer, Batch batch, Optimizer optimizer) {
                                return EASY_TRAIN.step(trainer, batch, optimizer);
                            }
                        }));
        add(
                "soap",
                "so4j SOAP (Adam in the eigenbasis of Shampoo's statistics)",
                defaults(
                        "lr",
                        "0.003",
                        "beta1",
                        "0.95",
                        "beta2",
                        "0.95",
                        "shampoo_beta",
                        "-1",
                        "frequency",
                        "10",
                        "weight_decay",
                        "0.01",
                        "max_dim",
                        "10000"),
                Map.of(),
                s ->
                        Soap.builder()
                                .optLearningRate(s.getFloat("lr"))
                                .optBeta1(s.getFloat("beta1"))
                                .optBeta2(s.getFloat("beta2"))
                                .optShampooBeta(s.getFloat("shampoo_beta"))
                                .optPreconditionFrequency(s.getInt("frequency"))
                                .optWeightDecays(s.getFloat("weight_decay"))
                                .optMaxPreconditionerDim(s.getInt("max_dim"))
                                .build());
        add(
                "dct-adam",
                "so4j DCT-AdamW (Adam on the r DCT-II columns of largest norm, refreshed every T"
                        + " steps)",
                defaults(
                        "lr",
                        "0.001",
                        "rank",
                        "128",
                        "update_period",
                        "200",
                        "scale",
                        "1",
                        "weight_decay",
                        "0",
                        "min_rank",
                        "4",
                        "max_rank_fraction",
                        "0.25",
                        "side",
                        "auto",
                        "rotate_moments",
                        "false",
                        "selection_norm",
                        "1"),
                // on the MLP the AdamW group (the output layer, the biases) wants a larger rate
                // than the projected weights: GaLore's pairing of a rate with a scale of 1/4; the
                // l2 norm keeps the columns with the most energy along the hidden units, which
                // have no order a cosine could exploit, and ends steadier over seeds (see
                // docs/lowrank.md)
                Map.of(
                        Workload.MLP,
                        defaults("lr", "0.01", "scale", "0.25", "selection_norm", "2")),
                s ->
                        DctAdam.builder()
                                .optLearningRate(s.getFloat("lr"))
                                .optRank(s.getInt("rank"))
                                .optUpdatePeriod(s.getInt("update_period"))
                                .optScale(s.getFloat("scale"))
                                .optWeightDecays(s.getFloat("weight_decay"))
                                .optMinRank(s.getInt("min_rank"))
                                .optMaxRankFraction(s.getFloat("max_rank_fraction"))
                                .optProjectionSide(side(s, "dct-adam"))
                                .optRotateMoments(flag(s, "dct-adam", "rotate_moments"))
                                .optSelectionNorm(s.getInt("selection_norm"))
                                .build());
        add(
                "galore",
                "so4j GaLore (Adam on the top singular subspace, randomized subspace"
                        + " iteration every T steps)",
                defaults(
                        "lr",
                        "0.01",
                        "rank",
                        "128",
                        "update_period",
                        "200",
                        "scale",
                        "0.25",
                        "weight_decay",
                        "0",
                        "min_rank",
                        "4",
                        "max_rank_fraction",
                        "0.25",
                        "side",
                        "auto",
                        "power_iterations",
                        "2",
                        "oversampling",
                        "8",
                        "cross_heads",
                        "1",
                        "cross_head_pattern",
                        "(query|key|value)_weight$"),
                // 0.01 (the reference's) sits at the edge of the stable rates on the MLP: seed 0
                // ends 5% above Adam there, 0.0075 within 3% on seeds 0 to 2 (docs/lowrank.md)
                Map.of(Workload.MLP, defaults("lr", "0.0075")),
                s ->
                        GaLore.builder()
                                .optLearningRate(s.getFloat("lr"))
                                .optRank(s.getInt("rank"))
                                .optUpdatePeriod(s.getInt("update_period"))
                                .optScale(s.getFloat("scale"))
                                .optWeightDecays(s.getFloat("weight_decay"))
                                .optMinRank(s.getInt("min_rank"))
                                .optMaxRankFraction(s.getFloat("max_rank_fraction"))
                                .optProjectionSide(side(s, "galore"))
                                .optPowerIterations(s.getInt("power_iterations"))
                                .optOversampling(s.getInt("oversampling"))
                                .optCrossHeadProjection(
                                        s.getInt("cross_heads"), s.get("cross_head_pattern"))
                                .build());
        add(
                "osd",
                "so4j Online Subspace Descent (Adam in a subspace tracked by online PCA)",
                defaults(
                        "lr",
                        "0.01",
                        "rank",
                        "128",
                        "update_period",
                        "200",
                        "scale",
                        "0.25",
                        "weight_decay",
                        "0",
                        "min_rank",
                        "4",
                        "max_rank_fraction",
                        "0.25",
                        "side",
                        "auto"),
                Map.of(),
                s ->
                        OnlineSubspaceDescent.builder()
                                .optLearningRate(s.getFloat("lr"))
                                .optRank(s.getInt("rank"))
                                .optUpdatePeriod(s.getInt("update_period"))
                                .optScale(s.getFloat("scale"))
                                .optWeightDecays(s.getFloat("weight_decay"))
                                .optMinRank(s.getInt("min_rank"))
                                .optMaxRankFraction(s.getFloat("max_rank_fraction"))
                                .optProjectionSide(side(s, "osd"))
                                .build());
        add(
                new Entry(
                        "subspace-newton",
                        "so4j subspace Newton (k Hessian products per step, line search)",
                        defaults(
                                "lr",
                                "1",
                                "dimension",
                                "10",
                                "damping",
                                "0.1",
                                "subspace",
                                "krylov"),
                        Map.of(),
                        s ->
                                SubspaceNewton.builder()
                                        .optLearningRate(s.getFloat("lr"))
                                        .optDimension(s.getInt("dimension"))
                                        .optDamping(s.getFloat("damping"))
                                        .optSubspace(
                                                choice(
                                                        s,
                                                        "subspace-newton",
                                                        "subspace",
                                                        SubspaceNewton.Subspace.class))
                                        .build(),
                        (trainer, batch, optimizer) ->
                                ((SubspaceNewton) optimizer).trainStep(trainer, batch).loss()));
        add(
                new Entry(
                        "smb",
                        "so4j SMB (SGD trial step; when the batch loss does not decrease enough, a"
                                + " step from a model built with the gradient at the trial point)",
                        // lr: the best of 0.01 to 30 on the MLP (docs/smb.md); the
                        // reference's default is 1. The schedule's settings are the
                        // reference's (window: its n_batches_per_epoch); docs/smb.md
                        // sizes the window to a one-epoch run
                        defaults(
                                "lr",
                                "0.3",
                                "c",
                                "0.1",
                                "eta",
                                "0.99",
                                "autoschedule",
                                "false",
                                "window",
                                "500",
                                "gamma",
                                "0.05",
                                "beta",
                                "0.9",
                                "lr_max",
                                "20",
                                "weight_decay",
                                "0"),
                        Map.of(),
                        s ->
                                Smb.builder()
                                        .optLearningRate(s.getFloat("lr"))
                                        .optArmijo(s.getFloat("c"))
                                        .optEta(s.getFloat("eta"))
                                        .optAutoSchedule(bool(s, "smb", "autoschedule"))
                                        .optScheduleWindow(s.getInt("window"))
                                        .optScheduleGamma(s.getFloat("gamma"))
                                        .optScheduleBeta(s.getFloat("beta"))
                                        .optMaxLearningRate(s.getFloat("lr_max"))
                                        .optWeightDecays(s.getFloat("weight_decay"))
                                        .build(),
                        // the batch loss comes from EasyTrain's report: SMB reads nothing
                        (trainer, batch, optimizer) -> {
                            ((Smb) optimizer).trainStep(trainer, batch);
                            return Double.NaN;
                        }));
    }

    /**
     * Reads a true/false setting.
     *
     * @throws IllegalArgumentException naming the setting and the value
     */
    private static boolean bool(OptimizerSettings s, String optimizer, String key) {
        String value = s.get(key);
        if (value.equalsIgnoreCase("true") || value.equalsIgnoreCase("false")) {
            return Boolean.parseBoolean(value);
        }
        throw new IllegalArgumentException(
                optimizer + "." + key + " must be true or false, but was '" + value + "'");
    }

    private static SubspaceNewton.Subspace subspace(OptimizerSettings s) {
        String value = s.get("subspace");
        try {
            return SubspaceNewton.Subspace.valueOf(value.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "subspace-newton.subspace must be random, krylov or eigen, but was '"
                            + value
                            + "'",
                    e);
        }
    }

    /** The projection side of a low-rank method: auto, left or right. */
    private static LowRankAdam.ProjectionSide side(OptimizerSettings s, String optimizer) {
        return choice(s, optimizer, "side", LowRankAdam.ProjectionSide.class);
    }

    /**
     * Reads a setting that is {@code true} or {@code false}, case-insensitive.
     *
     * @throws IllegalArgumentException naming the setting and the value otherwise
     */
    private static boolean flag(OptimizerSettings s, String optimizer, String key) {
        String value = s.get(key).toLowerCase(Locale.ROOT);
        if (!value.equals("true") && !value.equals("false")) {
            throw new IllegalArgumentException(
                    optimizer + "." + key + " must be true or false, but was '" + s.get(key) + "'");
        }
        return value.equals("true");
    }

    /**
     * Reads a setting naming a constant of {@code type}, case-insensitive, with '-' for '_'.
     *
     * @throws IllegalArgumentException naming the setting, the allowed values and the value
     */
    /**
     * K-FAC from its settings; {@code factor_rank} k &gt; 0 selects {@link InversionMode#LOW_RANK}
     * with rank k (with {@code inversion} inverse, its default, or low_rank), 0 keeps {@code
     * inversion} as it is.
     */
    private static Kfac kfac(OptimizerSettings s) {
        InversionMode inversion = choice(s, "kfac", "inversion", InversionMode.class);
        int rank = s.getInt("factor_rank");
        Kfac.Builder builder =
                Kfac.builder()
                        .optLearningRate(s.getFloat("lr"))
                        .optDamping(s.getFloat("damping"))
                        .optKlClip(s.getFloat("kl_clip"))
                        .optMomentum(s.getFloat("momentum"))
                        .optFactorDecay(s.getFloat("factor_decay"))
                        .optFactorUpdateFrequency(s.getInt("factor_frequency"))
                        .optInverseUpdateFrequency(s.getInt("inverse_frequency"))
                        .optWeightDecays(s.getFloat("weight_decay"));
        if (rank == 0) {
            return builder.optInversion(inversion).build();
        }
        if (inversion == InversionMode.EIGEN) {
            throw new IllegalArgumentException(
                    "kfac.factor_rank "
                            + rank
                            + " needs kfac.inversion inverse or low_rank, but was eigen");
        }
        return builder.optInversion(InversionMode.LOW_RANK).optFactorRank(rank).build();
    }

    private static <E extends Enum<E>> E choice(
            OptimizerSettings s, String optimizer, String key, Class<E> type) {
        String value = s.get(key);
        try {
            return Enum.valueOf(type, value.toUpperCase(Locale.ROOT).replace('-', '_'));
        } catch (IllegalArgumentException e) {
            List<String> allowed = new ArrayList<>();
            for (E constant : type.getEnumConstants()) {
                allowed.add(constant.name().toLowerCase(Locale.ROOT));
            }
            throw new IllegalArgumentException(
                    optimizer
                            + "."
                            + key
                            + " must be one of "
                            + String.join(", ", allowed)
                            + ", but was '"
                            + value
                            + "'",
                    e);
        }
    }

    private static Map<String, String> defaults(String... keysAndValues) {
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put(keysAndValues[i], keysAndValues[i + 1]);
        }
        return map;
    }

    private void add(
            String name,
            String description,
            Map<String, String> defaults,
            Map<Workload, Map<String, String>> perWorkload,
            Function<OptimizerSettings, Optimizer> factory) {
        add(
                new Entry(
                        name,
                        description,
                        defaults,
                        perWorkload.isEmpty() ? Map.of() : new EnumMap<>(perWorkload),
                        factory,
                        TrainingStrategy.EASY_TRAIN));
    }

    /**
     * Adds an entry (for optimizers that need their own training strategy).
     *
     * @param entry the entry
     */
    public void add(Entry entry) {
        entries.put(entry.name(), entry);
    }

    /**
     * Finds an optimizer by name.
     *
     * @param name the name
     * @return its entry
     * @throws IllegalArgumentException naming the allowed names if there is none
     */
    public Entry get(String name) {
        Entry entry = entries.get(name);
        if (entry == null) {
            throw new IllegalArgumentException(
                    "unknown optimizer '" + name + "'; allowed: " + String.join(", ", names()));
        }
        return entry;
    }

    /**
     * Returns the names of all optimizers, in catalog order.
     *
     * @return the names
     */
    public List<String> names() {
        return List.copyOf(entries.keySet());
    }
}
