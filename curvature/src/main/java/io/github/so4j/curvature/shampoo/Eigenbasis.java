package io.github.so4j.curvature.shampoo;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.linalg.HouseholderQr;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.apache.commons.math3.exception.MathIllegalStateException;
import org.apache.commons.math3.exception.MathRuntimeException;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;

/**
 * Eigenbases of Kronecker statistics, as SOAP keeps them: an eigendecomposition at the start, then
 * one step of power iteration and a QR decomposition at each refresh.
 *
 * <p>For a statistic S (n x n, symmetric positive semi-definite):
 *
 * <ul>
 *   <li>{@link #initial}: \( S = Q \Lambda Q^\top \) with the eigenvalues in descending order (the
 *       reference's {@code torch.linalg.eigh} followed by a flip), on the host in float64 (Commons
 *       Math; the statistics of a call in parallel): one counted read ({@link HostReads}) per call.
 *   <li>{@link #refresh}, from the current basis Q: the estimated eigenvalues \( \hat\lambda =
 *       \operatorname{diag}(Q^\top S Q) \), the order \( \pi \) that sorts them in descending order
 *       (the reference's {@code argsort}), then \( Q' R = S\, Q_{:, \pi} \) by Householder QR (R's
 *       diagonal of either sign). The caller permutes whatever it keeps in the old basis' order
 *       (SOAP's second moment) by \( \pi \). The products and the sort run on the device, batched
 *       over the statistics of one size and dtype; the QR is {@link HouseholderQr}'s blocked one:
 *       \( \lceil n / 32 \rceil \) counted reads per size.
 * </ul>
 *
 * <p>Results are in the statistics' dtype, on their device. Eigenvectors are defined up to sign
 * (and within a repeated eigenvalue, up to a rotation), and QR's columns up to sign: SOAP is
 * invariant to the signs (it keeps its first moment in the basis and carries it over explicitly;
 * its second moment sees squares).
 *
 * <p><b>Cost</b> per statistic of size n: {@link #initial} about 9n<sup>3</sup> flops on the host
 * (tridiagonalization, implicit QL with vectors); {@link #refresh} about \( \tfrac{14}{3} n^3 \)
 * flops in products on the device (the power step and the blocked QR) and \( 3 n^2 \cdot 32 \) on
 * the host. On a 2-core CPU (float32, one PyTorch thread) a refresh took 2.2, 2.7, 8.4 and 23 ms at
 * n = 64, 128, 256 and 512, against 2 to 7, 6.3, 16 and 92 ms with the whole QR on the host
 * (Commons Math); see docs/soap.md.
 */
public final class Eigenbasis {

    private Eigenbasis() {}

    /**
     * A refreshed basis.
     *
     * @param basis the new basis Q' (n x n), columns in the order of the sorted estimates
     * @param order \( \pi \): position i of the new order holds the old basis' column \( \pi_i \);
     *     an int64 vector of length n on the statistic's device
     */
    public record Refreshed(NDArray basis, NDArray order) {}

    /**
     * Returns the eigenvectors of each statistic, in descending order of eigenvalue. A statistic
     * whose decomposition fails (Commons Math's iteration did not converge, as for a matrix with
     * NaN entries) gets the identity, and is counted.
     *
     * @param statistics symmetric n x n matrices (each its own n), float32 or float64, finite. Not
     *     modified.
     * @param owner the manager of the bases
     * @return the bases, in the order of {@code statistics}, and the number of failed
     *     decompositions
     */
    public static Initial initial(List<NDArray> statistics, NDManager owner) {
        if (statistics.isEmpty()) {
            return new Initial(List.of(), 0);
        }
        double[][] matrices = read(statistics, owner);
        int[] failures = new int[statistics.size()];
        double[][] bases = new double[statistics.size()][];
        IntStream.range(0, statistics.size())
                .parallel()
                .forEach(
                        k -> {
                            int n = size(statistics.get(k));
                            double[][] s = symmetric(matrices[k], n);
                            double[][] q = descendingEigenvectors(s);
                            if (q == null) {
                                failures[k] = 1;
                                q = identity(n);
                            }
                            bases[k] = flatten(q);
                        });
        List<NDArray> out = new ArrayList<>(statistics.size());
        for (int k = 0; k < statistics.size(); k++) {
            out.add(toDevice(bases[k], statistics.get(k), owner));
        }
        return new Initial(out, Arrays.stream(failures).sum());
    }

    /**
     * Initial bases.
     *
     * @param bases one basis per statistic
     * @param failures how many decompositions failed (their bases are identities)
     */
    public record Initial(List<NDArray> bases, int failures) {}

