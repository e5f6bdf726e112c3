package io.github.so4j.it;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.compare.RunResult;
import io.github.so4j.bench.compare.TrainingRun;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.optimizer.TrainingStrategy;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.optimizers.Grafting;
import io.github.so4j.optimizers.Shampoo;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A by-hand sweep of Shampoo's settings on the harness's one-epoch mlp run (469 steps of batch 128,
 * seed 0, the whole training and test sets), the evidence behind the defaults in docs/shampoo.md.
 * Not part of the default suite (tag {@code sweep}); run it with
 *
 * <pre>
 * mvn -B -o verify -pl integration-tests -am -Dso4j.groups=sweep -Dso4j.excludedGroups=gpu \
 *   -Dtest=ShampooSettingsSweepTest -Dsurefire.failIfNoSpecifiedTests=false \
 *   -Dso4j.shampoo.specs="adam,lr=0.002;shampoo,lr=0.002,F=50,B=64"
 * </pre>
 *
 * <p>Each spec is a name ({@code adam} or {@code shampoo}) and settings: lr, F
 * (preconditionFrequency), B (maxPreconditionerDim), eps, beta2, graft, roots (both sides), host
 * (hostRootMaxDim). One line per spec goes to standard output. The ms per step of a shared machine
 * are noise; only the losses and accuracies are evidence.
 */
@Tag("sweep")
class ShampooSettingsSweepTest {

    private static final String DEFAULT_SPECS = "adam,lr=0.002;shampoo,lr=0.002,F=50,B=64";

    /** Runs every spec and reports the harness's numbers for it. */
    @Test
    void oneEpochOfTheMlpWorkload() throws IOException, TranslateException {
        String specs = System.getProperty("so4j.shampoo.specs", DEFAULT_SPECS);
        try (NDManager manager = NDManager.newBaseManager()) {
            FashionMnistDataset train =
                    FashionMnistDataset.builder()
                            .setManager(manager)
                            .optUsage(Dataset.Usage.TRAIN)
                            .setSampling(128, true)
                            .build();
            train.prepare();
            FashionMnistDataset test =
                    FashionMnistDataset.builder()
                            .setManager(manager)
                            .optUsage(Dataset.Usage.TEST)
                            .setSampling(1000, false)
                            .build();
            test.prepare();
            for (String spec : specs.split(";")) {
                String[] parts = spec.split(",");
                Map<String, String> settings = new LinkedHashMap<>();
                for (int i = 1; i < parts.length; i++) {
                    String[] pair = parts[i].split("=");
                    settings.put(pair[0], pair[1]);
                }
                OptimizerCatalog.Entry entry =
                        new OptimizerCatalog.Entry(
                                parts[0],
                                spec,
                                Map.of(),
                                Map.of(),
                                s -> optimizer(parts[0], settings),
                                TrainingStrategy.EASY_TRAIN);
                TrainingRun.Plan plan =
                        new TrainingRun.Plan(
                                Workload.MLP, entry, Map.of(), 469, 128, 0, 20, 0, 0.33);
                RunResult r = TrainingRun.execute(plan, train, test, Device.cpu(), step -> {});
                System.out.printf(
                        "%-50s train=%.4f test=%.4f acc=%.2f%% ms/step=%.1f%n",
                        spec,
                        r.finalTrainLoss(),
                        r.testLoss(),
                        100 * r.testAccuracy(),
                        r.msPerStep());
                assertTrue(Double.isFinite(r.finalTrainLoss()), spec);
            }
        }
    }

    private static Optimizer optimizer(String name, Map<String, String> s) {
        float lr = Float.parseFloat(s.getOrDefault("lr", "0.001"));
        if (name.equals("adam")) {
            return Optimizer.adam().optLearningRateTracker(Tracker.fixed(lr)).build();
        }
        Shampoo.Builder b = Shampoo.builder().optLearningRate(lr);
        if (s.containsKey("F")) {
            b.optPreconditionFrequency(Integer.parseInt(s.get("F")));
        }
        if (s.containsKey("B")) {
            b.optMaxPreconditionerDim(Integer.parseInt(s.get("B")));
        }
        if (s.containsKey("eps")) {
            b.optEpsilon(Double.parseDouble(s.get("eps")));
        }
        if (s.containsKey("beta2")) {
            b.optBeta2(Double.parseDouble(s.get("beta2")));
        }
        if (s.containsKey("graft")) {
            b.optGrafting(Grafting.valueOf(s.get("graft")));
        }
        if (s.containsKey("roots")) {
            int p = Integer.parseInt(s.get("roots"));
            b.optInverseRoots(p, p);
        }
        if (s.containsKey("host")) {
            b.optHostRootMaxDim(Integer.parseInt(s.get("host")));
        }
        return b.build();
    }
}
