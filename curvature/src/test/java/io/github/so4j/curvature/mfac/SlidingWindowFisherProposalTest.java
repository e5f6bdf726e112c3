package io.github.so4j.curvature.mfac;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.testing.Dense;
import io.github.so4j.curvature.testing.LiveArrays;
import io.github.so4j.curvature.testing.Tolerances;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link SlidingWindowFisher}'s device-only hot path: {@link SlidingWindowFisher#propose} and
 * {@link SlidingWindowFisher.Proposal#commit}, the O(m<sup>2</sup>) update of \( M = (K + m\lambda
 * I)^{-1} \) with its spread-out Newton–Schulz refresh, and the device cursor.
 *
 * <p>Tolerances. Gradients have entries N(0, s<sup>2</sup>/d) with s between 0.1 and 10 (so that
 * large gradients leave the window for small ones), hence \( \kappa(F) \le 1 + \|G\|^2 / (m\lambda)
 * \le 1 + 100 / \lambda \le 10^5 \) for \( \lambda \ge 10^{-3} \): float64 results must agree with
 * the dense LU inverse to {@link Tolerances#FLOAT64_RELATIVE}, which leaves room for that condition
 * number, and float32 products to \( 2 \gamma_d \|x\| / \lambda \) (the argument of {@link
 * SlidingWindowFisherTest}; \( G^\top (m\lambda I + G G^\top)^{-1} G \) has norm at most 1 whatever
 * the scale of the gradients). \( M \) itself is compared with the LU inverse of the window's own
 * \( A = K + m\lambda I \): any backward-stable inverse, the oracle's included, is off by up to \(
 * c_m \kappa(A) u \) (Higham, Accuracy and Stability of Numerical Algorithms, ch. 14), so the test
 * allows \( m \kappa(A) u \), \( u = 2^{-53} \).
 *
 * <p>Measured (worst over 20 cycles): float64 \( F^{-1} x \) 1.9e-13 relative, \( F^{-1} g \)
 * 1.5e-10 (g in the window cancels; the former fresh inverse per add gave the same errors to three
 * digits), \( M \) 1.4e-15, at most 0.83 \( \kappa(A) u \); float32 \( F^{-1} x \) 1.6e-7 of \(
 * \|x\| / \lambda \) against the bound 1.4e-5.
 */
class SlidingWindowFisherProposalTest {

    private static final int D = 120;

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    static Stream<Arguments> cycles() {
        return Stream.of(4, 16)
                .flatMap(
                        m ->
                                Stream.of(1e-2, 1e-3)
                                        .flatMap(
                                                lambda ->
                                                        Stream.of(
                                                                Arguments.of(
                                                                        m,
                                                                        lambda,
                                                                        DataType.FLOAT64),
                                                                Arguments.of(
                                                                        m,
                                                                        lambda,
                                                                        DataType.FLOAT32))));
    }

    /**
     * 20 cycles of the window through the hot path (propose, commit where finite): after every add,
     * \( F^{-1} x \) and the proposal's \( F^{-1} g \) agree with the dense inverse of the damped
     * Fisher of the window, and \( M \) with a fresh inverse of \( A \).
     */
    @ParameterizedTest(name = "m={0} lambda={1} {2}")
    @MethodSource("cycles")
    void manyCyclesMatchTheDenseInverse(int m, double lambda, DataType type) {
        Random random = new Random(41L * m + type.ordinal());
        double[][] window = new double[m][D];
        try (SlidingWindowFisher fisher = window(D, m, lambda, type, m)) {
            for (int step = 0; step < 20 * m; step++) {
                double scale = Math.pow(10, 2 * random.nextDouble() - 1) / Math.sqrt(D);
                double[] g = round(Dense.gaussian(random, 1, D, scale)[0], type);
                double[] x = round(Dense.gaussian(random, 1, D, 1)[0], type);
                window[step % m] = g;
                try (NDManager scratch = manager.newSubManager()) {
                    double[] direction;
                    try (SlidingWindowFisher.Proposal proposal =
                            fisher.propose(Dense.toArray(scratch, g, type))) {
                        NDArray finite = proposal.finite();
                        proposal.commit(finite);
                        assertTrue(finite.getBoolean(), "step " + step + " rejected");
                        direction = Dense.toDoubles(proposal.direction().head());
                    }
                    double[] product =
                            Dense.toDoubles(fisher.inverseTimes(Dense.toArray(scratch, x, type)));
                    RealMatrix inverse = Dense.inverse(Dense.dampedFisher(window, 0, D, lambda));
                    assertProductClose(product, inverse.operate(x), x, lambda, type, step);
                    if (type == DataType.FLOAT64) {
                        double error = Dense.relativeError(direction, inverse.operate(g));
                        assertTrue(
                                error < Tolerances.FLOAT64_RELATIVE,
                                "step " + step + ": F^-1 g relative error " + error);
                    }
                }
                double[] drift = drift(fisher);
                assertTrue(
                        drift[0] <= m * drift[1] * Tolerances.FLOAT64_UNIT_ROUNDOFF,
                        "step " + step + ": M is off by " + drift[0] + " at kappa " + drift[1]);
            }
            assertEquals(m, fisher.getFilled());
        }
    }

