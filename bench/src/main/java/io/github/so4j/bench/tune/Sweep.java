package io.github.so4j.bench.tune;

import ai.djl.Device;
import ai.djl.translate.TranslateException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.github.so4j.bench.compare.RunResult;
import io.github.so4j.bench.compare.TrainingRun;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.bench.workload.WorkloadData;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Runs the sweeps of several optimizers on one workload, batch size and budget: every point of each
 * {@link Grid} with every seed, one {@link TrainingRun} each (no evaluation during training, no
 * warm-up), and scores the points.
 *
 * <p><b>Resuming.</b> Each finished run is written at once to {@code <out>/<optimizer>/<point>
 * .seed<s>.json} ({@link Trial}); a run whose file is present is read, not run again, so a sweep
 * that was stopped continues where it was. {@code <out>/sweep.json} records the workload, batch,
 * budget, target and whether runs stop at the target; a sweep into a folder that holds another is
 * refused rather than mixed with it.
 *
 * <p><b>Stopping early.</b> A run stops at its first non-finite batch loss (it diverged), and with
 * {@link Setup#stopAtTarget} as soon as it reaches the target (the mean loss of the last 20 batches
 * at most the target, as {@link TrainingRun} counts it), which is all the batch-size study needs.
 * Cost: the sum over points and seeds of one training run each.
 */
public final class Sweep {

    private static final ObjectMapper JSON =
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * What every run of the sweep shares.
     *
     * @param workload the workload
     * @param batchSize the batch size
     * @param steps the budget in steps
     * @param targetLoss the target training loss
     * @param seed the first seed
     * @param seeds how many seeds, at least 1
     * @param stopAtTarget whether a run stops when it reaches the target
     * @param out the folder of the trial files
     */
    public record Setup(
            Workload workload,
            int batchSize,
            int steps,
            double targetLoss,
            long seed,
            int seeds,
            boolean stopAtTarget,
            Path out) {

        /**
         * Checks the setup.
         *
         * @param workload the workload
         * @param batchSize the batch size, at least 1
         * @param steps the budget in steps, at least 1
         * @param targetLoss the target training loss, finite
         * @param seed the first seed
         * @param seeds how many seeds, at least 1
         * @param stopAtTarget whether a run stops when it reaches the target
         * @param out the folder of the trial files
         * @throws IllegalArgumentException naming the parameter and value if one is invalid
         */
        public Setup {
            if (batchSize < 1) {
                throw new IllegalArgumentException(
                        "batch size must be at least 1, but was " + batchSize);
            }
            if (steps < 1) {
                throw new IllegalArgumentException("steps must be at least 1, but was " + steps);
            }
            if (!Double.isFinite(targetLoss)) {
                throw new IllegalArgumentException(
                        "target loss must be finite, but was " + targetLoss);
            }
            if (seeds < 1) {
                throw new IllegalArgumentException("seeds must be at least 1, but was " + seeds);
            }
        }
    }

    /** The runs actually made (not read back from files) by the last {@link #run}, for tests. */
    private int executed;

    private final Setup setup;

    /**
     * Creates a sweep.
     *
     * @param setup what every run shares
     */
    public Sweep(Setup setup) {
        this.setup = setup;
    }

    /**
     * Runs (or reads back) every point and seed of the grids and scores the points.
     *
     * @param grids the optimizers' grids
     * @param data the workload's data, batched at the setup's batch size
     * @param device the device
     * @param progress where a line per run goes, or null for none
     * @return per optimizer name, the scores of its points in grid order
     * @throws IOException if files cannot be read or written, or the folder holds another sweep
     * @throws TranslateException if batching fails
     */
    public Map<String, List<Score>> run(
            List<Grid> grids, WorkloadData data, Device device, PrintWriter progress)
            throws IOException, TranslateException {
        checkFolder();
        executed = 0;
        int total = 0;
        for (Grid grid : grids) {
            total += grid.points().size() * setup.seeds();
        }
        int done = 0;
        Map<String, List<Score>> scores = new LinkedHashMap<>();
        for (Grid grid : grids) {
            List<Score> points = new ArrayList<>();
            for (Map<String, String> point : grid.points()) {
                List<Trial> trials = new ArrayList<>();
                for (long s = setup.seed(); s < setup.seed() + setup.seeds(); s++) {
                    Path file = trialFile(grid.optimizer().name(), point, s);
                    boolean resumed = Files.isRegularFile(file);
                    Trial trial;
                    if (resumed) {
                        trial = Trial.read(file);
                    } else {
                        trial = runOne(grid, point, s, data, device);
                        trial.write(file);
                        executed++;
                    }
                    trials.add(trial);
                    done++;
                    if (progress != null) {
                        progress.println(progressLine(done, total, trial, resumed));
                        progress.flush();
                    }
                }
                points.add(new Score(grid.optimizer().name(), point, trials));
            }
            scores.put(grid.optimizer().name(), points);
        }
        return scores;
    }

