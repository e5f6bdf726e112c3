package io.github.so4j.curvature.subspace;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.github.so4j.curvature.Workspace;

/**
 * A twice differentiable objective of a flat parameter vector, with its gradient and Hessian
 * products: what Newton's method on a small problem works with.
 */
public interface SmoothObjective extends Objective {

    /**
     * Returns d, the number of parameters.
     *
     * @return the dimension
     */
    long dimension();

    /**
     * Computes the gradient.
     *
     * @param x the parameters, shape (d). Not modified.
     * @return \( \nabla f(x) \), shape (d), owned by {@code x}'s manager
     */
    NDArray gradient(NDArray x);

    /**
     * Computes a Hessian-vector product.
     *
     * @param x the parameters, shape (d). Not modified.
     * @param v the vector, shape (d). Not modified.
     * @return \( \nabla^2 f(x)\, v \), shape (d), owned by {@code x}'s manager
     */
    NDArray hessianTimes(NDArray x, NDArray v);

    /**
     * Forms the Hessian, by default column by column from d products and symmetrized (override when
     * it has a closed form).
     *
     * @param x the parameters, shape (d). Not modified.
     * @return \( \nabla^2 f(x) \), shape (d, d), owned by {@code x}'s manager
     */
    default NDArray hessian(NDArray x) {
        int d = Math.toIntExact(dimension());
        NDManager owner = x.getManager();
        try (Workspace ws = new Workspace(owner, x)) {
            NDArray identity = ws.manager().eye(d, d, 0, x.getDataType());
            NDList columns = new NDList(d);
            for (int j = 0; j < d; j++) {
                columns.add(hessianTimes(x, identity.get(j)));
            }
            NDArray h = NDArrays.stack(columns, 1);
            return ws.keep(h.add(h.transpose()).muli(0.5), owner);
        }
    }
}