    /**
     * The refresh is what removes error that the window's turnover keeps: a repeated gradient never
     * changes the window, so a perturbation of \( M \) (as from a checkpoint that lost digits)
     * stays without it, and is refined away in a few cycles with the default period m.
     */
    @Test
    void theRefreshRemovesErrorThatTheTurnoverKeeps() {
        int m = 16;
        double lambda = 1e-3;
        double[] g = Dense.gaussian(new Random(3), 1, D, 1 / Math.sqrt(D))[0];
        double[] after = new double[2];
        int[] periods = {m, 0};
        for (int i = 0; i < periods.length; i++) {
            try (SlidingWindowFisher fisher = window(D, m, lambda, DataType.FLOAT64, periods[i])) {
                NDArray gradient = Dense.toArray(manager, g, DataType.FLOAT64);
                for (int step = 0; step < m; step++) {
                    assertTrue(fisher.add(gradient));
                }
                SlidingWindowFisher.State s = fisher.state();
                NDArray noise =
                        Dense.toArray(
                                        manager,
                                        Dense.gaussian(new Random(7), m, m, 1e-6),
                                        DataType.FLOAT64)
                                .add(1);
                fisher.restore(
                        new SlidingWindowFisher.State(
                                s.windows(),
                                s.gram(),
                                s.inverse().mul(noise),
                                s.next(),
                                s.filled()));
                assertTrue(drift(fisher)[0] > 1e-7);
                for (int step = 0; step < 4 * m; step++) {
                    assertTrue(fisher.add(gradient));
                }
                after[i] = drift(fisher)[0];
            }
        }
        assertTrue(after[0] < 1e-10, "with the refresh: " + after[0]);
        assertTrue(after[1] > 1e-7, "without: " + after[1]);
    }

    /**
     * A proposal rejected in every way (the caller's false, a NaN gradient's own flag, a flag ANDed
     * with the caller's veto on the device, closed without a commit) leaves every bit of the state
     * as it was, and the window then computes exactly what a twin that never saw those proposals
     * computes, across a wrap of the ring and a sweep of the refresh.
     */
    @ParameterizedTest
    @EnumSource(
            value = DataType.class,
            names = {"FLOAT32", "FLOAT64"})
    void rejectedProposalsChangeNoBit(DataType type) {
        int m = 4;
        int d = 50;
        Random random = new Random(23);
        try (SlidingWindowFisher fisher = window(d, m, 1e-3, type, m);
                SlidingWindowFisher twin = window(d, m, 1e-3, type, m)) {
            for (int i = 0; i < m + 2; i++) {
                NDArray g = gradient(random, d, type);
                assertTrue(fisher.add(g));
                assertTrue(twin.add(g));
            }
            Snapshot before = Snapshot.of(fisher);
            NDArray good = gradient(random, d, type);
            NDArray bad = good.duplicate();
            bad.set(new NDIndex(7), Float.NaN);
            try (SlidingWindowFisher.Proposal proposal = fisher.propose(good)) {
                assertTrue(proposal.finite().getBoolean());
                proposal.commit(manager.create(false));
            }
            try (SlidingWindowFisher.Proposal proposal = fisher.propose(bad)) {
                assertFalse(proposal.finite().getBoolean());
                proposal.commit(proposal.finite());
            }
            try (SlidingWindowFisher.Proposal proposal = fisher.propose(good)) {
                proposal.commit(
                        proposal.finite().logicalAnd(manager.create(new boolean[] {false})));
            }
            try (SlidingWindowFisher.Proposal proposal = fisher.propose(good)) {
                proposal.direction().close();
            }
            before.assertSame(Snapshot.of(fisher));
            Snapshot.of(twin).assertSame(Snapshot.of(fisher));
            for (int i = 0; i < 2 * m + 1; i++) {
                NDArray g = gradient(random, d, type);
                NDArray x = gradient(random, d, type);
                NDArray[] directions = new NDArray[2];
                SlidingWindowFisher[] both = {fisher, twin};
                for (int w = 0; w < 2; w++) {
                    if (i % 2 == 0) {
                        try (SlidingWindowFisher.Proposal proposal = both[w].propose(g)) {
                            proposal.commit(proposal.finite());
                            directions[w] = proposal.direction().head();
                        }
                    } else {
                        directions[w] = both[w].addAndInverseTimes(g);
                    }
                }
                assertArrayEquals(
                        Dense.toDoubles(directions[1]), Dense.toDoubles(directions[0]), 0.0);
                assertArrayEquals(
                        Dense.toDoubles(twin.inverseTimes(x)),
                        Dense.toDoubles(fisher.inverseTimes(x)),
                        0.0);
            }
            Snapshot.of(twin).assertSame(Snapshot.of(fisher));
        }
    }

