package io.github.so4j.bench.reproduce;

import io.github.so4j.bench.compare.Comparison;
import io.github.so4j.bench.compare.RunResult;
import io.github.so4j.bench.optimizer.OptimizerCatalog;
import io.github.so4j.bench.report.OptimizerSummary;
import io.github.so4j.bench.workload.Workload;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The M-FAC paper's optimizer comparison, at Fashion-MNIST scale: M-FAC against SGD with momentum
 * and Adam on the MLP classifier, two epochs, three seeds, each optimizer with its harness defaults
 * (M-FAC: m = 32, damping 1e-4, learning rate 0.008).
 *
 * <p>Verdict ({@link #verdict}): on the mean test accuracy over the seeds that did not diverge,
 * reproduced when M-FAC is at most {@value #TOLERANCE_PP} percentage points below the better of SGD
 * and Adam, partly reproduced when it is at most that far below the other one, not reproduced
 * otherwise (or when every M-FAC seed diverged).
 */
final class MfacOptimizerRecipe implements Recipe {

    /** How far below a baseline's mean test accuracy M-FAC's may be and still match it. */
    static final double TOLERANCE_PP = 0.25;

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
        List<RunResult> results =
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
                                context.progress(),
                                false)
                        .run(context.device(), context.stdout());
        verdict(results).report(context, context.out().resolve("report.html"));
    }

    /**
     * Decides the verdict from a comparison's runs of sgd, adam and mfac.
     *
     * @param results the runs (every seed of the three optimizers)
     * @return the verdict
     * @throws IllegalArgumentException if one of the three optimizers has no run
     */
    static Verdict verdict(List<RunResult> results) {
        List<OptimizerSummary> summaries = OptimizerSummary.of(results);
        OptimizerSummary sgd = find(summaries, "sgd");
        OptimizerSummary adam = find(summaries, "adam");
        OptimizerSummary mfac = find(summaries, "mfac");
        double m = accuracy(mfac);
        double best = Math.max(accuracy(sgd), accuracy(adam));
        double other = Math.min(accuracy(sgd), accuracy(adam));
        if (Double.isNaN(accuracy(sgd)) || Double.isNaN(accuracy(adam))) {
            // a baseline that diverged on every seed leaves the other as both
            best = Double.isNaN(accuracy(sgd)) ? accuracy(adam) : accuracy(sgd);
            other = best;
        }
        Verdict.Outcome outcome =
                Verdict.Outcome.of(m >= best - TOLERANCE_PP, m >= other - TOLERANCE_PP);
        String measured =
                String.format(
                        Locale.ROOT,
                        "mean test accuracy over %d seeds, %d steps of batch %d: M-FAC %s, SGD %s,"
                                + " Adam %s; final training loss M-FAC %s, SGD %s, Adam %s",
                        mfac.runs().size(),
                        mfac.runs().get(0).steps(),
                        mfac.runs().get(0).batchSize(),
                        percent(m),
                        percent(accuracy(sgd)),
                        percent(accuracy(adam)),
                        loss(mfac),
                        loss(sgd),
                        loss(adam));
        return new Verdict(
                "Used as an optimizer, M-FAC reaches test accuracy at least as high as tuned"
                        + " first-order methods, SGD with momentum and Adam, in the same number of"
                        + " epochs (Frantar, Kurtic and Alistarh, \"M-FAC: Efficient Matrix-Free"
                        + " Approximations of Second-Order Information\", NeurIPS 2021).",
                measured,
                outcome,
                String.format(
                        Locale.ROOT,
                        "mean test accuracy over the seeds that did not diverge: reproduced when"
                                + " M-FAC's is at most %.2f percentage points below the better of"
                                + " SGD's and Adam's, partly reproduced when at most %.2f below"
                                + " the other one's, not reproduced otherwise or when every M-FAC"
                                + " seed diverged.",
                        TOLERANCE_PP,
                        TOLERANCE_PP));
    }

    private static OptimizerSummary find(List<OptimizerSummary> summaries, String optimizer) {
        return summaries.stream()
                .filter(s -> s.optimizer().equals(optimizer))
                .findFirst()
                .orElseThrow(
                        () -> new IllegalArgumentException("no run of " + optimizer + " given"));
    }

    /** The mean test accuracy in percent over the seeds that did not diverge, NaN if none. */
    private static double accuracy(OptimizerSummary s) {
        return 100 * s.converged(RunResult::testAccuracy).mean();
    }

    private static String percent(double value) {
        return Double.isNaN(value) ? "diverged" : String.format(Locale.ROOT, "%.2f%%", value);
    }

    private static String loss(OptimizerSummary s) {
        double mean = s.converged(RunResult::finalTrainLoss).mean();
        return Double.isNaN(mean) ? "diverged" : String.format(Locale.ROOT, "%.4f", mean);
    }
}
