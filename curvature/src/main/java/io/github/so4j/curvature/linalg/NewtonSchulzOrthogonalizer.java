package io.github.so4j.curvature.linalg;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Workspace;

/**
 * An approximate orthogonal polar factor on the device, with matrix products only: the quintic
 * Newton–Schulz iteration of Muon, for one matrix or a batch of matrices of one shape.
 *
 * <p>For an m x n matrix G with singular value decomposition \( G = U \Sigma V^\top \), the polar
 * factor is \( U V^\top \). The iteration maps G to \( U f(\Sigma / (\|G\|_F + \epsilon)) V^\top
 * \), where f is the odd quintic \( p(x) = a x + b x^3 + c x^5 \) applied {@code steps} times:
 *
 * <p>\( X_0 = G / (\|G\|_F + \epsilon) \)<br>
 * \( A_k = X_k X_k^\top \), \( X_{k+1} = a X_k + (b A_k + c A_k^2) X_k \) when m &le; n<br>
 * \( A_k = X_k^\top X_k \), \( X_{k+1} = a X_k + X_k (b A_k + c A_k^2) \) when m &gt; n
 *
 * <p>The second form is the first applied to \( X^\top \) and transposed back (the reference
 * transposes a tall matrix), without the transposes: either way the Gram matrix A is the small one,
 * min(m, n) square.
 *
 * <p>Every iterate is \( U p_k(\Sigma') V^\top \) with the same singular vectors, so the iteration
 * acts on each normalised singular value \( s = \sigma / (\|G\|_F + \epsilon) \in [0, 1] \) alone:
 * {@link #singularValueMap(double)} is that scalar map. Keller Jordan's coefficients (3.4445,
 * −4.7750, 2.0315) maximise the slope at zero (\( f'(0) = a^5 \approx 485 \) after five steps), so
 * that small singular values are lifted quickly, at the price of not converging to 1: the result's
 * singular values oscillate about 1 instead.
 *
 * <p><b>The band</b>, measured for the default coefficients and 5 steps (in float64 on a grid of 4
 * million points over [10<sup>-6</sup>, 1], {@code NewtonSchulzOrthogonalizerTest}): for every \( s
 * \ge \) {@value #DEFAULT_BAND_FROM}, \( f(s) \in [\) {@value #DEFAULT_BAND_LOW}, {@value
 * #DEFAULT_BAND_HIGH} \( ] \). The low end, 0.68183, is attained at many points of (0.009, 1], \(
 * f(1) = 0.6964 \); the high end only near s = 0.0041 (elsewhere above s = 0.005 the values stay
 * below 1.1544, above s = 0.01 below 1.1344). Below {@value #DEFAULT_BAND_FROM} f rises from 0
 * almost linearly (\( f(s) \approx 485 s \)): directions whose singular value is smaller than 0.15%
 * of the Frobenius norm are damped, not orthogonalised. Since \( \sum s_i^2 \le 1 \), the largest s
 * is at least \( 1 / \sqrt{\min(m, n)} \).
 *
 * <p>Precision: the iteration runs in the input's dtype (on a float32 array the engine rounds the
 * scalars a, b, c to float32). Rounding errors made at one step are carried to the result by the
 * later steps, whose sensitivity is that of f: the slope of f is at most \( a^5 \approx 485 \) (at
 * s = 0), at most 85 for s &ge; 0.01 and at most 17 for s &ge; 0.1. The tests bound the error on
 * that basis.
 *
 * <p><b>Cost</b> for an m x n matrix, with r = min(m, n) and l = max(m, n): per step \( 2 r^2 l +
 * r^3 \) multiply-adds (\( X X^\top \), \( A^2 \), \( B X \)), that is \( 4 r^2 l + 2 r^3 \) flops;
 * for 5 steps \( 20 r^2 l + 10 r^3 \) flops (30 n<sup>3</sup> for a square n x n matrix), plus 2
 * passes over the mn entries for the norm. Memory: the iterate (rl) and two r x r matrices, in the
 * input's dtype, each step's freed before the next. No host read.
 *
 * @see <a href="https://kellerjordan.github.io/posts/muon/">Muon</a> (Keller Jordan, 2024)
 */
public final class NewtonSchulzOrthogonalizer {

    /** Keller Jordan's a, the slope of one step at zero. */
    public static final double DEFAULT_A = 3.4445;

    /** Keller Jordan's b. */
    public static final double DEFAULT_B = -4.7750;

    /** Keller Jordan's c. */
    public static final double DEFAULT_C = 2.0315;

    /** The reference's number of steps. */
    public static final int DEFAULT_STEPS = 5;

    /** The reference's \( \epsilon \) in the normalisation \( G / (\|G\|_F + \epsilon) \). */
    public static final double DEFAULT_EPSILON = 1e-7;

    /** The band's low end for the default coefficients and steps (rounded down). */
    public static final double DEFAULT_BAND_LOW = 0.6818;

    /** The band's high end for the default coefficients and steps (rounded up). */
    public static final double DEFAULT_BAND_HIGH = 1.2024;

    /** The smallest normalised singular value from which the band holds (rounded up). */
    public static final double DEFAULT_BAND_FROM = 0.001506;

