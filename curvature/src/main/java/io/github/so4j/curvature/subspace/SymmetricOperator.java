package io.github.so4j.curvature.subspace;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * A symmetric linear map on flat vectors of dimension d, known only through its products: the
 * interface Lanczos, Hutchinson's estimator and stochastic Lanczos quadrature work with.
 *
 * <p>A Hessian or Gauss-Newton matrix of a model ({@link BatchCurvature#hessian()}), or a dense
 * matrix ({@link #dense}) for tests and small problems.
 */
public interface SymmetricOperator {

    /**
     * Returns d, the length of the vectors.
     *
     * @return the dimension
     */
    long dimension();

    /**
     * Returns the dtype of the vectors the operator takes and returns.
     *
     * @return float32 or float64
     */
    DataType dataType();

    /**
     * Computes \( A v \).
     *
     * @param vector v, shape (d), on the operator's device, in its dtype. Not modified.
     * @return \( A v \), shape (d), a new array owned by {@code vector}'s manager
     */
    NDArray times(NDArray vector);

    /**
     * Wraps a dense symmetric matrix.
     *
     * @param matrix a square matrix, shape (d, d); the caller keeps it open while the operator is
     *     used. Not modified.
     * @return the operator \( v \mapsto A v \) (symmetry is not checked)
     * @throws IllegalArgumentException if the matrix is not square
     */
    static SymmetricOperator dense(NDArray matrix) {
        if (matrix.getShape().dimension() != 2
                || matrix.getShape().get(0) != matrix.getShape().get(1)) {
            throw new IllegalArgumentException(
                    "matrix must be square, but had shape " + matrix.getShape());
        }
        long d = matrix.getShape().get(0);
        return new SymmetricOperator() {
            @Override
            public long dimension() {
                return d;
            }

            @Override
            public DataType dataType() {
                return matrix.getDataType();
            }

            @Override
            public NDArray times(NDArray vector) {
                Vectors.checkFlat(vector, d, "vector");
                // v^T A = (A v)^T for symmetric A, with v as the receiver so that the result
                // lands in v's manager
                return vector.reshape(1, d).matMul(matrix).reshape(d);
            }
        };
    }
}
