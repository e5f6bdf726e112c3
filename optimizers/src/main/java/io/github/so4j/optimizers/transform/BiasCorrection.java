package io.github.so4j.optimizers.transform;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import java.util.HashMap;
import java.util.Map;

/**
 * \( 1 - \beta^t \) on the device, for the moments' bias corrections, in float64: rounding \(
 * \beta^t \) to float32 first would cost up to half an ulp of \( \beta \), relative to \( 1 -
 * \beta^t \) (3e-5 at \( \beta = 0.999 \), t = 1); in float64 the one rounding left is the array's
 * own when the scalar is applied.
 *
 * <p>A {@link Cache} computes each \( 1 - \beta^t \) of one step once for every parameter: 5
 * operations on scalars per distinct \( \beta \) and step, instead of per parameter and moment; it
 * also keeps the step's scalar constants (\( \beta_1 \), \( 1 - \beta_1 \), \( \epsilon \), ...) on
 * the device.
 */
public final class BiasCorrection {

    private BiasCorrection() {}

    /**
     * Returns \( 1 - \beta^t = 1 - e^{t \ln \beta} \).
     *
     * @param beta \( \beta \) in (0, 1); 0 gives 1
     * @param index t, a scalar on the device
     * @return a float64 scalar owned by {@code index}'s manager
     */
    public static NDArray of(float beta, NDArray index) {
        if (beta == 0) {
            return index.toType(DataType.FLOAT64, false).onesLike();
        }
        return index.toType(DataType.FLOAT64, false).mul(Math.log(beta)).exp().neg().add(1);
    }

    /**
     * The bias corrections of one step index, each computed once ({@link #of(float, NDArray)}) and
     * then shared by every parameter and transform of the step.
     */
    public static final class Cache {

        private final NDArray index;
        private final Map<Float, NDArray> corrections = new HashMap<>();
        private final Map<Float, NDArray> constants = new HashMap<>();

        /**
         * Creates an empty cache.
         *
         * @param index t, a scalar on the device; the corrections are owned by its manager
         */
        public Cache(NDArray index) {
            this.index = index;
        }

        /**
         * Returns t.
         *
         * @return the index
         */
        public NDArray index() {
            return index;
        }

        /**
         * Returns \( 1 - \beta^t \), computed at the first call for this \( \beta \).
         *
         * @param beta \( \beta \) in [0, 1)
         * @return a float64 scalar owned by the index's manager; not to be closed or modified
         */
        public NDArray of(float beta) {
            return corrections.computeIfAbsent(beta, b -> BiasCorrection.of(b, index));
        }

        /**
         * Returns a float32 scalar on the index's device, made once per step and value: the array
         * that DJL makes (and frees) at every operation with a Java {@code float}, so that {@code
         * x.mul(constant(c))} equals {@code x.mul(c)} bit for bit, without a host-to-device copy
         * per parameter.
         *
         * @param value the value
         * @return a float32 scalar owned by the index's manager; not to be closed or modified
         */
        public NDArray constant(float value) {
            return constants.computeIfAbsent(value, v -> index.getManager().create(v));
        }
    }
}
