package io.github.so4j.bench.jmh;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Devices;
import io.github.so4j.curvature.mfac.SlidingWindowFisher;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * M-FAC's dynamic algorithm: the product \( F^{-1} x \) (reads the m x d window twice) and the
 * optimizer's hot path, add-then-multiply (reads it twice and inverts an m x m matrix), beside a
 * plain sum over an m x d array of the same size (reads it once): the bandwidth baseline of the
 * same run. Bytes per second: 2md x 4 / time for the window operations, md x 4 / time for the sum.
 * Float32 gradients with entries N(0, 1/d), damping 1e-4, the window full.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class BenchmarkSlidingWindowFisher {

    /** The dimension d. */
    @Param({"100000", "1000000", "4000000"})
    public int dimension;

    /** The window size m. */
    @Param({"16", "64", "128", "256", "1024"})
    public int window;

    private NDManager manager;
    private SlidingWindowFisher fisher;
    private NDArray vector;
    private NDArray same;

    /** Fills a window with m gradients (skipped where it would not fit in 24 GiB). */
    @Setup(Level.Trial)
    public void setUp() {
        if ((long) dimension * window * 4 > 8L << 30) {
            throw new IllegalStateException(
                    "skipped: a " + window + " x " + dimension + " float32 window exceeds 8 GiB");
        }
        manager = NDManager.newBaseManager(Devices.preferred());
        fisher = new SlidingWindowFisher(manager, dimension, window, 1e-4);
        float scale = (float) (1 / Math.sqrt(dimension));
        for (int i = 0; i < window; i++) {
            try (NDArray g =
                    manager.randomNormal(0, scale, new Shape(dimension), DataType.FLOAT32)) {
                fisher.add(g);
            }
        }
        vector = manager.randomNormal(0, scale, new Shape(dimension), DataType.FLOAT32);
        same = manager.randomNormal(0, 1, new Shape(window, dimension), DataType.FLOAT32);
    }

    /** Frees everything. */
    @TearDown(Level.Trial)
    public void tearDown() {
        if (manager != null) {
            manager.close();
        }
    }

    /**
     * \( F^{-1} x \).
     *
     * @return an element of the result, so that nothing is optimised away
     */
    @Benchmark
    public float inverseTimes() {
        try (NDArray result = fisher.inverseTimes(vector)) {
            return result.getFloat(0);
        }
    }

    /**
     * Add a gradient, then \( F^{-1} g \) with the new window.
     *
     * @return an element of the result
     */
    @Benchmark
    public float addAndInverseTimes() {
        try (NDArray result = fisher.addAndInverseTimes(vector)) {
            return result.getFloat(0);
        }
    }

    /**
     * The baseline: the sum of an m x d array, one read of as many bytes as the window.
     *
     * @return the sum
     */
    @Benchmark
    public float reduction() {
        try (NDArray sum = same.sum()) {
            return sum.getFloat();
        }
    }
}
