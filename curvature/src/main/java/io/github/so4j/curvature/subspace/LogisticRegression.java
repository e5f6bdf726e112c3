package io.github.so4j.curvature.subspace;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Activation;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;

/**
 * L2-regularised binary logistic regression, with its gradient and Hessian in closed form: the
 * demonstration problem of the Newton and zeroth-order methods.
 *
 * <p>For examples \( a_i \) (rows of A, n x d) with labels \( y_i \in \{0, 1\} \):
 *
 * <p>\( f(x) = \frac{1}{n} \sum_i \left( \log(1 + e^{a_i^\top x}) - y_i a_i^\top x \right) +
 * \frac{\lambda}{2} \|x\|^2 \)<br>
 * \( \nabla f(x) = \frac{1}{n} A^\top (\sigma(A x) - y) + \lambda x \)<br>
 * \( \nabla^2 f(x) = \frac{1}{n} A^\top \operatorname{diag}(\sigma(Ax) (1 - \sigma(Ax))) A +
 * \lambda I \)
 *
 * <p>f is \( \lambda \)-strongly convex, and its Hessian is Lipschitz continuous; far from the
 * optimum the curvature of the data term vanishes where the sigmoids saturate, which is what makes
 * undamped Newton steps overshoot.
 *
 * <p><b>Cost</b>: a value or gradient 2nd flops, a Hessian-vector product 4nd, the Hessian
 * nd<sup>2</sup>.
 */
public final class LogisticRegression implements SmoothObjective {

    private final NDArray features;
    private final NDArray labels;
    private final double regularization;
    private final long examples;
    private final long dimension;

    /**
     * Creates the objective; the arrays stay the caller's and must stay open.
     *
     * @param features A, shape (n, d), float32 or float64. Not modified.
     * @param labels y, shape (n), zeros and ones, in A's dtype. Not modified.
     * @param regularization \( \lambda \), non-negative
     * @throws IllegalArgumentException if the shapes do not match or \( \lambda \) is invalid
     */
    public LogisticRegression(NDArray features, NDArray labels, double regularization) {
        if (features.getShape().dimension() != 2) {
            throw new IllegalArgumentException(
                    "features must have shape (n, d), but had " + features.getShape());
        }
        this.examples = features.getShape().get(0);
        this.dimension = features.getShape().get(1);
        if (labels.getShape().dimension() != 1 || labels.size() != examples) {
            throw new IllegalArgumentException(
                    "labels must have shape (" + examples + "), but had " + labels.getShape());
        }
        if (!(regularization >= 0) || Double.isInfinite(regularization)) {
            throw new IllegalArgumentException(
                    "regularization must be finite and non-negative, but was " + regularization);
        }
        this.features = features;
        this.labels = labels;
        this.regularization = regularization;
    }

    /** {@inheritDoc} */
    @Override
    public long dimension() {
        return dimension;
    }

    /**
     * Returns \( \lambda \).
     *
     * @return the regularization
     */
    public double regularization() {
        return regularization;
    }

    /** {@inheritDoc} */
    @Override
    public double value(NDArray x) {
        check(x, "x");
        try (NDManager scope = x.getManager().newSubManager()) {
            scope.tempAttachAll(features, labels, x);
            NDArray z = features.matMul(x);
            NDArray data = Activation.softPlus(z).sub(labels.mul(z)).mean();
            NDArray penalty = x.mul(x).sum().mul(regularization / 2);
            return HostReads.toDouble(data.add(penalty));
        }
    }

    /** {@inheritDoc} */
    @Override
    public NDArray gradient(NDArray x) {
        check(x, "x");
        NDManager owner = x.getManager();
        try (Workspace ws = new Workspace(owner, features, labels, x)) {
            NDArray residual = Activation.sigmoid(features.matMul(x)).sub(labels);
            NDArray g = residual.matMul(features).div(examples).add(x.mul(regularization));
            return ws.keep(g, owner);
        }
    }

    /** {@inheritDoc} */
    @Override
    public NDArray hessianTimes(NDArray x, NDArray v) {
        check(x, "x");
        check(v, "v");
        NDManager owner = x.getManager();
        try (Workspace ws = new Workspace(owner, features, labels, x, v)) {
            NDArray p = Activation.sigmoid(features.matMul(x));
            NDArray weights = p.mul(p.neg().add(1));
            NDArray hv =
                    weights.mul(features.matMul(v))
                            .matMul(features)
                            .div(examples)
                            .add(v.mul(regularization));
            return ws.keep(hv, owner);
        }
    }

    /** {@inheritDoc} */
    @Override
    public NDArray hessian(NDArray x) {
        check(x, "x");
        NDManager owner = x.getManager();
        try (Workspace ws = new Workspace(owner, features, labels, x)) {
            NDArray p = Activation.sigmoid(features.matMul(x));
            NDArray weights = p.mul(p.neg().add(1)).expandDims(1);
            NDArray h = features.transpose().matMul(features.mul(weights)).div(examples);
            NDArray ridge =
                    ws.manager()
                            .eye((int) dimension, (int) dimension, 0, h.getDataType())
                            .mul(regularization);
            return ws.keep(h.add(ridge), owner);
        }
    }

    private void check(NDArray vector, String name) {
        Vectors.checkFlat(vector, dimension, name);
        if (vector.getDataType() != features.getDataType()) {
            throw new IllegalArgumentException(
                    name
                            + " must be "
                            + features.getDataType()
                            + ", but was "
                            + vector.getDataType());
        }
    }
}
