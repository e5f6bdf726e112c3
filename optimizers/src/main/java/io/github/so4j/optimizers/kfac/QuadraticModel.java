package io.github.so4j.optimizers.kfac;

/**
 * The step coefficients that minimize the damped quadratic model of the objective in the plane of
 * two directions (Martens and Grosse 2015, section 7; kfac-jax's {@code _solve_quad_model}).
 *
 * <p>With the directions \( u_0 = \Delta \) (the preconditioned gradient, taken here with the sign
 * of a descent step's negative: \( \Delta = (\hat F + \lambda I)^{-1} \nabla F \)) and \( u_1 = v
 * \) (the previous update), the exact curvature C of the objective, the gradient \( \nabla F \):
 *
 * <p>\( A_{ij} = u_i^\top C u_j \), \( D_{ij} = u_i^\top u_j \), \( b_i = \nabla F^\top u_i \)<br>
 * \( (A + \lambda D) w = -b \), the step \( \delta = w_0 \Delta + w_1 v \)<br>
 * \( q(\delta) - q(0) = \frac{1}{2} w^\top A w + w^\top b \) (the model change that the reduction
 * ratio divides by: without the damping term, kfac-jax's default {@code
 * include_damping_in_quad_change=False})
 *
 * <p>When v is zero (the first step) or parallel to \( \Delta \) (the 2 x 2 matrix singular to
 * working precision), only \( w_0 = -b_0 / (A_{00} + \lambda D_{00}) \) is solved and \( w_1 = 0
 * \). The solve is in closed form on the host, in float64. <b>Cost</b>: O(1) (the products that
 * give A, D and b are {@link QuadraticModelStep}'s).
 *
 * @param w0 the coefficient of \( \Delta \) (negative: the learning rate is \( -w_0 \))
 * @param w1 the coefficient of v (the momentum)
 * @param change \( q(\delta) - q(0) \), the predicted change of the objective
 */
public record QuadraticModel(double w0, double w1, double change) {

    /**
     * Relative size under which the determinant of \( A + \lambda D \) counts as zero: below it,
     * the two directions are parallel to about 8 significant digits of float64.
     */
    static final double SINGULAR = 1e-8;

    /**
     * Solves the damped model.
     *
     * @param a \( [A_{00}, A_{01}, A_{11}] \), undamped (the objective's curvature, L2 term
     *     included)
     * @param d \( [D_{00}, D_{01}, D_{11}] \)
     * @param b \( [b_0, b_1] \)
     * @param damping \( \lambda \)
     * @param withVelocity false when v is zero (then \( A_{01}, A_{11}, D_{01}, D_{11}, b_1 \) are
     *     ignored)
     * @return the coefficients and the predicted change; NaN if the inputs are not finite or the
     *     damped curvature along \( \Delta \) is not positive
     */
    public static QuadraticModel solve(
            double[] a, double[] d, double[] b, double damping, boolean withVelocity) {
        double m00 = a[0] + damping * d[0];
        if (withVelocity) {
            double m01 = a[1] + damping * d[1];
            double m11 = a[2] + damping * d[2];
            double det = m00 * m11 - m01 * m01;
            if (det > SINGULAR * Math.abs(m00 * m11)) {
                double w0 = -(m11 * b[0] - m01 * b[1]) / det;
                double w1 = -(m00 * b[1] - m01 * b[0]) / det;
                return of(a, b, w0, w1);
            }
        }
        if (!(m00 > 0)) {
            return new QuadraticModel(Double.NaN, Double.NaN, Double.NaN);
        }
        return of(a, b, -b[0] / m00, 0);
    }

    private static QuadraticModel of(double[] a, double[] b, double w0, double w1) {
        double quadratic = w0 * w0 * a[0] + 2 * w0 * w1 * a[1] + w1 * w1 * a[2];
        return new QuadraticModel(w0, w1, quadratic / 2 + w0 * b[0] + w1 * b[1]);
    }

    /**
     * Tells whether the coefficients and the change are finite.
     *
     * @return whether the model can move the weights
     */
    public boolean isFinite() {
        return Double.isFinite(w0) && Double.isFinite(w1) && Double.isFinite(change);
    }
}