    /**
     * Refreshes each basis by one step of power iteration on its statistic and a QR decomposition,
     * the columns first sorted by their estimated eigenvalues. Statistics of one size and dtype are
     * refreshed together, as a batch.
     *
     * @param statistics symmetric n x n matrices, finite. Not modified.
     * @param bases the current bases, one per statistic, of the same sizes and dtypes. Not
     *     modified.
     * @param owner the manager of the results
     * @return the new bases and the orders, in the order of {@code statistics}
     */
    public static List<Refreshed> refresh(
            List<NDArray> statistics, List<NDArray> bases, NDManager owner) {
        if (statistics.size() != bases.size()) {
            throw new IllegalArgumentException(
                    statistics.size() + " statistics but " + bases.size() + " bases");
        }
        Map<String, List<Integer>> groups = new LinkedHashMap<>();
        for (int k = 0; k < statistics.size(); k++) {
            NDArray s = statistics.get(k);
            NDArray q = bases.get(k);
            int n = size(s);
            if (!q.getShape().equals(s.getShape()) || q.getDataType() != s.getDataType()) {
                throw new IllegalArgumentException(
                        "basis "
                                + k
                                + " is "
                                + q.getDataType()
                                + " "
                                + q.getShape()
                                + ", but its statistic "
                                + s.getDataType()
                                + " "
                                + s.getShape());
            }
            groups.computeIfAbsent(n + " " + s.getDataType(), g -> new ArrayList<>()).add(k);
        }
        Refreshed[] out = new Refreshed[statistics.size()];
        for (List<Integer> group : groups.values()) {
            NDList s = new NDList(group.size());
            NDList q = new NDList(group.size());
            for (int k : group) {
                s.add(statistics.get(k));
                q.add(bases.get(k));
            }
            try (Workspace ws = new Workspace(owner, s, q)) {
                NDArray stacked = NDArrays.stack(s);
                NDArray current = NDArrays.stack(q);
                NDArray power = stacked.matMul(current);
                // the estimates diag(Q^T S Q), then their order, descending
                NDArray order = current.mul(power).sum(new int[] {1}).argSort(1, false);
                NDArray sorted = power.gather(order.expandDims(1).broadcast(power.getShape()), 2);
                NDArray refreshed =
                        HouseholderQr.q(sorted, HouseholderQr.DEFAULT_PANEL, ws.manager());
                for (int i = 0; i < group.size(); i++) {
                    out[group.get(i)] =
                            new Refreshed(
                                    ws.keep(refreshed.get(i), owner), ws.keep(order.get(i), owner));
                }
            }
        }
        return Arrays.asList(out);
    }

    /** Reads the arrays' values in one counted read (flattened, concatenated, split again). */
    @SuppressWarnings("try") // the workspace only collects the temporaries of the body
    private static double[][] read(List<NDArray> arrays, NDManager parent) {
        try (Workspace ws = new Workspace(parent, new NDList(arrays))) {
            NDList flat = new NDList(arrays.size());
            for (NDArray a : arrays) {
                flat.add(a.toType(DataType.FLOAT64, false).reshape(-1));
            }
            double[] values =
                    HostReads.toDoubles(flat.size() == 1 ? flat.head() : NDArrays.concat(flat));
            double[][] out = new double[arrays.size()][];
            int offset = 0;
            for (int k = 0; k < arrays.size(); k++) {
                int length = Math.toIntExact(arrays.get(k).size());
                out[k] = Arrays.copyOfRange(values, offset, offset + length);
                offset += length;
            }
            return out;
        }
    }

    private static int size(NDArray statistic) {
        Shape shape = statistic.getShape();
        if (shape.dimension() != 2 || shape.get(0) != shape.get(1)) {
            throw new IllegalArgumentException("statistics must be square, but one is " + shape);
        }
        return Math.toIntExact(shape.get(0));
    }

    private static double[][] symmetric(double[] flat, int n) {
        double[][] s = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                s[i][j] = 0.5 * (flat[i * n + j] + flat[j * n + i]);
            }
        }
        return s;
    }

    /** The eigenvectors as columns, eigenvalues descending (stable); null if Commons Math fails. */
    private static double[][] descendingEigenvectors(double[][] s) {
        int n = s.length;
        EigenDecomposition eigen;
        try {
            eigen = new EigenDecomposition(new Array2DRowRealMatrix(s, false));
        } catch (MathIllegalStateException | MathRuntimeException e) {
            // MaxCountExceededException: the implicit QL did not converge
            return null;
        }
        double[] lambda = eigen.getRealEigenvalues();
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Double.compare(lambda[b], lambda[a]));
        double[][] v = eigen.getV().getData();
        double[][] q = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                q[i][j] = v[i][order[j]];
            }
        }
        return q;
    }

    private static double[][] identity(int n) {
        double[][] q = new double[n][n];
        for (int i = 0; i < n; i++) {
            q[i][i] = 1;
        }
        return q;
    }

    private static double[] flatten(double[][] m) {
        int columns = m[0].length;
        double[] flat = new double[m.length * columns];
        for (int i = 0; i < m.length; i++) {
            System.arraycopy(m[i], 0, flat, i * columns, columns);
        }
        return flat;
    }

    private static NDArray toDevice(double[] values, NDArray like, NDManager owner) {
        try (NDManager scope = owner.newSubManager(like.getDevice())) {
            NDArray array = scope.create(values, like.getShape()).toType(like.getDataType(), false);
            array.attach(owner);
            return array;
        }
    }
}
