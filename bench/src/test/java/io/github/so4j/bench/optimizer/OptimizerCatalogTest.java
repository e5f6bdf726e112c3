package io.github.so4j.bench.optimizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.so4j.bench.workload.Workload;
import io.github.so4j.optimizers.Kfac;
import io.github.so4j.optimizers.MFac;
import io.github.so4j.optimizers.Muon;
import io.github.so4j.optimizers.Shampoo;
import io.github.so4j.optimizers.Smb;
import io.github.so4j.optimizers.Soap;
import io.github.so4j.optimizers.SubspaceNewton;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OptimizerCatalogTest {

    private final OptimizerCatalog catalog = new OptimizerCatalog();

    @Test
    void everySo4jOptimizerIsRegisteredAndBuildsWithItsDefaults() {
        assertEquals(
                List.of(
                        "sgd",
                        "adam",
                        "adamw",
                        "mfac",
                        "kfac",
                        "shampoo",
                        "muon",
                        "soap",
                        "subspace-newton",
                        "smb"),
                catalog.names());
        assertInstanceOf(MFac.class, catalog.get("mfac").create(Workload.MLP, Map.of()));
        assertInstanceOf(Kfac.class, catalog.get("kfac").create(Workload.MLP, Map.of()));
        assertInstanceOf(Shampoo.class, catalog.get("shampoo").create(Workload.MLP, Map.of()));
        assertInstanceOf(Muon.class, catalog.get("muon").create(Workload.MLP, Map.of()));
        assertInstanceOf(Soap.class, catalog.get("soap").create(Workload.MLP, Map.of()));
        assertInstanceOf(
                SubspaceNewton.class,
                catalog.get("subspace-newton").create(Workload.MLP, Map.of()));
        assertInstanceOf(Smb.class, catalog.get("smb").create(Workload.MLP, Map.of()));
    }

    @Test
    void anEnumSettingOutsideItsValuesNamesTheAllowedOnes() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                catalog.get("shampoo")
                                        .create(Workload.MLP, Map.of("grafting", "rmsprop")));
        assertEquals(
                "shampoo.grafting must be one of adam, adagrad, sgd, none, but was 'rmsprop'",
                e.getMessage());
        IllegalArgumentException scope =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> catalog.get("mfac").create(Workload.MLP, Map.of("scope", "layer")));
        assertEquals(
                "mfac.scope must be one of global, per_parameter, but was 'layer'",
                scope.getMessage());
    }

    @Test
    void aTrueOrFalseSettingNamesItselfAndTheValue() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                catalog.get("smb")
                                        .create(Workload.MLP, Map.of("autoschedule", "yes")));
        assertEquals("smb.autoschedule must be true or false, but was 'yes'", e.getMessage());
        assertInstanceOf(
                Smb.class, catalog.get("smb").create(Workload.MLP, Map.of("autoschedule", "TRUE")));
    }
}
