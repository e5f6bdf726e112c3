package io.github.so4j.bench.compare;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.BatchSampler;
import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.ProcessMemory;
import io.github.so4j.bench.data.SeededShuffleSampler;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.optimizer.OptimizerSettings;
import io.github.so4j.bench.optimizer.OptimizerStateBytes;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.bench.workload.WorkloadData;
import io.github.so4j.optimizers.OptimizerHealth;
import io.github.so4j.optimizers.SecondOrderOptimizer;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Trains one workload with one optimizer for a number of steps, the way a DJL user would (by
 * default {@link EasyTrain#trainBatch} then {@link Trainer#step}), timing every step.
 *
 * <p>The seed fixes the initialization (through {@link Engine#setRandomSeed}) and the order of the
 * batches (through {@link SeededShuffleSampler}), so a run is reproducible on the same machine. A
 * step's time covers forward, backward, the optimizer update and reading the batch loss (which also
 * waits for an asynchronous device); fetching the batch and the evaluations are not timed. The test
 * set is evaluated at evenly spaced steps during training, and the model on the training set (or
 * the workload's fixed part of it, {@link WorkloadData#trainEvaluation}) and the test set at the
 * end.
 *
 * <p>For so4j's optimizers ({@link SecondOrderOptimizer}) the run also names the parameters as the
 * model names them ({@link SecondOrderOptimizer#nameParameters}), so that the optimizer's warnings
 * and health speak of {@code 01Linear_weight} rather than of an array id, and it counts the
 * optimizer's device-to-host reads over the timed steps (see {@link #timedHostReads}). After the
 * last step it takes the bytes of the optimizer's state ({@link OptimizerStateBytes}), for every
 * optimizer.
 */
public final class TrainingRun {

    /** Batches over which the training loss is averaged to decide that the target is reached. */
    public static final int TARGET_WINDOW = 20;

    /**
     * What to run.
     *
     * @param workload the model and loss
     * @param optimizer the optimizer's catalog entry
     * @param overrides the user's settings of the optimizer
     * @param steps the number of optimizer steps, at least 1
     * @param batchSize the batch size, at least 1
     * @param seed the seed
     * @param warmupSteps the first steps left out of the mean step time
     * @param evaluations how many test-set evaluations to make during training (0 for none)
     * @param targetLoss the training loss whose first crossing is reported
     */
    public record Plan(
            Workload workload,
            OptimizerCatalog.Entry optimizer,
            Map<String, String> overrides,
            int steps,
            int batchSize,
            long seed,
            int warmupSteps,
            int evaluations,
            double targetLoss) {

        /**
         * Checks the plan.
         *
         * @param workload the model and loss
         * @param optimizer the optimizer's catalog entry
         * @param overrides the user's settings of the optimizer
         * @param steps the number of optimizer steps, at least 1
         * @param batchSize the batch size, at least 1
         * @param seed the seed
         * @param warmupSteps the first steps left out of the mean step time, in [0, steps)
         * @param evaluations how many test-set evaluations to make during training, at least 0
         * @param targetLoss the training loss whose first crossing is reported
         * @throws IllegalArgumentException naming the setting and its value if one is invalid
         */
        public Plan {
            if (steps < 1) {
                throw new IllegalArgumentException("steps must be at least 1, but was " + steps);
            }
            if (batchSize < 1) {
                throw new IllegalArgumentException(
                        "batch size must be at least 1, but was " + batchSize);
            }
            if (warmupSteps < 0 || warmupSteps >= steps) {
                throw new IllegalArgumentException(
                        "warm-up steps must be in [0, steps), but was "
                                + warmupSteps
                                + " for "
                                + steps
                                + " steps");
            }
            if (evaluations < 0) {
                throw new IllegalArgumentException(
                        "evaluations must be at least 0, but was " + evaluations);
            }
        }

        /**
         * Returns the default number of warm-up steps for a run length: a fifth of the steps, at
         * most 20.
         *
         * @param steps the number of steps
         * @return the warm-up steps
         */
        public static int defaultWarmup(int steps) {
            return Math.min(20, steps / 5);
        }
    }

    /** Receives every step as it completes (for progress bars), and may end the run early. */
    public interface StepListener {

        /**
         * Called after each step.
         *
         * @param record the step
         */
        void onStep(RunResult.StepRecord record);

        /**
         * Asked after each step (and its evaluation, if one is due): whether the run ends there.
         * The result of a run that ends early counts the steps taken, not the plan's.
         *
         * @return true to end the run after the step last reported; the default never does
         */
        default boolean stop() {
            return false;
        }
    }

    private TrainingRun() {}

    /**
     * Trains the plan's workload and optimizer for its number of steps and throws the result away:
     * a warm-up of the JVM's compiler and of the engine's allocator, so that the measured runs that
     * follow in the same process time the steady state of every optimizer alike.
     *
     * @param plan what to run
     * @param train the training set
     * @param device the device to train on
     * @throws IOException if the data cannot be read
     * @throws TranslateException if batching fails
     */
    public static void warmUp(Plan plan, RandomAccessDataset train, Device device)
            throws IOException, TranslateException {
        run(plan, train, train, null, device, record -> {});
    }

    /**
     * Runs the plan; the final training loss is the one over the whole training set.
     *
     * @param plan what to run
     * @param train the training set (its own sampler is not used)
     * @param test the test set
     * @param device the device to train on
     * @param listener receives every step
     * @return the measurements
     * @throws IOException if the data cannot be read
     * @throws TranslateException if batching fails
     */
    public static RunResult execute(
            Plan plan,
            RandomAccessDataset train,
            RandomAccessDataset test,
            Device device,
            StepListener listener)
            throws IOException, TranslateException {
        return run(plan, train, train, test, device, listener);
    }

    /**
     * Runs the plan on a workload's data.
     *
     * @param plan what to run
     * @param data the data: batches from {@code train} (its own sampler is not used), the final
     *     training loss over {@code trainEvaluation}, the test loss and accuracy over {@code test}
     * @param device the device to train on
     * @param listener receives every step
     * @return the measurements
     * @throws IOException if the data cannot be read
     * @throws TranslateException if batching fails
     */
    public static RunResult execute(
            Plan plan, WorkloadData data, Device device, StepListener listener)
            throws IOException, TranslateException {
        return run(plan, data.train(), data.trainEvaluation(), data.test(), device, listener);
    }

    /** Trains; evaluates and returns the result unless {@code test} is null. */
    private static RunResult run(
            Plan plan,
            RandomAccessDataset train,
            RandomAccessDataset trainEvaluation,
            RandomAccessDataset test,
            Device device,
            StepListener listener)
            throws IOException, TranslateException {
        try (OpenRun run = new OpenRun(plan, train, trainEvaluation, test, device, listener)) {
            while (!run.done()) {
                run.step();
            }
            return run.finish();
        }
    }

    /**
     * Opens a run on a workload's data that advances one step at a time ({@link OpenRun#step}), so
     * that a comparison can interleave the steps of several runs.
     *
     * @param plan what to run
     * @param data the data, as for {@link #execute(Plan, WorkloadData, Device, StepListener)}
     * @param device the device to train on
     * @param listener receives every step
     * @return the open run, initialized and at step 0
     */
    static OpenRun open(Plan plan, WorkloadData data, Device device, StepListener listener) {
        return new OpenRun(
                plan, data.train(), data.trainEvaluation(), data.test(), device, listener);
    }

    /**
     * One run, a step at a time: the model, trainer and optimizer made and initialized from the
     * plan's seed when it opens; each {@link #step} trains one batch and times it (and evaluates,
     * untimed, when due); {@link #finish} measures the result.
     */
    static final class OpenRun implements AutoCloseable {

        private final Plan plan;
        private final RandomAccessDataset train;
        private final RandomAccessDataset trainEvaluation;
        private final RandomAccessDataset test;
        private final StepListener listener;
        private final OptimizerSettings settings;
        private final Optimizer optimizer;
        private final double learningRate;
        private final BatchLossListener batchLoss = new BatchLossListener();
        private final Model model;
        private final Trainer trainer;
        private final SecondOrderOptimizer so4j;
        private final BatchSampler sampler;
        private final int evaluateEvery;
        private final boolean classification;
        private final List<RunResult.StepRecord> curve;
        private final List<RunResult.EvaluationRecord> evaluations = new ArrayList<>();
        // before the first step the optimizer has made no read; health() is not asked then
        private OptimizerHealth.HostReadCount readsBefore = new OptimizerHealth.HostReadCount(0, 0);
        private Iterator<Batch> batches;
        private double seconds;
        private double timedSeconds;
        private int taken;
        private boolean stopped;

        OpenRun(
                Plan plan,
                RandomAccessDataset train,
                RandomAccessDataset trainEvaluation,
                RandomAccessDataset test,
                Device device,
                StepListener listener) {
            this.plan = plan;
            this.train = train;
            this.trainEvaluation = trainEvaluation;
            this.test = test;
            this.listener = listener;
            this.settings = plan.optimizer().settings(plan.workload(), plan.overrides());
            this.optimizer = plan.optimizer().create(plan.workload(), plan.overrides());
            this.learningRate = Double.parseDouble(settings.asMap().getOrDefault("lr", "NaN"));
            ProcessMemory.resetPeak();
            Engine.getInstance().setRandomSeed(Math.toIntExact(plan.seed()));
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(plan.workload().newLoss())
                            .optOptimizer(optimizer)
                            .optDevices(new Device[] {device})
                            .addTrainingListeners(batchLoss);
            this.curve = new ArrayList<>(plan.steps());
            this.classification = plan.workload().classification();
            this.model = Model.newInstance(plan.workload().id(), device);
            Trainer opened = null;
            try {
                model.setBlock(
                        plan.optimizer().strategy().prepare(plan.workload().newBlock(), optimizer));
                opened = model.newTrainer(config);
                opened.initialize(plan.workload().inputShape());
            } catch (RuntimeException e) {
                if (opened != null) {
                    opened.close();
                }
                model.close();
                throw e;
            }
            this.trainer = opened;
            this.so4j =
                    optimizer instanceof SecondOrderOptimizer o
                            ? o.nameParameters(model.getBlock())
                            : null;
            this.sampler =
                    new BatchSampler(
                            new SeededShuffleSampler(plan.seed()), plan.batchSize(), false);
            this.evaluateEvery =
                    plan.evaluations() == 0 ? 0 : Math.max(1, plan.steps() / plan.evaluations());
        }

        /** Whether every step of the plan has run, or the listener stopped the run. */
        boolean done() {
            return stopped || taken >= plan.steps();
        }

        /**
         * Trains the next batch, timed, and evaluates on the test set when due, untimed.
         *
         * @throws IOException if the data cannot be read
         * @throws TranslateException if batching fails
         */
        void step() throws IOException, TranslateException {
            int step = taken + 1;
            if (batches == null || !batches.hasNext()) {
                batches = train.getData(trainer.getManager(), sampler).iterator();
            }
            try (Batch batch = batches.next()) {
                if (so4j != null && plan.warmupSteps() > 0 && step == plan.warmupSteps() + 1) {
                    readsBefore = so4j.health().hostReads();
                }
                long start = System.nanoTime();
                double loss = plan.optimizer().strategy().step(trainer, batch, optimizer);
                double reported = batchLoss.take();
                if (Double.isNaN(loss)) {
                    loss = reported;
                }
                double elapsed = (System.nanoTime() - start) / 1e9;
                seconds += elapsed;
                if (step > plan.warmupSteps()) {
                    timedSeconds += elapsed;
                }
                RunResult.StepRecord record =
                        new RunResult.StepRecord(step, seconds, loss, learningRate);
                curve.add(record);
                listener.onStep(record);
            }
            if (test != null && evaluateEvery > 0 && step % evaluateEvery == 0) {
                Evaluation e = Evaluation.of(trainer, test, classification);
                evaluations.add(
                        new RunResult.EvaluationRecord(step, seconds, e.meanLoss(), e.accuracy()));
            }
            taken = step;
            if (listener.stop()) {
                stopped = true;
            }
        }

        /**
         * Measures the run after its last step: the optimizer's state bytes and host reads, the
         * target crossing, and the final losses on the training and test evaluation sets.
         *
         * @return the result, or null for a run without a test set (a warm-up)
         * @throws IOException if the data cannot be read
         * @throws TranslateException if batching fails
         */
        RunResult finish() throws IOException, TranslateException {
            // after the last step, so that state made at a parameter's first step or at the
            // first refresh counts
            long stateBytes = OptimizerStateBytes.of(optimizer, settings, model.getBlock());
            OptimizerHealth health = null;
            OptimizerHealth.HostReadCount hostReads = null;
            if (so4j != null) {
                OptimizerHealth after = so4j.health();
                health = so4j.health();
                hostReads = timedHostReads(readsBefore, after, health);
            }
            if (test == null) {
                return null;
            }
            int timedSteps = taken - plan.warmupSteps();
            TargetCrossing target = TargetCrossing.of(curve, plan.targetLoss(), TARGET_WINDOW);
            Evaluation onTrain = Evaluation.of(trainer, trainEvaluation, classification);
            Evaluation onTest = Evaluation.of(trainer, test, classification);
            return new RunResult(
                    plan.workload().id(),
                    plan.optimizer().name(),
                    settings.asMap().entrySet().stream()
                            .map(e -> e.getKey() + "=" + e.getValue())
                            .collect(Collectors.joining(",")),
                    taken,
                    plan.batchSize(),
                    plan.seed(),
                    onTrain.meanLoss(),
                    onTest.meanLoss(),
                    onTest.accuracy(),
                    timedSteps > 0 ? 1000 * timedSeconds / timedSteps : Double.NaN,
                    seconds,
                    ProcessMemory.peakRssMb(),
                    plan.targetLoss(),
                    target.step(),
                    target.seconds(),
                    health(health),
                    hostReads,
                    stateBytes,
                    curve,
                    evaluations);
        }

        /** Closes the trainer and the model. */
        @Override
        public void close() {
            trainer.close();
            model.close();
        }
    }

    /**
     * Returns the device-to-host reads an so4j optimizer made during the timed steps (the steps
     * after the run's warm-up steps), from three {@link SecondOrderOptimizer#health()} snapshots:
     * {@code before}, taken just before the first timed step (or zero when the first step is timed:
     * a new optimizer has made no read), and {@code after} and {@code again}, taken one after the
     * other just after the last step.
     *
     * <p>Counted: every read the optimizer counts while the timed steps run, that is inside its
     * updates ({@code reads}), and how many of those steps made at least one ({@code
     * stepsWithReads}). Not counted: the reads made by the {@code health()} calls themselves.
     * {@code before} already includes its own read; {@code after} includes its own read too, which
     * is removed as the difference between {@code again} and {@code after} (nothing but that second
     * {@code health()} call happens between them, and it costs what the first one did). Like any
     * {@code health()} call, {@code before} reads the optimizer's step counters, so the optimizer's
     * own periodic check of them (every {@code maxConsecutiveSkips} steps) restarts its period
     * there: over the window that can make one read fewer than a run that does not ask.
     *
     * @param before the snapshot before the first timed step
     * @param after the snapshot after the last step
     * @param again a second snapshot right after {@code after}
     * @return the reads and the steps with reads of the timed steps
     */
    static OptimizerHealth.HostReadCount timedHostReads(
            OptimizerHealth.HostReadCount before, OptimizerHealth after, OptimizerHealth again) {
        long healthReads = again.hostReads().reads() - after.hostReads().reads();
        return new OptimizerHealth.HostReadCount(
                after.hostReads().reads() - healthReads - before.reads(),
                after.hostReads().stepsWithReads() - before.stepsWithReads());
    }

    private static Map<String, Object> health(OptimizerHealth h) {
        Map<String, Object> map = new LinkedHashMap<>();
        if (h != null) {
            map.put("steps", h.steps());
            map.put("skipped_steps", h.skippedSteps());
            map.put("non_finite_gradient_steps", h.nonFiniteGradientSteps());
            map.put("rejected_statistics_steps", h.rejectedStatisticsSteps());
            map.put("restarts", h.restarts());
            map.put("last_problem", h.lastProblem());
            map.putAll(h.curvature());
        }
        return map;
    }
}
