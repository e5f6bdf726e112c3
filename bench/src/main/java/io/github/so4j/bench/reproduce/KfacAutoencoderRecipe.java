package io.github.so4j.bench.reproduce;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.BatchSampler;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.compare.RunResult;
import io.github.so4j.bench.compare.TrainingRun;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.data.SeededShuffleSampler;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.optimizer.TrainingStrategy;
import io.github.so4j.bench.report.HtmlReport;
import io.github.so4j.bench.report.Plots;
import io.github.so4j.bench.report.ResultFiles;
import io.github.so4j.bench.report.ResultTable;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.bench.workload.WorkloadData;
import io.github.so4j.curvature.kfac.InversionMode;
import io.github.so4j.optimizers.Kfac;
import io.github.so4j.optimizers.kfac.LabelSampler;
import io.github.so4j.optimizers.kfac.MonteCarloFisher;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * The K-FAC paper's deep autoencoder (training error against iterations and against time), set up
 * as kfac-jax's {@code examples/autoencoder_mnist}: {@link Workload#AUTOENCODER_TANH}
 * (784-1000-500-250-30-250-500-1000-784, tanh, linear code layer, sigmoid cross-entropy summed over
 * pixels and averaged over the batch) with the L2 term \( 10^{-5} \cdot \frac{1}{2}\|\theta\|^2 \)
 * in every optimizer's objective, and K-FAC with the example's adaptive options: learning rate and
 * momentum from the exact quadratic model (Gauss-Newton), Levenberg-Marquardt damping from 150 in
 * [1e-5, 1000] adapted every 5 steps by 0.95 per step, inverses every 5 steps, factor averaging
 * 0.95, the Monte Carlo Fisher, and {@value #BURN_IN} burn-in batches ({@link Kfac#burnIn},
 * kfac-jax's {@code num_burnin_steps}) drawn before its first step from the training images
 * (shuffled with seed 1, the size of the first batch); their time counts in K-FAC's first step
 * (seconds to target), not in its mean step time (a warm-up step).
 *
 * <p>{@code SO4J_KFAC_AUTOENCODER_BATCHES=growing} applies TensorFlow K-FAC's growing mini-batch
 * schedule ({@link BatchSchedule}) to every optimizer alike: from the scale's batch size to the
 * whole training subset over the first half of the steps (the example: 1,000 to 60,000 over 500
 * steps). Off by default.
 *
 * <p>{@code SO4J_KFAC_AUTOENCODER_RANK=k} gives K-FAC randomized low-rank factors of rank k ({@link
 * io.github.so4j.curvature.kfac.InversionMode#LOW_RANK}) instead of exact inverses: the
 * autoencoder's factors are up to 1,001 wide, and an exact inverse costs a cube of that at every
 * refresh and a product of it with every gradient at every step. Off (exact) by default.
 *
 * <p>At the scale of a shared 2-core CPU (the default): the first 2,000 Fashion-MNIST training
 * images (the harness's data; the paper and kfac-jax use MNIST), batches of 100, 50 steps, seed 0,
 * the test loss on the first 500 test images. kfac-jax trains on the whole 60,000-image set as one
 * batch for 5,000 steps; {@code SO4J_KFAC_AUTOENCODER=full} in the environment runs the largest
 * setting this harness supports, all 60,000 images in batches of 1,000 for 2,000 steps (hours
 * here), {@code long} the default's images and batches for 100 steps, and {@code smoke} a 25-step
 * check of the recipe itself (1,000 images, batches of 100).
 *
 * <p>SGD with momentum 0.9 and Adam are each run on a grid of learning rates ({@code SGD_RATES},
 * {@code ADAM_RATES}: at the default scale the best rate of an earlier, longer grid, see {@code
 * docs/kfac.md}) and the best (the lowest final loss on the training images) is kept. The target
 * loss is SGD with momentum's final loss, the mean of its last {@value #WINDOW} batch losses, so
 * that {@code steps_to_target} and {@code seconds_to_target} read as "how soon each optimizer gets
 * where SGD with momentum ends"; they are computed for every run from its curve with the harness's
 * rule (the first step at which the mean of the last {@value #WINDOW} batch losses is at most the
 * target). The recipe prints the paper's claim, the measured result and a verdict.
 */
final class KfacAutoencoderRecipe implements Recipe {

    /** The environment variable that selects the full-size run. */
    static final String SCALE_VARIABLE = "SO4J_KFAC_AUTOENCODER";

    /** The environment variable that turns the growing batch schedule on ({@code growing}). */
    static final String BATCHES_VARIABLE = "SO4J_KFAC_AUTOENCODER_BATCHES";

    /** The environment variable that gives K-FAC randomized low-rank factors of rank k. */
    static final String RANK_VARIABLE = "SO4J_KFAC_AUTOENCODER_RANK";

    /** K-FAC's burn-in batches, kfac-jax's and TensorFlow K-FAC's {@code num_burnin_steps}. */
    static final int BURN_IN = 5;

    /**
     * Batches over which a loss is averaged for the target and its first crossing: shorter than the
     * harness's {@value TrainingRun#TARGET_WINDOW}, which would hide any crossing before step 20 of
     * these short runs.
     */
    static final int WINDOW = 5;

    private static final float L2 = 1e-5f;
    private static final float[] SGD_RATES = {1e-3f};
    private static final float[] ADAM_RATES = {1e-3f};

    /** The size of a run. */
    record Scale(Integer subset, Integer testImages, int batchSize, int steps) {
        static Scale fromEnvironment() {
            String scale = System.getenv(SCALE_VARIABLE);
            if ("full".equalsIgnoreCase(scale)) {
                return new Scale(null, null, 1000, 2000);
            }
            if ("long".equalsIgnoreCase(scale)) {
                return new Scale(2000, 500, 100, 100);
            }
            if ("smoke".equalsIgnoreCase(scale)) {
                return new Scale(1000, 500, 100, 25);
            }
            return new Scale(2000, 500, 100, 50);
        }

        /** The training images: the subset, or all of Fashion-MNIST's 60,000. */
        int trainImages() {
            return subset != null ? subset : 60_000;
        }

        /** The growing schedule when the environment asks for it, else null. */
        BatchSchedule schedule() {
            if (!"growing".equalsIgnoreCase(System.getenv(BATCHES_VARIABLE))) {
                return null;
            }
            return BatchSchedule.growing(batchSize, trainImages(), Math.max(2, steps / 2));
        }
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "kfac-autoencoder";
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return "K-FAC paper: deep autoencoder (kfac-jax's setup, adaptive damping, learning rate"
                + " and momentum) against SGD with momentum and Adam, each on a learning-rate grid";
    }

    /** {@inheritDoc} */
    @Override
    public void run(RecipeContext context) throws Exception {
        Scale scale = Scale.fromEnvironment();
        Workload workload = Workload.AUTOENCODER_TANH;
        PrintWriter out = context.stdout();
        Device device = context.device();
        List<RunResult> grid = new ArrayList<>();
        List<RunResult> chosen = new ArrayList<>();
        try (NDManager manager = NDManager.newBaseManager(device)) {
            WorkloadData loaded =
                    workload.load(manager, context.data(), scale.subset(), scale.batchSize());
            WorkloadData data =
                    new WorkloadData(
                            loaded.train(),
                            loaded.trainEvaluation(),
                            testImages(manager, context.data(), scale),
                            loaded.source());
            BatchSchedule schedule = scale.schedule();
            out.printf(
                    Locale.ROOT,
                    "kfac-autoencoder: %s; %d steps of batch %s; K-FAC burns in on %d batches;"
                            + " data %s%n",
                    workload.description(),
                    scale.steps(),
                    schedule == null
                            ? Integer.toString(scale.batchSize())
                            : scale.batchSize()
                                    + " growing to "
                                    + schedule.max()
                                    + " by step "
                                    + Math.max(2, scale.steps() / 2),
                    BURN_IN,
                    data.source());
            out.flush();
            RunResult sgd =
                    best(out, grid, SGD_RATES, KfacAutoencoderRecipe::sgd, scale, data, device);
            RunResult adam =
                    best(out, grid, ADAM_RATES, KfacAutoencoderRecipe::adam, scale, data, device);
            RunResult kfac = run(kfac(data.train(), scale.batchSize()), scale, data, device);
            double target = finalWindowLoss(sgd);
            for (RunResult r : List.of(sgd, adam, kfac)) {
                chosen.add(withTarget(r, target));
            }
        }
        Path folder = context.out();
        for (RunResult r : chosen) {
            ResultFiles.writeRun(folder, r);
        }
        ResultFiles.writeSummary(folder, chosen);
        List<Path> plots = Plots.write(folder, chosen);
        String table = ResultTable.format(chosen);
        Path report =
                HtmlReport.write(
                        folder,
                        "kfac-autoencoder: " + workload.description(),
                        "device "
                                + device
                                + "; "
                                + Runtime.getRuntime().availableProcessors()
                                + " CPUs",
                        chosen,
                        plots);
        out.println();
        out.print(table);
        verdict(chosen.get(0), chosen.get(1), chosen.get(2)).report(context, report);
        out.flush();
    }

    /** Runs every rate of a grid; returns the run with the lowest final training loss. */
    private static RunResult best(
            PrintWriter out,
            List<RunResult> grid,
            float[] rates,
            Function<Float, OptimizerCatalog.Entry> entry,
            Scale scale,
            WorkloadData data,
            Device device)
            throws IOException, TranslateException {
        RunResult best = null;
        for (float rate : rates) {
            RunResult r = run(entry.apply(rate), scale, data, device);
            grid.add(r);
            out.printf(
                    Locale.ROOT,
                    "grid: %-5s %-40s final train loss %.3f, %.1f ms/step%n",
                    r.optimizer(),
                    r.settings(),
                    r.finalTrainLoss(),
                    r.msPerStep());
            out.flush();
            if (best == null || loss(r) < loss(best)) {
                best = r;
            }
        }
        return best;
    }

    /**
     * The test images the runs evaluate: the first {@link Scale#testImages()} of Fashion-MNIST's
     * test set (the paper's figures are of training error; the test loss is a side number).
     */
    private static FashionMnistDataset testImages(NDManager manager, Path directory, Scale scale)
            throws IOException, TranslateException {
        FashionMnistDataset.Builder builder =
                FashionMnistDataset.builder()
                        .setManager(manager)
                        .optDirectory(directory)
                        .optUsage(Dataset.Usage.TEST)
                        .optFlatten(true)
                        .optImageTargets(true)
                        .setSampling(scale.batchSize(), false);
        if (scale.testImages() != null) {
            builder.optSubset(scale.testImages());
        }
        FashionMnistDataset test = builder.build();
        test.prepare();
        return test;
    }

    /** The final training loss, a diverged run's (NaN) counted as infinite. */
    private static double loss(RunResult r) {
        return Double.isNaN(r.finalTrainLoss()) ? Double.POSITIVE_INFINITY : r.finalTrainLoss();
    }

    private static RunResult run(
            OptimizerCatalog.Entry entry, Scale scale, WorkloadData data, Device device)
            throws IOException, TranslateException {
        BatchSchedule schedule = scale.schedule();
        if (schedule != null) {
            entry =
                    new OptimizerCatalog.Entry(
                            entry.name(),
                            entry.description(),
                            entry.defaults(),
                            entry.perWorkload(),
                            entry.factory(),
                            schedule.wrap(entry.strategy()));
        }
        TrainingRun.Plan plan =
                new TrainingRun.Plan(
                        Workload.AUTOENCODER_TANH,
                        entry,
                        Map.of(),
                        scale.steps(),
                        schedule != null ? schedule.max() : scale.batchSize(),
                        0,
                        TrainingRun.Plan.defaultWarmup(scale.steps()),
                        0,
                        Double.NEGATIVE_INFINITY);
        return TrainingRun.execute(plan, data, device, record -> {});
    }

    static OptimizerCatalog.Entry sgd(float rate) {
        return entry(
                "sgd",
                "DJL Sgd, momentum 0.9, L2 1e-5",
                Map.of("lr", Float.toString(rate), "momentum", "0.9", "weight_decay", "1e-5"),
                s ->
                        Optimizer.sgd()
                                .setLearningRateTracker(Tracker.fixed(s.getFloat("lr")))
                                .optMomentum(0.9f)
                                .optWeightDecays(L2)
                                .build(),
                TrainingStrategy.EASY_TRAIN);
    }

    static OptimizerCatalog.Entry adam(float rate) {
        return entry(
                "adam",
                "DJL Adam, L2 1e-5",
                Map.of("lr", Float.toString(rate), "weight_decay", "1e-5"),
                s ->
                        Optimizer.adam()
                                .optLearningRateTracker(Tracker.fixed(s.getFloat("lr")))
                                .optWeightDecays(L2)
                                .build(),
                TrainingStrategy.EASY_TRAIN);
    }

    /**
     * The factor rank that {@value #RANK_VARIABLE} asks for: 0 (exact inverses) when unset or
     * empty.
     *
     * @param value the variable's value, or null
     * @return the rank, or 0
     * @throws IllegalArgumentException if the value is not a positive integer
     */
    static int factorRank(String value) {
        if (value == null || value.isBlank()) {
            return 0;
        }
        try {
            int rank = Integer.parseInt(value.trim());
            if (rank > 0) {
                return rank;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException(
                RANK_VARIABLE + " must be a positive integer (the factor rank), but was " + value);
    }

    /**
     * K-FAC with kfac-jax's adaptive settings for the autoencoder, burning in on {@value #BURN_IN}
     * batches of {@code burnInBatchSize} of {@code train} (shuffled with seed 1) at its first step.
     */
    static OptimizerCatalog.Entry kfac(RandomAccessDataset train, int burnInBatchSize) {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("adaptive", "damping, learning rate, momentum");
        settings.put("damping", "150");
        settings.put("damping_bounds", "1e-5..1000");
        settings.put("damping_adaptation", "every 5, decay 0.95");
        settings.put("inverse_frequency", "5");
        settings.put("factor_decay", "0.95");
        settings.put("fisher", "monte_carlo");
        settings.put("weight_decay", "1e-5 (L2)");
        settings.put("burn_in", BURN_IN + " batches");
        int rank = factorRank(System.getenv(RANK_VARIABLE));
        if (rank > 0) {
            settings.put("factor_rank", Integer.toString(rank));
        }
        LabelSampler sampler = LabelSampler.sigmoidBinaryCrossEntropy();
        return entry(
                "kfac",
                "so4j K-FAC, adaptive (kfac-jax's autoencoder settings)",
                settings,
                s -> {
                    Kfac.Builder builder =
                            Kfac.builder()
                                    .optLearningRate(1)
                                    .optAdaptiveStep(true)
                                    .optAdaptiveDamping(true)
                                    .optDamping(150)
                                    .optDampingBounds(1e-5, 1000)
                                    .optDampingAdaptation(5, 0.95)
                                    .optFactorUpdateFrequency(1)
                                    .optInverseUpdateFrequency(5)
                                    .optFactorDecay(0.95)
                                    .optFisher(Kfac.Fisher.MONTE_CARLO)
                                    .optWeightDecays(L2)
                                    .optWeightDecayMode(Kfac.WeightDecay.L2);
                    if (rank > 0) {
                        builder.optInversion(InversionMode.LOW_RANK).optFactorRank(rank);
                    }
                    return builder.build();
                },
                new TrainingStrategy() {
                    @Override
                    public Block prepare(Block block, Optimizer optimizer) {
                        return ((Kfac) optimizer).instrument(block);
                    }

                    @Override
                    public double step(Trainer trainer, Batch batch, Optimizer optimizer) {
                        Kfac kfac = (Kfac) optimizer;
                        if (kfac.burnInBatches() == 0) {
                            burnIn(trainer, kfac, train, burnInBatchSize, sampler);
                        }
                        MonteCarloFisher.trainBatch(
                                trainer, batch, kfac.instrumentation(), sampler);
                        kfac.prepare(
                                trainer.getModel().getBlock(),
                                trainer.getLoss(),
                                batch.getData(),
                                batch.getLabels());
                        trainer.step();
                        return Double.NaN;
                    }
                });
    }

    /** K-FAC's burn-in batches, drawn from the training images shuffled with seed 1. */
    private static void burnIn(
            Trainer trainer,
            Kfac kfac,
            RandomAccessDataset train,
            int batchSize,
            LabelSampler sampler) {
        BatchSampler order = new BatchSampler(new SeededShuffleSampler(1), batchSize, false);
        try {
            Iterator<Batch> batches = train.getData(trainer.getManager(), order).iterator();
            for (int b = 0; b < BURN_IN && batches.hasNext(); b++) {
                try (Batch batch = batches.next()) {
                    kfac.burnIn(trainer, batch, sampler);
                }
            }
        } catch (IOException | TranslateException e) {
            throw new IllegalStateException("K-FAC's burn-in batches could not be read", e);
        }
    }

    private static OptimizerCatalog.Entry entry(
            String name,
            String description,
            Map<String, String> defaults,
            Function<io.github.so4j.bench.optimizer.OptimizerSettings, Optimizer> factory,
            TrainingStrategy strategy) {
        return new OptimizerCatalog.Entry(
                name, description, new LinkedHashMap<>(defaults), Map.of(), factory, strategy);
    }

    /** The mean of the last {@value #WINDOW} batch losses of a run. */
    static double finalWindowLoss(RunResult run) {
        List<RunResult.StepRecord> curve = run.curve();
        int n = Math.min(WINDOW, curve.size());
        double sum = 0;
        for (int i = curve.size() - n; i < curve.size(); i++) {
            sum += curve.get(i).trainLoss();
        }
        return sum / n;
    }

    /**
     * The run with its target and the first step at which the mean of the last {@value #WINDOW}
     * batch losses was at most it (TrainingRun's rule with that window).
     */
    static RunResult withTarget(RunResult r, double target) {
        List<RunResult.StepRecord> curve = r.curve();
        int reached = -1;
        double seconds = Double.NaN;
        double sum = 0;
        for (int i = 0; i < curve.size(); i++) {
            sum += curve.get(i).trainLoss();
            if (i >= WINDOW) {
                sum -= curve.get(i - WINDOW).trainLoss();
            }
            if (i + 1 >= WINDOW && sum / WINDOW <= target) {
                reached = curve.get(i).step();
                seconds = curve.get(i).seconds();
                break;
            }
        }
        return new RunResult(
                r.workload(),
                r.optimizer(),
                r.settings(),
                r.steps(),
                r.batchSize(),
                r.seed(),
                r.finalTrainLoss(),
                r.testLoss(),
                r.testAccuracy(),
                r.msPerStep(),
                r.trainSeconds(),
                r.peakRssMb(),
                target,
                reached,
                seconds,
                r.health(),
                r.hostReads(),
                r.stateBytes(),
                r.curve(),
                r.evaluations());
    }

    /**
     * The paper's claim, what this run measured, and whether it reproduces: reproduced when K-FAC
     * reaches the target in at most a fifth of SGD with momentum's steps, in fewer seconds, and
     * ends below Adam's final loss; partly when one or two of the three hold; not when none does.
     */
    static Verdict verdict(RunResult sgd, RunResult adam, RunResult kfac) {
        boolean fewerSteps =
                kfac.stepsToTarget() > 0
                        && sgd.stepsToTarget() > 0
                        && 5L * kfac.stepsToTarget() <= sgd.stepsToTarget();
        boolean fewerSeconds =
                kfac.stepsToTarget() > 0
                        && sgd.stepsToTarget() > 0
                        && kfac.secondsToTarget() < sgd.secondsToTarget();
        boolean belowAdam = finalWindowLoss(kfac) < finalWindowLoss(adam);
        int met = (fewerSteps ? 1 : 0) + (fewerSeconds ? 1 : 0) + (belowAdam ? 1 : 0);
        String measured =
                String.format(
                        Locale.ROOT,
                        "target %.3f (SGD with momentum's final loss over its last %d batches)."
                                + " SGD with momentum: %s. Adam: %s, final %.3f. K-FAC: %s, final"
                                + " %.3f. K-FAC at most 1/5 of SGD's steps: %s; fewer seconds: %s;"
                                + " final loss below Adam's: %s.",
                        sgd.targetLoss(),
                        WINDOW,
                        reach(sgd),
                        reach(adam),
                        finalWindowLoss(adam),
                        reach(kfac),
                        finalWindowLoss(kfac),
                        fewerSteps ? "yes" : "no",
                        fewerSeconds ? "yes" : "no",
                        belowAdam ? "yes" : "no");
        return new Verdict(
                "Martens and Grosse 2015 (and TensorFlow K-FAC's example: 14.7x fewer updates,"
                        + " 3.8x fewer seconds than SGD with momentum): K-FAC reaches SGD with"
                        + " momentum's final loss in a fraction of its iterations and time.",
                measured,
                Verdict.Outcome.of(met == 3, met > 0),
                "reproduced when K-FAC reaches the target in at most a fifth of SGD with"
                        + " momentum's steps, in fewer seconds, and ends below Adam's final loss"
                        + " (each final loss the mean of the last "
                        + WINDOW
                        + " batch losses); partly when one or two of the three hold; not when"
                        + " none does.");
    }

    private static String reach(RunResult r) {
        return r.stepsToTarget() > 0
                ? String.format(
                        Locale.ROOT,
                        "reaches it at step %d, %.1f s (of %d steps, %.1f s)",
                        r.stepsToTarget(),
                        r.secondsToTarget(),
                        r.steps(),
                        r.trainSeconds())
                : String.format(
                        Locale.ROOT,
                        "does not reach it in %d steps (%.1f s)",
                        r.steps(),
                        r.trainSeconds());
    }
}
