package io.github.so4j.curvature.lowrank;

import ai.djl.ndarray.NDArray;

/**
 * The gradient of the online-PCA objective with which Online Subspace Descent tracks a gradient's
 * leading subspace, with matrix products only.
 *
 * <p>For a basis P (s x r, not necessarily orthonormal) and a matrix X (s x o):
 *
 * <p>\( L(P) = \| P P^\top X - X \|_F^2 \)<br>
 * \( \nabla_P L = 2 (E X^\top P + X E^\top P) \) with \( E = P P^\top X - X \)<br>
 * \( \phantom{\nabla_P L} = 2 \left( P (A^\top A) + X A (P^\top P) - 2 X A \right) \) with \( A =
 * X^\top P \)
 *
 * <p>(the second form from \( E X^\top P = P A^\top A - X A \) and \( E^\top P = A P^\top P - A
 * \)). Its minimisers are the bases of the leading r-dimensional left singular subspaces of X (with
 * orthonormal columns), so a gradient step moves P towards them.
 *
 * <p><b>Cost</b>: with A given, one s x o x r product (\( X A \)) and \( O((s + o) r^2) \) for the
 * small products, \( 2 s o r + O((s + o) r^2) \) flops; without it, twice the product. No host
 * read. The transposed views live in the managers of the inputs: call it with the inputs borrowed
 * into a {@code Workspace}.
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
        try (NDArray a = x.transpose().matMul(basis)) {
            return gradient(basis, x, a);
        }
    }

    /**
     * Returns \( \nabla_P \|P P^\top X - X\|_F^2 \) from \( A = X^\top P \) computed by the caller
     * (who may need it for the projection \( P^\top X = A^\top \)).
     *
     * @param basis P, shape (s, r). Not modified.
     * @param x X, shape (s, o). Not modified.
     * @param a \( X^\top P \), shape (o, r). Not modified.
     * @return the gradient, shape (s, r), owned by {@code basis}' manager
     */
    public static NDArray gradient(NDArray basis, NDArray x, NDArray a) {
        try (NDArray xa = x.matMul(a);
                NDArray gram = basis.transpose().matMul(basis);
                NDArray ata = a.transpose().matMul(a);
                NDArray xag = xa.matMul(gram)) {
            return basis.matMul(ata).addi(xag).subi(xa.muli(2)).muli(2);
        }
    }
}
