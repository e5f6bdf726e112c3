package io.github.so4j.curvature;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import java.util.List;

/**
 * Finiteness decided on the device: so4j's one test for NaN and infinities.
 *
 * <p>A probe of an array x is \( \sum_i (x_i - x_i) \), a float32 scalar that is 0 when every entry
 * is finite and NaN otherwise (\( \pm\infty - \pm\infty \) is NaN). No Java number enters the
 * computation: DJL copies every such number to the device, which synchronises a GPU. {@link #ofSum}
 * is the cheaper probe for large arrays: the sum itself (no temporary the size of the array),
 * non-finite also when finite entries sum beyond float32's range, which a caller must treat as
 * trouble anyway. {@link #flag} turns probes into a boolean scalar on the device, which masks state
 * updates without a host read; {@link HostReads#toBoolean} reads it where a decision must be made
 * on the host.
 */
public final class Finite {

    private Finite() {}

    /**
     * Returns the probe of an array: 0 if every entry is finite, NaN otherwise.
     *
     * @param array the array. Not modified.
     * @return a float32 scalar, owned by {@code array}'s manager
     */
    public static NDArray probe(NDArray array) {
        return array.sub(array).sum().toType(DataType.FLOAT32, false);
    }

    /**
     * Returns the cheaper probe: the sum, non-finite when an entry is or when the sum overflows.
     *
     * @param array the array. Not modified.
     * @return a float32 scalar, owned by {@code array}'s manager
     */
    public static NDArray ofSum(NDArray array) {
        NDArray sum = array.sum().toType(DataType.FLOAT32, false);
        return sum.sub(sum);
    }

    /**
     * Returns whether every probed array was finite, as a boolean scalar on the device.
     *
     * @param probes probes from {@link #probe} or {@link #ofSum}, at least one. Not modified.
     * @return a boolean scalar, owned by the first probe's manager
     */
    public static NDArray flag(List<NDArray> probes) {
        if (probes.isEmpty()) {
            throw new IllegalArgumentException("probes must not be empty");
        }
        NDArray total =
                probes.size() == 1 ? probes.get(0) : NDArrays.stack(new NDList(probes)).sum();
        return total.isNaN().logicalNot();
    }

    /**
     * Returns whether every array's sum is finite, as a boolean scalar on the device: false when an
     * entry is NaN or infinite, and (a false alarm that a caller must treat as trouble anyway) when
     * an array's finite entries sum beyond its dtype's range. The cheapest test of many arrays: one
     * reduction per array, then a handful of operations on scalars.
     *
     * @param arrays the arrays, at least one. Not modified.
     * @return a boolean scalar, owned by the first array's manager
     */
    public static NDArray ofSums(List<NDArray> arrays) {
        if (arrays.isEmpty()) {
            throw new IllegalArgumentException("arrays must not be empty");
        }
        NDList sums = new NDList(arrays.size());
        for (NDArray a : arrays) {
            sums.add(a.sum());
        }
        NDArray total =
                (sums.size() == 1 ? sums.head() : NDArrays.stack(sums))
                        .toType(DataType.FLOAT64, false)
                        .sum();
        return total.sub(total).isNaN().logicalNot();
    }

    /**
     * Returns whether every entry of an array is finite, as a boolean scalar on the device.
     *
     * @param array the array. Not modified.
     * @return a boolean scalar, owned by {@code array}'s manager
     */
    public static NDArray flag(NDArray array) {
        return probe(array).isNaN().logicalNot();
    }
}
