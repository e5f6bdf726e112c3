package io.github.so4j.bench.study;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.loss.Loss;
import io.github.so4j.curvature.subspace.BatchCurvature;
import io.github.so4j.curvature.subspace.HutchinsonTrace;
import io.github.so4j.curvature.subspace.Lanczos;
import io.github.so4j.curvature.subspace.SpectralDensity;
import io.github.so4j.curvature.subspace.SymmetricOperator;
import io.github.so4j.curvature.subspace.Vectors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Random;

/**
 * The hessian-spectrum recipe (PyHessian): the top eigenvalues, the trace and the spectral density
 * of a model's loss Hessian on a batch, and CSV files to plot them.
 *
 * <p>The Hessian is seen through {@link BatchCurvature} (exact products on PyTorch): {@link
 * Lanczos} gives the top eigenvalues, {@link HutchinsonTrace} the trace with its standard error,
 * {@link SpectralDensity} the density by stochastic Lanczos quadrature.
 *
 * <p><b>Cost</b>: about 2k + 20 products for k eigenvalues, up to {@code traceProbes} products for
 * the trace, {@code densityRuns * densitySteps} products for the density.
 */
public final class HessianSpectrumStudy {

    private HessianSpectrumStudy() {}

    /**
     * What to compute.
     *
     * @param topEigenvalues k, the number of top eigenvalues (PyHessian's top_n)
     * @param traceProbes the most Rademacher probes for the trace (PyHessian: 100)
     * @param densityRuns the SLQ start vectors (PyHessian's n_v: 1)
     * @param densitySteps the Lanczos steps per start vector (PyHessian's iter: 100)
     * @param seed the seed of every random vector
     */
    public record Settings(
            int topEigenvalues, int traceProbes, int densityRuns, int densitySteps, long seed) {

        /**
         * PyHessian's defaults, with the top 5 eigenvalues.
         *
         * @return the settings
         */
        public static Settings pyHessian() {
            return new Settings(5, 100, 1, 100, 0);
        }
    }

    /**
     * The spectrum of one batch Hessian.
     *
     * @param dimension d, the number of trainable parameters
     * @param mode how the products were computed
     * @param eigenvalues the top eigenvalues, largest first
     * @param residuals their Ritz residuals
     * @param trace the trace estimate
     * @param density the spectral density
     */
    public record Result(
            long dimension,
            BatchCurvature.Mode mode,
            double[] eigenvalues,
            double[] residuals,
            HutchinsonTrace.TraceEstimate trace,
            SpectralDensity.Density density) {}

    /**
     * Computes the spectrum of a block's loss Hessian on a batch (the block in inference mode).
     *
     * @param block the trained block
     * @param loss its loss
     * @param data the batch's inputs. Not modified.
     * @param labels the batch's labels. Not modified.
     * @param settings what to compute
     * @return the spectrum
     */
    public static Result run(
            Block block, Loss loss, NDList data, NDList labels, Settings settings) {
        BatchCurvature curvature =
                BatchCurvature.builder()
                        .setBlock(block)
                        .setLoss(loss)
                        .setBatch(data, labels)
                        .build();
        SymmetricOperator hessian = curvature.hessian();
        Random random = new Random(settings.seed());
        NDManager manager = data.head().getManager();
        try (NDManager scope = manager.newSubManager()) {
            NDArray start =
                    Vectors.gaussian(scope, curvature.dimension(), hessian.dataType(), random);
            Lanczos.Eigenpairs top =
                    Lanczos.builder()
                            .optTolerance(1e-3)
                            .build()
                            .eigenpairs(hessian, settings.topEigenvalues(), start, random);
            HutchinsonTrace.TraceEstimate trace =
                    HutchinsonTrace.builder()
                            .optMaxProbes(settings.traceProbes())
                            .build()
                            .estimate(hessian, scope, random);
            SpectralDensity.Density density =
                    SpectralDensity.builder()
                            .optRuns(settings.densityRuns())
                            .optSteps(settings.densitySteps())
                            .build()
                            .estimate(hessian, scope, random);
            return new Result(
                    curvature.dimension(),
                    curvature.mode(),
                    top.values(),
                    top.residuals(),
                    trace,
                    density);
        }
    }

    /**
     * Writes {@code eigenvalues.csv} ({@code rank,eigenvalue,residual}), {@code trace.csv} ({@code
     * trace,standard_error,probes}) and {@code density.csv} ({@code t,density}).
     *
     * @param result the spectrum
     * @param directory the folder, created if missing
     */
    public static void write(Result result, Path directory) {
        try {
            Files.createDirectories(directory);
            StringBuilder eigen = new StringBuilder("rank,eigenvalue,residual\n");
            for (int i = 0; i < result.eigenvalues().length; i++) {
                eigen.append(
                        String.format(
                                Locale.ROOT,
                                "%d,%.9g,%.3g%n",
                                i + 1,
                                result.eigenvalues()[i],
                                result.residuals()[i]));
            }
            Files.writeString(directory.resolve("eigenvalues.csv"), eigen);
            Files.writeString(
                    directory.resolve("trace.csv"),
                    String.format(
                            Locale.ROOT,
                            "trace,standard_error,probes%n%.9g,%.3g,%d%n",
                            result.trace().trace(),
                            result.trace().standardError(),
                            result.trace().probes()));
            StringBuilder density = new StringBuilder("t,density\n");
            double[] grid = result.density().grid();
            for (int i = 0; i < grid.length; i++) {
                density.append(
                        String.format(
                                Locale.ROOT,
                                "%.9g,%.9g%n",
                                grid[i],
                                result.density().density()[i]));
            }
            Files.writeString(directory.resolve("density.csv"), density);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
