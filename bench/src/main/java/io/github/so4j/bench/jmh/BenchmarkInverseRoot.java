package io.github.so4j.bench.jmh;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Devices;
import io.github.so4j.curvature.linalg.CoupledNewtonInverseRoot;
import io.github.so4j.curvature.linalg.EigenInverseRoot;
import io.github.so4j.curvature.linalg.InverseRootMethod;
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
 * One inverse fourth root \( (A + 10^{-6} \lambda_{\max} I)^{-1/4} \) of an n x n Shampoo-like
 * statistic, by the device's coupled Newton iteration in float32 ({@code newton}) against the
 * host's float64 eigendecomposition with Commons Math ({@code eigen}, including the copies to and
 * from the host): the cost that {@code preconditionFrequency} amortizes.
 *
 * <p>The statistic is \( G G^\top \) for a seeded n x n/2 Gaussian G: rank n/2, so that the ridge
 * sets the condition number to \( 10^6 \), the worst case of a young statistic (about 20 Newton
 * steps of 4 products, 80 n<sup>3</sup> multiply-adds; the eigendecomposition costs about 9
 * n<sup>3</sup> flops in Java). The host method is skipped above n = 1024, where one call takes
 * over a minute.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class BenchmarkInverseRoot {

    /** The matrix size n. */
    @Param({"64", "128", "256", "512", "1024", "2048"})
    public int size;

    /** {@code newton} (device, float32) or {@code eigen} (host, float64). */
    @Param({"newton", "eigen"})
    public String method;

    private NDManager manager;
    private NDArray statistic;
    private InverseRootMethod inverseRoot;

    /** Builds the statistic (skipped for the host method above n = 1024). */
    @Setup(Level.Trial)
    public void setUp() {
        if ("eigen".equals(method) && size > 1024) {
            throw new IllegalStateException(
                    "skipped: a host eigendecomposition of "
                            + size
                            + " x "
                            + size
                            + " takes over a minute");
        }
        inverseRoot =
                switch (method) {
                    case "newton" -> new CoupledNewtonInverseRoot();
                    case "eigen" -> new EigenInverseRoot();
                    default ->
                            throw new IllegalArgumentException(
                                    "method must be newton or eigen, but was " + method);
                };
        manager = NDManager.newBaseManager(Devices.preferred());
        Engine.getInstance().setRandomSeed(0);
        try (NDManager scope = manager.newSubManager()) {
            NDArray g = scope.randomNormal(0, 1, new Shape(size, size / 2), DataType.FLOAT32);
            statistic = g.matMul(g.transpose()).reshape(1, size, size);
            statistic.attach(manager);
        }
    }

    /** Frees everything. */
    @TearDown(Level.Trial)
    public void tearDown() {
        if (manager != null) {
            manager.close();
        }
    }

    /**
     * One inverse fourth root.
     *
     * @return an entry of the root, so that nothing is optimised away
     */
    @Benchmark
    public float inverseRoot() {
        try (NDManager scope = manager.newSubManager()) {
            return inverseRoot.compute(statistic, 4, 1e-6, scope).roots().getFloat(0, 0, 0);
        }
    }
}
