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
 *
 * <p>Verdict ({@link #verdict}), on the cosines of the last report: reproduced when in every layer
 * the one-step L⊗R is within {@value #CLOSE} of the optimal Kronecker product and at least {@value
 * #AHEAD} above Shampoo's (L⊗R)^1/2; partly reproduced when in every layer the one-step L⊗R is
 * above Shampoo's; not reproduced otherwise.
 */
final class ShampooApproximationRecipe implements Recipe {

    /** How far below the optimal Kronecker product's cosine the one-step L⊗R's may be. */
    static final double CLOSE = 0.02;

    /** How far above Shampoo's cosine the one-step L⊗R's must be. */
    static final double AHEAD = 0.05;

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
        Verdict verdict = verdict(rows);
        Files.writeString(
                context.out().resolve("shampoo-approximation.md"),
                table + "\n" + verdict.markdown(),
                StandardCharsets.UTF_8);
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
        verdict.report(context);
    }

    /**
     * Decides the verdict from the study's rows: those of the last reported step, one per layer.
     *
     * @param rows the rows, in any order
     * @return the verdict
     * @throws IllegalArgumentException if there are no rows
     */
    static Verdict verdict(List<ShampooApproximationStudy.Row> rows) {
        if (rows.isEmpty()) {
            throw new IllegalArgumentException("rows must not be empty");
        }
        int last = rows.stream().mapToInt(ShampooApproximationStudy.Row::step).max().orElseThrow();
        boolean close = true;
        boolean ahead = true;
        boolean above = true;
        StringBuilder measured =
                new StringBuilder("cosine similarity to the full-matrix AdaGrad statistic at step ")
                        .append(last)
                        .append(": ");
        String separator = "";
        for (ShampooApproximationStudy.Row row : rows) {
            if (row.step() != last) {
                continue;
            }
            KroneckerApproximation.Cosines c = row.cosines();
            close &= c.optimal() - c.oneStep() <= CLOSE;
            ahead &= c.oneStep() - c.shampoo() >= AHEAD;
            above &= c.oneStep() > c.shampoo();
            measured.append(separator)
                    .append(
                            String.format(
                                    Locale.ROOT,
                                    "%s optimal %.4f, one-step L⊗R %.4f, Shampoo (L⊗R)^1/2 %.4f",
                                    row.layer(),
                                    c.optimal(),
                                    c.oneStep(),
                                    c.shampoo()));
            separator = "; ";
        }
        return new Verdict(
                "The one-step Kronecker approximation L⊗R of the full-matrix AdaGrad statistic"
                        + " (the square of Shampoo's) is close to the optimal Kronecker"
                        + " approximation, and much closer than Shampoo's own (L⊗R)^1/2 (Morwani et"
                        + " al., \"A New Perspective on Shampoo's Preconditioner\", ICLR 2025).",
                measured.toString(),
                Verdict.Outcome.of(close && ahead, above),
                String.format(
                        Locale.ROOT,
                        "cosines at the last reported step: reproduced when in every layer the"
                                + " one-step L⊗R is within %.2f of the optimal Kronecker product"
                                + " and at least %.2f above Shampoo's (L⊗R)^1/2; partly reproduced"
                                + " when in every layer it is above Shampoo's; not reproduced"
                                + " otherwise.",
                        CLOSE,
                        AHEAD));
    }
}