    /**
     * Returns how many runs the last {@link #run} made rather than read back.
     *
     * @return the count
     */
    public int executed() {
        return executed;
    }

    /**
     * Returns the file of one run's trial.
     *
     * @param optimizer the optimizer's name
     * @param point the point's settings
     * @param seed the seed
     * @return {@code <out>/<optimizer>/<key=value,...>.seed<seed>.json}
     */
    public Path trialFile(String optimizer, Map<String, String> point, long seed) {
        return setup.out().resolve(optimizer).resolve(pointName(point) + ".seed" + seed + ".json");
    }

    /**
     * Names a point as its settings, such as {@code lr=0.01,damping=0.1}.
     *
     * @param point the point's settings
     * @return the name
     */
    public static String pointName(Map<String, String> point) {
        return point.entrySet().stream()
                .map(e -> e.getKey() + "=" + e.getValue())
                .collect(Collectors.joining(","));
    }

    private Trial runOne(
            Grid grid, Map<String, String> point, long seed, WorkloadData data, Device device)
            throws IOException, TranslateException {
        TrainingRun.Plan plan =
                new TrainingRun.Plan(
                        setup.workload(),
                        grid.optimizer(),
                        point,
                        setup.steps(),
                        setup.batchSize(),
                        seed,
                        0,
                        0,
                        setup.targetLoss());
        Stopper stopper = new Stopper(setup.targetLoss(), setup.stopAtTarget());
        RunResult result = TrainingRun.execute(plan, data, device, stopper);
        return Trial.of(point, result, stopper.nonFinite);
    }

    private String progressLine(int done, int total, Trial trial, boolean resumed) {
        String outcome;
        if (trial.diverged()) {
            outcome = "diverged";
        } else if (trial.reached()) {
            outcome =
                    String.format(
                            Locale.ROOT,
                            "target at step %d (%.1f s)",
                            trial.stepsToTarget(),
                            trial.secondsToTarget());
        } else {
            outcome = "target not reached";
        }
        return String.format(
                Locale.ROOT,
                "[%"
                        + Integer.toString(total).length()
                        + "d/%d] %s %s seed %d: %d steps, final"
                        + " loss %.4f, %s%s",
                done,
                total,
                trial.optimizer(),
                pointName(trial.settings()),
                trial.seed(),
                trial.steps(),
                trial.finalTrainLoss(),
                outcome,
                resumed ? " (done before)" : "");
    }

    /** Writes sweep.json, or checks that the folder's sweep is this one. */
    private void checkFolder() throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        header.put("workload", setup.workload().id());
        header.put("batch", setup.batchSize());
        header.put("steps", setup.steps());
        header.put("target_loss", setup.targetLoss());
        header.put("stop_at_target", setup.stopAtTarget());
        Path file = setup.out().resolve("sweep.json");
        Files.createDirectories(setup.out());
        JsonNode wanted = JSON.valueToTree(header);
        if (Files.isRegularFile(file)) {
            JsonNode present = JSON.readTree(file.toFile());
            if (!present.equals(wanted)) {
                throw new IllegalArgumentException(
                        setup.out()
                                + " holds another sweep ("
                                + present
                                + "), not "
                                + wanted
                                + "; give another output folder");
            }
            return;
        }
        JSON.writeValue(file.toFile(), header);
    }

    /** Ends a run at a non-finite batch loss, and at the target when asked. */
    private static final class Stopper implements TrainingRun.StepListener {
        private final double target;
        private final boolean atTarget;
        private final Deque<Double> recent = new ArrayDeque<>();
        private double sum;
        private boolean nonFinite;
        private boolean reached;

        Stopper(double target, boolean atTarget) {
            this.target = target;
            this.atTarget = atTarget;
        }

        @Override
        public void onStep(RunResult.StepRecord record) {
            double loss = record.trainLoss();
            if (!Double.isFinite(loss)) {
                nonFinite = true;
                return;
            }
            recent.addLast(loss);
            sum += loss;
            if (recent.size() > TrainingRun.TARGET_WINDOW) {
                sum -= recent.removeFirst();
            }
            reached |=
                    recent.size() == TrainingRun.TARGET_WINDOW
                            && sum / TrainingRun.TARGET_WINDOW <= target;
        }

        @Override
        public boolean stop() {
            return nonFinite || (atTarget && reached);
        }
    }
}
