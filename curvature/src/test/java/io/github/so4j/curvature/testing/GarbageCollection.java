package io.github.so4j.curvature.testing;

/**
 * Runs the garbage collector where a test needs one: between a forward and a backward pass, to show
 * that a recorded graph reads no host memory that the collector frees (DJL's PyTorch engine makes
 * arrays of Java numbers over direct buffers, which the collector's cleaners free).
 */
public final class GarbageCollection {

    private GarbageCollection() {}

    /** Collects garbage and gives the reference handler time to free what was collected. */
    public static void collect() {
        System.gc();
        try {
            Thread.sleep(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
