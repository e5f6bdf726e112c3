package io.github.so4j.curvature.testing;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDManager;

/** Counts the arrays a manager (and its sub-managers) holds, for leak tests. */
public final class LiveArrays {

    private LiveArrays() {}

    /**
     * Returns the number of open arrays under a manager.
     *
     * @param manager the manager
     * @return the count, sub-managers included
     */
    public static int count(NDManager manager) {
        return ((BaseNDManager) manager).getManagedArrays().size();
    }
}