    private final double a;
    private final double b;
    private final double c;
    private final int steps;
    private final double epsilon;

    /** Creates the reference iteration: the default coefficients, 5 steps, epsilon 1e-7. */
    public NewtonSchulzOrthogonalizer() {
        this(DEFAULT_A, DEFAULT_B, DEFAULT_C, DEFAULT_STEPS, DEFAULT_EPSILON);
    }

    /**
     * Creates an iteration.
     *
     * @param a the linear coefficient, positive and finite; default 3.4445
     * @param b the cubic coefficient, finite; default −4.7750
     * @param c the quintic coefficient, finite; default 2.0315
     * @param steps the number of steps, at least 1; default 5
     * @param epsilon added to the Frobenius norm, positive and finite (a zero matrix then maps to
     *     zero); default 1e-7
     * @throws IllegalArgumentException naming the parameter and its value if one is invalid
     */
    public NewtonSchulzOrthogonalizer(double a, double b, double c, int steps, double epsilon) {
        if (!(a > 0) || Double.isInfinite(a)) {
            throw new IllegalArgumentException("a must be positive and finite, but was " + a);
        }
        if (!Double.isFinite(b)) {
            throw new IllegalArgumentException("b must be finite, but was " + b);
        }
        if (!Double.isFinite(c)) {
            throw new IllegalArgumentException("c must be finite, but was " + c);
        }
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be at least 1, but was " + steps);
        }
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) {
            throw new IllegalArgumentException(
                    "epsilon must be positive and finite, but was " + epsilon);
        }
        this.a = a;
        this.b = b;
        this.c = c;
        this.steps = steps;
        this.epsilon = epsilon;
    }

    /**
     * Returns \( U f(\Sigma / (\|G\|_F + \epsilon)) V^\top \) for G, or for each matrix of a batch.
     *
     * @param g the matrix, shape (m, n), or a batch, shape (..., m, n), of a floating-point dtype.
     *     Not modified.
     * @param owner the manager that will own the result (it must be on g's device)
     * @return a new array of g's shape and dtype
     * @throws IllegalArgumentException if g has fewer than 2 dimensions
     */
    public NDArray orthogonalize(NDArray g, NDManager owner) {
        Shape shape = g.getShape();
        int order = shape.dimension();
        if (order < 2) {
            throw new IllegalArgumentException(
                    "the input must be a matrix or a batch of matrices, but had shape " + shape);
        }
        int[] matrixAxes = {order - 2, order - 1};
        boolean tall = shape.get(order - 2) > shape.get(order - 1);
        try (Workspace ws = new Workspace(owner, g)) {
            NDArray norm = g.square().sum(matrixAxes, true).sqrt();
            NDArray x = g.div(norm.addi(epsilon));
            for (int k = 0; k < steps; k++) {
                NDArray next = step(x, matrixAxes, tall, ws.manager());
                x.close();
                x = next;
            }
            return ws.keep(x, owner);
        }
    }

    /**
     * One step: \( X \mapsto a X + (b A + c A^2) X \) with \( A = X X^\top \), or, for a tall X, \(
     * X \mapsto a X + X (b A + c A^2) \) with \( A = X^\top X \) (the same step on \( X^\top \),
     * transposed back); temporaries freed.
     */
    private NDArray step(NDArray x, int[] matrixAxes, boolean tall, NDManager scope) {
        try (NDManager temporaries = scope.newSubManager()) {
            temporaries.tempAttachAll(x);
            NDArray transposed = x.swapAxes(matrixAxes[0], matrixAxes[1]);
            NDArray gram = tall ? transposed.matMul(x) : x.matMul(transposed);
            NDArray polynomial = gram.matMul(gram).muli(c);
            polynomial.addi(gram.muli(b));
            NDArray next = tall ? x.matMul(polynomial) : polynomial.matMul(x);
            next.addi(x.mul(a));
            next.attach(scope);
            return next;
        }
    }

    /**
     * Returns what the iteration does to one normalised singular value: \( f(s) = p^{(k)}(s) \),
     * the quintic applied {@code steps} times, in float64.
     *
     * @param s a normalised singular value \( \sigma / (\|G\|_F + \epsilon) \)
     * @return f(s), the corresponding singular value of the result
     */
    public double singularValueMap(double s) {
        double x = s;
        for (int k = 0; k < steps; k++) {
            double x2 = x * x;
            x = x * (a + x2 * (b + c * x2));
        }
        return x;
    }

    /**
     * Returns a.
     *
     * @return the linear coefficient
     */
    public double a() {
        return a;
    }

    /**
     * Returns b.
     *
     * @return the cubic coefficient
     */
    public double b() {
        return b;
    }

    /**
     * Returns c.
     *
     * @return the quintic coefficient
     */
    public double c() {
        return c;
    }

    /**
     * Returns the number of steps.
     *
     * @return the steps
     */
    public int steps() {
        return steps;
    }

    /**
     * Returns \( \epsilon \).
     *
     * @return the epsilon added to the Frobenius norm
     */
    public double epsilon() {
        return epsilon;
    }
}
