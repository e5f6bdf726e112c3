package io.github.so4j.bench.reproduce;

import io.github.so4j.bench.compare.Comparison;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.workload.Workload;
import java.util.List;
import java.util.Map;

/**
 * The K-FAC paper's deep autoencoder figures (training error against iterations and against time),
 * at the scale of a 2-core CPU: the autoencoder workload (784-1000-500-250-30-250-500-1000-784,
 * sigmoid units, sigmoid cross-entropy averaged over pixels) on Fashion-MNIST, 300 steps of batch
 * 128, seed 0, K-FAC against SGD with momentum and Adam, each with its harness defaults. The plots
 * {@code loss_vs_steps.png} and {@code loss_vs_seconds.png} are the two figures.
 */
final class KfacAutoencoderRecipe implements Recipe {

    private static final int STEPS = 300;

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "kfac-autoencoder";
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return "K-FAC paper: deep autoencoder training error against iterations and time, K-FAC"
                + " vs SGD with momentum and Adam";
    }

    /** {@inheritDoc} */
    @Override
    public void run(RecipeContext context) throws Exception {
        OptimizerCatalog catalog = new OptimizerCatalog();
        List<OptimizerCatalog.Entry> optimizers =
                List.of(catalog.get("sgd"), catalog.get("adam"), catalog.get("kfac"));
        new Comparison(
                        Workload.AUTOENCODER,
                        optimizers,
                        Map.of(),
                        STEPS,
                        128,
                        0,
                        1,
                        10,
                        5,
                        Workload.AUTOENCODER.targetLoss(),
                        context.data(),
                        null,
                        context.out(),
                        context.progress())
                .run(context.device(), context.stdout());
    }
}
