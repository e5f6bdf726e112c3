package io.github.so4j.bench.reproduce;

import io.github.so4j.bench.report.HtmlReport;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What a recipe concludes: the paper's claim it reproduces, the measured result beside it, and
 * whether the claim is reproduced, partly reproduced or not, decided by a rule that the recipe
 * states and computes from the run's measurements (never fixed in advance).
 *
 * <p>A recipe builds its verdict from its numbers (each recipe has a static {@code verdict(...)}
 * that takes only measurements, so the rule is tested on synthetic ones) and calls {@link #report}:
 * it prints the verdict and writes it to {@code verdict.md} in the output folder; a recipe run
 * through {@link io.github.so4j.bench.compare.Comparison} also adds it to the {@code report.html}
 * that the comparison wrote, as an HTML table right after the results.
 *
 * @param claim the paper's claim, with the paper named, one or two sentences
 * @param measured what this run measured, the numbers the rule looks at
 * @param outcome the verdict
 * @param rule how the verdict follows from the measurements, thresholds included
 */
public record Verdict(String claim, String measured, Outcome outcome, String rule) {

    /** Whether a claim is reproduced. */
    public enum Outcome {
        /** Every part of the claim holds at this scale. */
        REPRODUCED("reproduced"),
        /** Part of the claim holds. */
        PARTLY_REPRODUCED("partly reproduced"),
        /** The claim does not hold at this scale. */
        NOT_REPRODUCED("not reproduced");

        private final String label;

        Outcome(String label) {
            this.label = label;
        }

        /**
         * Returns the outcome in words.
         *
         * @return such as {@code partly reproduced}
         */
        public String label() {
            return label;
        }

        /**
         * Decides an outcome from a rule's two tests.
         *
         * @param full whether the whole claim holds
         * @param part whether part of it holds
         * @return reproduced if {@code full}, else partly reproduced if {@code part}, else not
         */
        public static Outcome of(boolean full, boolean part) {
            if (full) {
                return REPRODUCED;
            }
            return part ? PARTLY_REPRODUCED : NOT_REPRODUCED;
        }
    }

    /**
     * Checks the verdict.
     *
     * @param claim the paper's claim
     * @param measured what this run measured
     * @param outcome the verdict
     * @param rule how the verdict follows from the measurements
     * @throws IllegalArgumentException naming the field if a text is null or blank or the outcome
     *     is null
     */
    public Verdict {
        require("claim", claim);
        require("measured", measured);
        require("rule", rule);
        if (outcome == null) {
            throw new IllegalArgumentException("outcome must be given, but was null");
        }
    }

    private static void require(String name, String value) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException(
                    name + " must be a sentence, but was " + (value == null ? "null" : "blank"));
        }
    }

    /**
     * Returns the verdict as plain text, four lines: verdict, claim, measured, rule.
     *
     * @return the text, lines ending in {@code \n}
     */
    public String text() {
        return "verdict: "
                + outcome.label()
                + "\nclaim: "
                + claim
                + "\nmeasured: "
                + measured
                + "\nrule: "
                + rule
                + "\n";
    }

    /**
     * Returns the verdict as a Markdown section with a two-column table.
     *
     * @return the Markdown
     */
    public String markdown() {
        return "## Verdict: "
                + outcome.label()
                + "\n\n| | |\n| --- | --- |\n| claim | "
                + cell(claim)
                + " |\n| measured | "
                + cell(measured)
                + " |\n| verdict | **"
                + outcome.label()
                + "** |\n| rule | "
                + cell(rule)
                + " |\n";
    }

    private static String cell(String text) {
        return text.replace("|", "\\|").replace("\n", " ");
    }

    /**
     * Returns the verdict as an HTML section: a heading and a table of claim, measured, verdict and
     * rule.
     *
     * @return the HTML
     */
    public String html() {
        return "<h2>Verdict: "
                + HtmlReport.escape(outcome.label())
                + "</h2>\n<table>\n<tr><th>claim</th><td class=\"text\" style=\"white-space:normal\">"
                + HtmlReport.escape(claim)
                + "</td></tr>\n<tr><th>measured</th><td class=\"text\""
                + " style=\"white-space:normal\">"
                + HtmlReport.escape(measured)
                + "</td></tr>\n<tr><th>verdict</th><td class=\"text\"><b>"
                + HtmlReport.escape(outcome.label())
                + "</b></td></tr>\n<tr><th>rule</th><td class=\"text\""
                + " style=\"white-space:normal\">"
                + HtmlReport.escape(rule)
                + "</td></tr>\n</table>\n";
    }

    /**
     * Prints the verdict and writes it to {@code verdict.md} in the output folder.
     *
     * @param context the recipe's context (its output folder and standard output)
     * @throws IOException if the file cannot be written
     */
    public void report(RecipeContext context) throws IOException {
        context.stdout().println();
        context.stdout().print(text());
        context.stdout().flush();
        Files.writeString(context.out().resolve("verdict.md"), markdown(), StandardCharsets.UTF_8);
    }

    /**
     * Prints the verdict, writes it to {@code verdict.md} and adds it to a report that the recipe
     * has just written (right after its results table).
     *
     * @param context the recipe's context (its output folder and standard output)
     * @param htmlReport the {@code report.html} the recipe's comparison wrote
     * @throws IOException if a file cannot be read or written
     */
    public void report(RecipeContext context, Path htmlReport) throws IOException {
        report(context);
        HtmlReport.insertSection(htmlReport, html());
    }
}
