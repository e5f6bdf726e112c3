package io.github.so4j.optimizers.transform;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * \( 1 - \beta^t \) on the device, for the moments' bias corrections, in float64: rounding \(
 * \beta^t \) to float32 first would cost up to half an ulp of \( \beta \), relative to \( 1 -
 * \beta^t \) (3e-5 at \( \beta = 0.999 \), t = 1); in float64 the one rounding left is the array's
 * own when the scalar is applied.
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
}
