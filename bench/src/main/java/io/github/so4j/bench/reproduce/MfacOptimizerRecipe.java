package io.github.so4j.bench.reproduce;

import io.github.so4j.bench.compare.Comparison;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.workload.Workload;
import java.util.List;
import java.util.Map;

/**
 * The M-FAC paper's optimizer comparison, at Fashion-MNIST scale: M-FAC against SGD with momentum
 * and Adam on the MLP classifier, two epochs, three seeds, each optimizer with its harness defaults
 * (M-FAC: m = 32, damping 1e-4, learning rate 0.008).
 */
final class MfacOptimizerRecipe implements Recipe {

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "mfac-optimizer";
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return "M-FAC paper: M-FAC against SGD and Adam on the Fashion-MNIST classifier";
    }

    /** {@inheritDoc} */
    @Override
    public void run(RecipeContext context) throws Exception {
        OptimizerCatalog catalog = new OptimizerCatalog();
        List<OptimizerCatalog.Entry> optimizers =
                List.of(catalog.get("sgd"), catalog.get("adam"), catalog.get("mfac"));
        new Comparison(
                        Workload.MLP,
                        optimizers,
                        Map.of(),
                        2 * 469,
                        128,
                        0,
                        3,
                        50,
                        10,
                        Workload.MLP.targetLoss(),
                        context.data(),
                        null,
                        context.out(),
                        context.progress())
                .run(context.device(), context.stdout());
    }
}
