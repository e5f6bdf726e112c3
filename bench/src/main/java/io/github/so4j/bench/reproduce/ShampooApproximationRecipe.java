package io.github.so4j.bench.reproduce;

import ai.djl.ndarray.NDManager;
import ai.djl.training.dataset.Dataset;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.study.KroneckerApproximation;
import io.github.so4j.bench.study.ShampooApproximationStudy;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Locale;

/**
 * The approximation-quality study of "A New Perspective on Shampoo's Preconditioner" (Morwani et
 * al.) at small scale: {@link ShampooApproximationStudy} with its default settings (an MLP
 * 784-32-16-10 trained by Adam for 500 steps of 128; every 50 steps, the cosine similarity of the
 * exact full-matrix AdaGrad statistic of the second and third layers to Shampoo's (L⊗R)^1/2, the
 * optimal Kronecker product and the one-step L⊗R). Writes {@code shampoo-approximation.md} and
 * {@code .csv}; the table in docs/shampoo-approximation.md came from this recipe.
 */
final class ShampooApproximationRecipe implements Recipe {

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "shampoo-approximation";
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return "A New Perspective on Shampoo's Preconditioner: approximation quality table";
    }

    /** {@inheritDoc} */
    @Override
    public void run(RecipeContext context) throws Exception {
        List<ShampooApproximationStudy.Row> rows;
        try (NDManager manager = NDManager.newBaseManager(context.device())) {
            FashionMnistDataset train =
                    FashionMnistDataset.builder()
                            .setManager(manager)
                            .optDirectory(context.data())
                            .optUsage(Dataset.Usage.TRAIN)
                            .optFlatten(true)
                            .optSeed(0)
                            .setSampling(128, true)
                            .build();
            train.prepare();
            rows =
                    ShampooApproximationStudy.run(
                            ShampooApproximationStudy.Settings.DEFAULT, train, context.device());
        }
        String table = ShampooApproximationStudy.markdown(rows);
        Files.writeString(
                context.out().resolve("shampoo-approximation.md"), table, StandardCharsets.UTF_8);
        try (Writer csv =
                Files.newBufferedWriter(
                        context.out().resolve("shampoo-approximation.csv"),
                        StandardCharsets.UTF_8)) {
            csv.write("step,layer,batch_loss,shampoo,optimal,one_step,power_iterations\n");
            for (ShampooApproximationStudy.Row row : rows) {
                KroneckerApproximation.Cosines c = row.cosines();
                csv.write(
                        String.format(
                                Locale.ROOT,
                                "%d,%s,%.6f,%.6f,%.6f,%.6f,%d%n",
                                row.step(),
                                row.layer(),
                                row.trainLoss(),
                                c.shampoo(),
                                c.optimal(),
                                c.oneStep(),
                                c.powerIterations()));
            }
        }
        context.stdout().print(table);
        context.stdout()
                .println(
                        "wrote "
                                + context.out().resolve("shampoo-approximation.md")
                                + " and shampoo-approximation.csv");
        context.stdout().flush();
    }
}
