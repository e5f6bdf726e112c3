package io.github.so4j.bench.tune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.workload.Workload;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TunedSettingsTest {

    @TempDir Path out;

    private static TunedSettings sample() {
        Map<String, String> set = new LinkedHashMap<>();
        set.put("adam.lr", "0.002");
        set.put("kfac.lr", "0.05");
        set.put("kfac.damping", "0.1");
        Map<String, Object> measured = new LinkedHashMap<>();
        measured.put("steps_to_target", 120.0);
        measured.put("seconds_to_target", null);
        return new TunedSettings("mlp", 128, 469, 0.45, 2, "steps", set, Map.of("adam", measured));
    }

    @Test
    void theFileRoundTrips() throws Exception {
        TunedSettings tuned = sample();
        Path file = out.resolve("sub/tuned.json");
        tuned.write(file);
        TunedSettings back = TunedSettings.read(file);
        assertEquals(tuned, back);
        // the order of the settings is kept
        assertEquals(
                List.of("adam.lr", "kfac.lr", "kfac.damping"),
                new ArrayList<>(back.set().keySet()));
        assertTrue(Files.readString(file).contains("\"adam.lr\" : \"0.002\""));
    }

    @Test
    void settingsGroupByOptimizerAndTheCommandLineWins() {
        TunedSettings tuned = sample();
        assertEquals(
                Map.of(
                        "adam",
                        Map.of("lr", "0.002"),
                        "kfac",
                        Map.of("lr", "0.05", "damping", "0.1")),
                tuned.byOptimizer());
        Map<String, String> merged = tuned.under(Map.of("adam.lr", "0.01", "sgd.lr", "0.1"));
        assertEquals("0.01", merged.get("adam.lr"));
        assertEquals("0.05", merged.get("kfac.lr"));
        assertEquals("0.1", merged.get("sgd.lr"));
    }

    @Test
    void badFilesAreRefusedWithTheReason() throws Exception {
        Path file = out.resolve("tuned.json");
        sample().write(file);
        IllegalArgumentException other =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> TunedSettings.read(file, Workload.CNN));
        assertTrue(
                other.getMessage().endsWith("holds settings tuned on mlp, not on cnn"),
                other.getMessage());
        Files.writeString(
                file,
                "{\"workload\": \"mlp\", \"batch\": 128, \"steps\": 1, \"target_loss\": 1,"
                        + " \"set\": {\"lr\": \"0.1\"}}");
        assertTrue(
                assertThrows(IllegalArgumentException.class, () -> TunedSettings.read(file))
                        .getMessage()
                        .contains("OPTIMIZER.KEY"));
        Files.writeString(file, "{\"workload\": \"mlp\"}");
        assertTrue(
                assertThrows(IllegalArgumentException.class, () -> TunedSettings.read(file))
                        .getMessage()
                        .contains("has no 'batch'"));
        Files.writeString(file, "[1");
        assertTrue(
                assertThrows(IllegalArgumentException.class, () -> TunedSettings.read(file))
                        .getMessage()
                        .contains("is not valid JSON"));
    }

    @Test
    void theBundledMlpSettingsCoverTheDefaultListAndBuild() throws Exception {
        TunedSettings mlp = TunedSettings.bundled(Workload.MLP).orElseThrow();
        assertEquals("mlp", mlp.workload());
        assertEquals(128, mlp.batch());
        assertEquals(469, mlp.steps());
        OptimizerCatalog catalog = new OptimizerCatalog();
        Map<String, Map<String, String>> byOptimizer = mlp.byOptimizer();
        for (String name : catalog.names()) {
            if (Workload.MLP.defaultExclusions().containsKey(name)) {
                continue;
            }
            assertTrue(byOptimizer.containsKey(name), name + " is not tuned");
            assertTrue(byOptimizer.get(name).containsKey("lr"), name + " has no tuned lr");
            catalog.get(name)
                    .tuningKnob()
                    .ifPresent(
                            knob ->
                                    assertTrue(
                                            byOptimizer.get(name).containsKey(knob),
                                            name + "." + knob));
            // every tuned value is one the catalog accepts
            catalog.get(name).create(Workload.MLP, byOptimizer.get(name));
        }
        assertTrue(TunedSettings.bundled(Workload.AUTOENCODER).isEmpty());
    }
}
