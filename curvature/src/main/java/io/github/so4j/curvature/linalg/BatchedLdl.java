package io.github.so4j.curvature.linalg;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Workspace;

/**
 * The LDL<sup>T</sup> factorization of a batch of symmetric positive definite matrices, on their
 * device, with DJL operations only (DJL has no Cholesky).
 *
 * <p>For each \( P_b \) (n x n) it finds a unit lower-triangular \( L_b \) and a positive diagonal
 * \( D_b \) with \( P_b = L_b \operatorname{diag}(D_b) L_b^\top \), by the right-looking
 * outer-product algorithm (Golub and Van Loan, Matrix Computations, 4th ed., Algorithm 4.1.2): for
 * \( j = 1..n \), \( d_j = A_{jj} \), \( l_j = A_{j+1:n, j} / d_j \), \( A_{j+1:n, j+1:n}
 * \mathrel{-}= d_j l_j l_j^\top \).
 *
 * <p><b>Cost</b>: n<sup>3</sup>/3 flops per matrix, batched over b matrices in n steps of O(b
 * n<sup>2</sup>) device work; memory 2 b n<sup>2</sup>. Use float64: there is no pivoting, which is
 * stable for positive definite input.
 */
public final class BatchedLdl {

    private BatchedLdl() {}

    /**
     * The factors of one batch.
     *
     * @param lower the unit lower-triangular factors, shape (b, n, n)
     * @param diagonal the diagonals, shape (b, n)
     */
    public record Factors(NDArray lower, NDArray diagonal) {}

    /**
     * Factors a batch of symmetric positive definite matrices.
     *
     * @param matrices shape (b, n, n), symmetric positive definite, floating point. Not modified.
     * @param owner the manager that will own the factors
     * @return the factors, on the device and in the dtype of {@code matrices}; a non-positive or
     *     non-finite entry of the diagonal means the input was not positive definite
     */
    public static Factors factor(NDArray matrices, NDManager owner) {
        Shape shape = matrices.getShape();
        if (shape.dimension() != 3 || shape.get(1) != shape.get(2)) {
            throw new IllegalArgumentException(
                    "matrices must have shape (b, n, n), but had " + shape);
        }
        long n = shape.get(1);
        DataType type = matrices.getDataType();
        try (Workspace ws = new Workspace(owner, matrices)) {
            NDManager scope = ws.manager();
            NDArray work = matrices.duplicate();
            NDArray lower = scope.zeros(shape, type);
            NDArray diagonal = scope.zeros(new Shape(shape.get(0), n), type);
            for (long j = 0; j < n; j++) {
                try (NDManager step = scope.newSubManager()) {
                    step.tempAttachAll(work, lower, diagonal);
                    NDArray pivot = work.get(new NDIndex(":, {}, {}", j, j));
                    diagonal.set(new NDIndex(":, {}", j), pivot);
                    if (j + 1 < n) {
                        NDArray below = work.get(new NDIndex(":, {}:, {}", j + 1, j));
                        NDArray column = below.div(pivot.expandDims(1));
                        lower.set(new NDIndex(":, {}:, {}", j + 1, j), column);
                        NDArray update = column.expandDims(2).mul(below.expandDims(1));
                        NDIndex trailing = new NDIndex(":, {}:, {}:", j + 1, j + 1);
                        work.set(trailing, work.get(trailing).sub(update));
                    }
                }
            }
            NDArray eye = scope.eye((int) n, (int) n, 0, type).expandDims(0);
            NDArray unitLower = lower.add(eye);
            return new Factors(ws.keep(unitLower, owner), ws.keep(diagonal, owner));
        }
    }
}
