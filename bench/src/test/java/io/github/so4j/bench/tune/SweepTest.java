package io.github.so4j.bench.tune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import io.github.so4j.bench.compare.RunResult;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.bench.workload.WorkloadData;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SweepTest {

    @TempDir Path out;

    private static List<Grid> sgdGrid() {
        return List.of(
                Grid.around(
                        new OptimizerCatalog().get("sgd"),
                        Workload.MLP,
                        new Grid.Layout(2, 2, 1, 10, 1)));
    }

    @Test
    void aFinishedPointIsReadBackNotRunAgain() throws Exception {
        Sweep.Setup setup = new Sweep.Setup(Workload.MLP, 64, 3, 0.45, 0, 1, false, out);
        Sweep sweep = new Sweep(setup);
        StringWriter log = new StringWriter();
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            WorkloadData data = Workload.MLP.load(manager, null, 512, 64);
            Map<String, List<Score>> first =
                    sweep.run(sgdGrid(), data, Device.cpu(), new PrintWriter(log));
            assertEquals(2, sweep.executed());
            Path lr005 = sweep.trialFile("sgd", Map.of("lr", "0.05"), 0);
            assertTrue(Files.isRegularFile(lr005), lr005.toString());
            assertTrue(
                    log.toString().contains("[1/2] sgd lr=0.05 seed 0: 3 steps"), log.toString());

            // the same sweep again: both read back, the same numbers
            Map<String, List<Score>> again =
                    sweep.run(sgdGrid(), data, Device.cpu(), new PrintWriter(log));
            assertEquals(0, sweep.executed());
            assertEquals(first.get("sgd").get(0).trials(), again.get("sgd").get(0).trials());
            assertTrue(log.toString().contains("(done before)"), log.toString());

            // a point whose file is gone is run again, the other is not
            Files.delete(lr005);
            sweep.run(sgdGrid(), data, Device.cpu(), null);
            assertEquals(1, sweep.executed());
            assertTrue(Files.isRegularFile(lr005));

            // another sweep into the same folder is refused rather than mixed in
            Sweep other = new Sweep(new Sweep.Setup(Workload.MLP, 32, 3, 0.45, 0, 1, false, out));
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> other.run(sgdGrid(), data, Device.cpu(), null));
            assertTrue(e.getMessage().contains("holds another sweep"), e.getMessage());
        }
    }

    @Test
    void runsStopAtTheTargetWhenAsked() throws Exception {
        // a target above any loss is reached once the 20-batch window is full: step 20
        Sweep sweep = new Sweep(new Sweep.Setup(Workload.MLP, 64, 50, 100, 0, 1, true, out));
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            WorkloadData data = Workload.MLP.load(manager, null, 512, 64);
            Trial trial =
                    sweep.run(sgdGrid(), data, Device.cpu(), null)
                            .get("sgd")
                            .get(0)
                            .trials()
                            .get(0);
            assertEquals(20, trial.stepsToTarget());
            assertEquals(20, trial.steps(), "stopped at the target, not after 50 steps");
            assertFalse(trial.diverged());
        }
    }

    @Test
    void aTrialDivergesOnANonFiniteLossOrAFinalLossAboveTheFirst() throws Exception {
        Trial trial = Trial.of(Map.of("lr", "1"), result(2.3, 2.5), false);
        assertTrue(trial.diverged(), "ended above the first batch's loss");
        assertFalse(Trial.of(Map.of("lr", "1"), result(2.3, 0.5), false).diverged());
        assertTrue(Trial.of(Map.of("lr", "1"), result(2.3, Double.NaN), false).diverged());
        assertTrue(Trial.of(Map.of("lr", "1"), result(2.3, 0.5), true).diverged());

        Path file = out.resolve("t.json");
        trial.write(file);
        assertEquals(trial, Trial.read(file));
        Trial notReached = Trial.of(Map.of("lr", "1"), result(2.3, Double.NaN), true);
        notReached.write(file);
        Trial back = Trial.read(file);
        assertEquals(-1, back.stepsToTarget());
        assertTrue(Double.isNaN(back.finalTrainLoss()) && back.diverged());
    }

    private static RunResult result(double first, double last) {
        return new RunResult(
                "mlp",
                "sgd",
                "lr=1",
                2,
                64,
                0,
                last,
                last,
                0.5,
                1,
                0.01,
                100,
                0.45,
                -1,
                Double.NaN,
                Map.of(),
                null,
                0,
                List.of(
                        new RunResult.StepRecord(1, 0.005, first, 1),
                        new RunResult.StepRecord(2, 0.01, first, 1)),
                List.of());
    }
}
