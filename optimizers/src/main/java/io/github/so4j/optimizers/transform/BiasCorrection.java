package io.github.so4j.optimizers.transform;

import ai.djl.ndarray.NDArray;

/** \( 1 - \beta^t \) on the device, for the moments' bias corrections. */
final class BiasCorrection {

    private BiasCorrection() {}

    /**
     * Returns \( 1 - \beta^t = 1 - e^{t \ln \beta} \).
     *
     * @param beta \( \beta \) in (0, 1); 0 gives 1
     * @param index t, a float32 scalar on the device
     * @return a float32 scalar owned by {@code index}'s manager
     */
    static NDArray of(float beta, NDArray index) {
        if (beta == 0) {
            return index.onesLike();
        }
        return index.mul(Math.log(beta)).exp().neg().add(1);
    }
}
