package io.github.so4j.curvature.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import java.util.List;

/**
 * Checks many arrays for NaN and infinities with one host synchronisation.
 *
 * <p>A probe is \( \sum_i 0 \cdot x_i \): zero when every entry is finite and NaN otherwise (\( 0
 * \cdot \pm\infty \) is NaN), computed on the device, or for large arrays the plain sum ({@link
 * #ofSum}); {@link #resolve} stacks the probes and reads them at once.
 */
public final class FiniteProbe {

    private FiniteProbe() {}

    /**
     * Returns the probe of an array.
     *
     * @param array the array. Not modified.
     * @return a float32 scalar, 0 or NaN, owned by {@code array}'s manager
     */
    public static NDArray of(NDArray array) {
        return array.mul(0).sum().toType(DataType.FLOAT32, false);
    }

    /**
     * Returns a cheaper probe for large arrays, the sum itself: NaN or infinite when an entry is,
     * and also (a false alarm) when finite entries sum beyond the type's range. It reads the array
     * once and allocates nothing the size of it.
     *
     * @param array the array. Not modified.
     * @return a float32 scalar, finite or not, owned by {@code array}'s manager
     */
    public static NDArray ofSum(NDArray array) {
        return array.sum().toType(DataType.FLOAT32, false);
    }

    /**
     * Reads probes with one host synchronisation.
     *
     * @param probes probes made by {@link #of}. Not modified.
     * @return for each probe, whether its array was finite
     */
    public static boolean[] resolve(List<NDArray> probes) {
        boolean[] finite = new boolean[probes.size()];
        if (probes.isEmpty()) {
            return finite;
        }
        NDList list = new NDList(probes);
        try (NDArray stacked = NDArrays.stack(list)) {
            float[] values = stacked.toFloatArray();
            for (int i = 0; i < values.length; i++) {
                finite[i] = Float.isFinite(values[i]);
            }
        }
        return finite;
    }
}
