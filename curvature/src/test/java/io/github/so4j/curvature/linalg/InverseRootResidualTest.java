package io.github.so4j.curvature.linalg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.testing.LiveArrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link InverseRootResidual} on diagonal matrices, where every quantity is exact by hand. */
class InverseRootResidualTest {

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private NDArray diagonal(double... values) {
        int n = values.length;
        double[] matrix = new double[n * n];
        for (int i = 0; i < n; i++) {
            matrix[i * n + i] = values[i];
        }
        return manager.create(matrix).reshape(n, n);
    }

    @Test
    void exactRootHasZeroResidual() {
        // A = diag(1, 4, 9, 16), p = 2, eps = 0: X = diag(1, 1/2, 1/3, 1/4); every product is
        // exact except 1/3 * 1/3 * 9, which is within two roundings of 1
        double r =
                InverseRootResidual.of(
                        diagonal(1, 4, 9, 16), diagonal(1, 0.5, 1.0 / 3, 0.25), 2, 0);
        assertTrue(r <= 2 * 0x1.0p-53 / 2, "residual " + r);
    }

    @Test
    void identityAsRootGivesTheSpectrumsDistanceFromOne() {
        // X = I: X^p (A + eps I) - I = diag(lambda + eps - 1); (0, 3, 8, 15) with eps = 0
        double r = InverseRootResidual.of(diagonal(1, 4, 9, 16), diagonal(1, 1, 1, 1), 3, 0);
        assertEquals(Math.sqrt((0 + 9 + 64 + 225) / 4.0), r, 1e-15 * r);
        // the ridge enters: eps = 1 gives diag(1, 4, 9, 16)
        double ridged = InverseRootResidual.of(diagonal(1, 4, 9, 16), diagonal(1, 1, 1, 1), 3, 1);
        assertEquals(Math.sqrt((1 + 16 + 81 + 256) / 4.0), ridged, 1e-15 * ridged);
    }

    @Test
    void batchHasOneResidualPerMatrixAndAcceptsFloat32() {
        NDArray a = diagonal(4, 16).expandDims(0).repeat(0, 2).toType(DataType.FLOAT32, false);
        NDArray x = manager.create(new float[] {0.5f, 0, 0, 0.25f, 1, 0, 0, 1}).reshape(2, 2, 2);
        long before = HostReads.count();
        double[] r = InverseRootResidual.perMatrix(a, x, 2, new double[] {0, 0});
        assertEquals(1, HostReads.count() - before, "one counted read for the batch");
        assertArrayEquals(new double[] {0, Math.sqrt((9 + 225) / 2.0)}, r, 1e-12);
    }

    @Test
    void nonFiniteRootGivesNan() {
        double r =
                InverseRootResidual.of(diagonal(1, 1), diagonal(Double.POSITIVE_INFINITY, 1), 2, 0);
        assertTrue(Double.isNaN(r));
    }

    @Test
    void leavesNoArraysBehindAndChecksArguments() {
        NDArray a = diagonal(1, 2);
        int before = LiveArrays.count(manager);
        InverseRootResidual.of(a, a, 2, 0);
        assertEquals(before, LiveArrays.count(manager));
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> InverseRootResidual.of(a, a, 0, 0));
        assertEquals("p must be at least 1, but was 0", e.getMessage());
    }
}
