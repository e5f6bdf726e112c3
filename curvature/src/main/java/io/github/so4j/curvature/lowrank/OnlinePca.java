package io.github.so4j.curvature.lowrank;

import ai.djl.ndarray.NDArray;

/**
 * The gradient of the online-PCA objective with which Online Subspace Descent tracks a gradient's
 * top subspace, with matrix products only.
 *
 * <p>For a basis P (s x r, not necessarily orthonormal) and a matrix X (s x o):
 *
 * <p>\( L(P) = \| P P^\top X - X \|_F^2 \)<br>
 * \( \nabla_P L = 2 (E X^\top P + X E^\top P) \) with \( E = P P^\top X - X \)<br>
 * \( \phantom{\nabla_P L} = 2 \left( P (A^\top A) + X A (P^\top P) - 2 X A \right) \) with \( A =
 * X^\top P \)
 *
 * <p>(the second form from \( E X^\top P = P A^\top A - X A \) and \( E^\top P = A P^\top P - A
 * \)). Its minimisers are the bases of the top r-dimensional left singular subspaces of X (with
 * orthonormal columns), so a gradient step moves P towards them.
 *
 * <p><b>Cost</b>: two s x o x r products (A and \( X A \)), \( 4 s o r \) flops, and \( O((s + o)
 * r^2) \) for the small ones; from the two products, only the small ones. No host read. The
 * transposed views live in the managers of the inputs: call it with the inputs borrowed into a
 * {@code Workspace}.
 */
public final class OnlinePca {

    private OnlinePca() {}

    /**
     * Returns \( \nabla_P \|P P^\top X - X\|_F^2 \).
     *
     * @param basis P, shape (s, r). Not modified.
     * @param x X, shape (s, o), P's dtype. Not modified.
     * @return the gradient, shape (s, r), owned by {@code basis}' manager
     */
    public static NDArray gradient(NDArray basis, NDArray x) {
        try (NDArray a = x.transpose().matMul(basis);
                NDArray xa = x.matMul(a)) {
            return fromProducts(basis, a, xa);
        }
    }

    /**
     * Returns \( \nabla_P \|P P^\top X - X\|_F^2 \) from the two products with X, computed by the
     * caller (who may have them at hand, or scaled: for \( X = M / c \), \( A = (M^\top P) / c \)
     * and \( X A = (M A) / c \), without forming X).
     *
     * @param basis P, shape (s, r). Not modified.
     * @param a \( A = X^\top P \), shape (o, r). Not modified.
     * @param xa \( X A \), shape (s, r). Not modified.
     * @return the gradient, shape (s, r), owned by {@code basis}' manager
     */
    public static NDArray fromProducts(NDArray basis, NDArray a, NDArray xa) {
        try (NDArray gram = basis.transpose().matMul(basis);
                NDArray ata = a.transpose().matMul(a);
                NDArray xag = xa.matMul(gram);
                NDArray twice = xa.mul(2)) {
            return basis.matMul(ata).addi(xag).subi(twice).muli(2);
        }
    }
}