    /**
     * propose, finite, direction, commit (with a flag ANDed on the device) and inverseTimes make no
     * counted host read, across a wrap of the ring; the non-hot-path methods make one each.
     */
    @Test
    void theHotPathReadsNothingFromTheDevice() {
        int m = 5;
        Random random = new Random(8);
        try (SlidingWindowFisher fisher = window(D, m, 1e-3, DataType.FLOAT32, m);
                NDManager inputs = manager.newSubManager()) {
            NDArray allowed = inputs.create(true);
            long before = HostReads.count();
            for (int step = 0; step < 3 * m; step++) {
                NDArray g = gradient(random, D, DataType.FLOAT32);
                try (SlidingWindowFisher.Proposal proposal = fisher.propose(g)) {
                    NDArray accept = proposal.finite().logicalAnd(allowed);
                    proposal.commit(accept);
                    proposal.direction().close();
                    accept.close();
                }
                fisher.inverseTimes(g).close();
                g.close();
            }
            assertEquals(0, HostReads.count() - before);
            NDArray g = gradient(random, D, DataType.FLOAT32);
            before = HostReads.count();
            fisher.add(g);
            assertEquals(1, HostReads.count() - before, "add");
            before = HostReads.count();
            fisher.addAndInverseTimes(g).close();
            assertEquals(1, HostReads.count() - before, "addAndInverseTimes");
            before = HostReads.count();
            SlidingWindowFisher.State state = fisher.state();
            assertEquals(1, HostReads.count() - before, "state");
            assertEquals(((3 * m + 2) % m), state.next());
            before = HostReads.count();
            assertEquals(m, fisher.getFilled());
            assertEquals(1, HostReads.count() - before, "getFilled");
        }
    }

    /** The device cursor advances by the accept flag: slot mod m, filled up to m. */
    @Test
    void theCursorAdvancesOnlyWhereAccepted() {
        int m = 3;
        Random random = new Random(4);
        boolean[] accepts = {true, false, true, true, false, false, true, true};
        try (SlidingWindowFisher fisher = window(10, m, 1e-2, DataType.FLOAT64, m)) {
            int accepted = 0;
            for (boolean accept : accepts) {
                try (SlidingWindowFisher.Proposal proposal =
                        fisher.propose(gradient(random, 10, DataType.FLOAT64))) {
                    proposal.commit(manager.create(accept));
                }
                accepted += accept ? 1 : 0;
                SlidingWindowFisher.State state = fisher.state();
                assertEquals(accepted % m, state.next());
                assertEquals(Math.min(accepted, m), state.filled());
            }
        }
    }

