package io.github.so4j.bench.optimizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.so4j.bench.workload.Workload;
import io.github.so4j.curvature.kfac.InversionMode;
import io.github.so4j.optimizers.DctAdam;
import io.github.so4j.optimizers.GaLore;
import io.github.so4j.optimizers.Kfac;
import io.github.so4j.optimizers.MFac;
import io.github.so4j.optimizers.Muon;
import io.github.so4j.optimizers.OnlineSubspaceDescent;
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
                        "dct-adam",
                        "galore",
                        "osd",
                        "subspace-newton",
                        "smb"),
                catalog.names());
        assertInstanceOf(MFac.class, catalog.get("mfac").create(Workload.MLP, Map.of()));
        assertInstanceOf(Kfac.class, catalog.get("kfac").create(Workload.MLP, Map.of()));
        assertInstanceOf(Shampoo.class, catalog.get("shampoo").create(Workload.MLP, Map.of()));
        assertInstanceOf(Muon.class, catalog.get("muon").create(Workload.MLP, Map.of()));
        assertInstanceOf(Soap.class, catalog.get("soap").create(Workload.MLP, Map.of()));
        assertInstanceOf(DctAdam.class, catalog.get("dct-adam").create(Workload.MLP, Map.of()));
        assertInstanceOf(GaLore.class, catalog.get("galore").create(Workload.MLP, Map.of()));
        assertInstanceOf(
                OnlineSubspaceDescent.class, catalog.get("osd").create(Workload.MLP, Map.of()));
        assertInstanceOf(
                SubspaceNewton.class,
                catalog.get("subspace-newton").create(Workload.MLP, Map.of()));
        assertInstanceOf(Smb.class, catalog.get("smb").create(Workload.MLP, Map.of()));
    }

    @Test
    void kfacFactorRankReachesTheBuilder() {
        Kfac exact = (Kfac) catalog.get("kfac").create(Workload.MLP, Map.of());
        assertEquals(InversionMode.INVERSE, exact.getKroneckerSettings().inversion());
        Kfac lowRank = (Kfac) catalog.get("kfac").create(Workload.MLP, Map.of("factor_rank", "16"));
        assertEquals(InversionMode.LOW_RANK, lowRank.getKroneckerSettings().inversion());
        assertEquals(16, lowRank.getKroneckerSettings().factorRank());
        IllegalArgumentException negative =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                catalog.get("kfac")
                                        .create(Workload.MLP, Map.of("factor_rank", "-1")));
        assertEquals("factorRank must be at least 1, but was -1", negative.getMessage());
        IllegalArgumentException eigen =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                catalog.get("kfac")
                                        .create(
                                                Workload.MLP,
                                                Map.of("factor_rank", "8", "inversion", "eigen")));
        assertEquals(
                "kfac.factor_rank 8 needs kfac.inversion inverse or low_rank, but was eigen",
                eigen.getMessage());
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
        IllegalArgumentException flag =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                catalog.get("dct-adam")
                                        .create(Workload.MLP, Map.of("rotate_moments", "yes")));
        assertEquals(
                "dct-adam.rotate_moments must be true or false, but was 'yes'", flag.getMessage());
    }

    /**
     * The low-rank methods' settings reach the optimizers: rank, period, scale, the subspace
     * iteration and GaLore's cross-head projection, DCT-Adam's moment rotation; the mlp defaults
     * (DCT-Adam's rate 0.01 with scale 0.25 and the l2 selection norm, GaLore's rate 0.0075) apply
     * to the mlp workload only.
     */
    @Test
    void theLowRankSettingsReachTheOptimizers() {
        GaLore galore =
                (GaLore)
                        catalog.get("galore")
                                .create(
                                        Workload.MLP,
                                        Map.of(
                                                "rank", "16",
                                                "update_period", "50",
                                                "scale", "0.5",
                                                "power_iterations", "1",
                                                "oversampling", "4",
                                                "cross_heads", "4"));
        assertEquals(16, galore.getRank());
        assertEquals(50, galore.getUpdatePeriod());
        assertEquals(0.5f, galore.getScale());
        assertEquals(1, galore.getIteration().powerIterations());
        assertEquals(4, galore.getIteration().oversampling());
        assertEquals(4, galore.getHeads());
        DctAdam dct =
                (DctAdam)
                        catalog.get("dct-adam")
                                .create(Workload.MLP, Map.of("rotate_moments", "true"));
        assertEquals(true, dct.isRotateMoments());
        DctAdam mlp = (DctAdam) catalog.get("dct-adam").create(Workload.MLP, Map.of());
        assertEquals(0.01f, mlp.getLearningRateTracker().getNewValue("", 1));
        assertEquals(0.25f, mlp.getScale());
        assertEquals(2, mlp.getSelectionNorm());
        GaLore mlpGalore = (GaLore) catalog.get("galore").create(Workload.MLP, Map.of());
        assertEquals(0.0075f, mlpGalore.getLearningRateTracker().getNewValue("", 1));
        DctAdam cnn = (DctAdam) catalog.get("dct-adam").create(Workload.CNN, Map.of());
        assertEquals(0.001f, cnn.getLearningRateTracker().getNewValue("", 1));
        assertEquals(1f, cnn.getScale());
        assertEquals(1, cnn.getSelectionNorm());
        OnlineSubspaceDescent osd =
                (OnlineSubspaceDescent)
                        catalog.get("osd").create(Workload.MLP, Map.of("update_period", "100"));
        assertEquals(100, osd.getUpdatePeriod());
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

    @Test
    void smbScheduleSettingsReachTheBuilder() {
        // each setting is checked by Smb.Builder.build(): an invalid value proves it arrived
        Map<String, String> invalid =
                Map.of(
                        "window", "scheduleWindow must be at least 1, but was 0",
                        "gamma", "scheduleGamma must be in [0, 1], but was -1.0",
                        "beta", "scheduleBeta must be in (0, 1), but was 1.0",
                        "lr_max", "maxLearningRate must be positive and finite, but was 0.0");
        Map<String, String> values =
                Map.of("window", "0", "gamma", "-1", "beta", "1", "lr_max", "0");
        for (Map.Entry<String, String> e : invalid.entrySet()) {
            IllegalArgumentException thrown =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    catalog.get("smb")
                                            .create(
                                                    Workload.MLP,
                                                    Map.of(
                                                            "autoschedule",
                                                            "true",
                                                            e.getKey(),
                                                            values.get(e.getKey()))));
            assertEquals(e.getValue(), thrown.getMessage(), e.getKey());
        }
        assertInstanceOf(
                Smb.class,
                catalog.get("smb")
                        .create(
                                Workload.MLP,
                                Map.of("autoschedule", "true", "window", "25", "gamma", "0.5")));
    }
}