    @Test
    void misuseIsRefusedWithAReason() {
        try (SlidingWindowFisher fisher = window(6, 2, 1e-2, DataType.FLOAT32, 2)) {
            NDArray g = manager.randomNormal(new Shape(6));
            SlidingWindowFisher.Proposal first = fisher.propose(g);
            SlidingWindowFisher.Proposal stale = fisher.propose(g);
            IllegalArgumentException notBoolean =
                    assertThrows(
                            IllegalArgumentException.class, () -> first.commit(manager.create(1f)));
            assertEquals("accept must be one boolean, but was float32 ()", notBoolean.getMessage());
            first.commit(first.finite());
            IllegalStateException twice =
                    assertThrows(IllegalStateException.class, () -> first.commit(first.finite()));
            assertEquals("the proposal was committed already", twice.getMessage());
            IllegalStateException old =
                    assertThrows(IllegalStateException.class, () -> stale.commit(stale.finite()));
            assertEquals(
                    "the window changed since this proposal was made; propose again",
                    old.getMessage());
            first.close();
            stale.close();
            SlidingWindowFisher.Proposal closed = fisher.propose(g);
            closed.close();
            assertThrows(IllegalStateException.class, () -> closed.commit(manager.create(true)));
        }
        IllegalArgumentException period =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> window(6, 4, 1e-2, DataType.FLOAT32, 5));
        assertEquals(
                "refreshPeriod must be between 0 and windowSize = 4, but was 5",
                period.getMessage());
    }

    @Test
    void proposalsLeaveNoArraysBehind() {
        try (SlidingWindowFisher fisher = window(50, 8, 1e-3, DataType.FLOAT32, 8);
                NDManager inputs = manager.newSubManager()) {
            NDArray g = inputs.randomNormal(new Shape(50));
            fisher.addAndInverseTimes(g).close();
            int before = LiveArrays.count(manager);
            for (int i = 0; i < 50; i++) {
                try (SlidingWindowFisher.Proposal proposal = fisher.propose(g)) {
                    NDArray finite = proposal.finite();
                    proposal.commit(finite);
                    finite.close();
                    proposal.direction().close();
                }
                fisher.propose(g).close(); // rejected: frees all it made
            }
            assertEquals(before, LiveArrays.count(manager));
        }
    }

    /** Every bit of a window's state, read to the host. */
    private record Snapshot(
            double[][] windows, double[] gram, double[] inverse, int next, int filled) {

        static Snapshot of(SlidingWindowFisher fisher) {
            SlidingWindowFisher.State state = fisher.state();
            NDList chunks = state.windows();
            double[][] windows = new double[chunks.size()][];
            for (int g = 0; g < windows.length; g++) {
                windows[g] = Dense.toDoubles(chunks.get(g));
            }
            return new Snapshot(
                    windows,
                    state.gram().toDoubleArray(),
                    state.inverse().toDoubleArray(),
                    state.next(),
                    state.filled());
        }

        void assertSame(Snapshot actual) {
            assertEquals(windows.length, actual.windows.length);
            for (int g = 0; g < windows.length; g++) {
                assertArrayEquals(windows[g], actual.windows[g], 0.0, "window group " + g);
            }
            assertArrayEquals(gram, actual.gram, 0.0, "Gram matrix");
            assertArrayEquals(inverse, actual.inverse, 0.0, "inverse");
            assertEquals(next, actual.next, "next");
            assertEquals(filled, actual.filled, "filled");
        }
    }

    /**
     * \( \|M - A^{-1}\|_F / \|A^{-1}\|_F \) with \( A^{-1} \) by LU in float64, and \( \kappa_2(A)
     * \), for the window's own \( A = K + m\lambda I \).
     */
    private static double[] drift(SlidingWindowFisher fisher) {
        int m = fisher.getWindowSize();
        SlidingWindowFisher.State state = fisher.state();
        double[] k = state.gram().toDoubleArray();
        double[] x = state.inverse().toDoubleArray();
        RealMatrix a = new Array2DRowRealMatrix(m, m);
        RealMatrix actual = new Array2DRowRealMatrix(m, m);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < m; j++) {
                a.setEntry(i, j, k[i * m + j] + (i == j ? m * fisher.getDamping() : 0));
                actual.setEntry(i, j, x[i * m + j]);
            }
        }
        RealMatrix expected = Dense.inverse(a);
        double error = actual.subtract(expected).getFrobeniusNorm() / expected.getFrobeniusNorm();
        return new double[] {error, new SingularValueDecomposition(a).getConditionNumber()};
    }

    private NDArray gradient(Random random, int d, DataType type) {
        return Dense.toArray(manager, Dense.gaussian(random, 1, d, 1 / Math.sqrt(d))[0], type);
    }

    private static double[] round(double[] v, DataType type) {
        return type == DataType.FLOAT32 ? Dense.roundToFloat(v) : v;
    }

    private SlidingWindowFisher window(long d, int m, double lambda, DataType type, int period) {
        return new SlidingWindowFisher(
                manager, new Shape[] {new Shape(d)}, m, lambda, type, period);
    }

    private static void assertProductClose(
            double[] actual,
            double[] expected,
            double[] x,
            double lambda,
            DataType type,
            int step) {
        if (type == DataType.FLOAT64) {
            double error = Dense.relativeError(actual, expected);
            assertTrue(
                    error < Tolerances.FLOAT64_RELATIVE,
                    "step " + step + ": relative error " + error);
        } else {
            double diff = 0;
            double norm = 0;
            for (int i = 0; i < actual.length; i++) {
                diff += (actual[i] - expected[i]) * (actual[i] - expected[i]);
                norm += x[i] * x[i];
            }
            double scaled = Math.sqrt(diff / norm) * lambda;
            double bound = 2 * Tolerances.float32DotProduct(actual.length);
            assertTrue(
                    scaled < bound,
                    "step " + step + ": error / (|x|/lambda) = " + scaled + " > " + bound);
        }
    }
}
