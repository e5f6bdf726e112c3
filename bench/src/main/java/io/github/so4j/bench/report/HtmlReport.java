package io.github.so4j.bench.report;

import io.github.so4j.bench.compare.RunResult;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Writes {@code report.html}: the settings, the results as an HTML table (the rows of {@link
 * ResultTable}, one per optimizer, with the notes under it), the plots and links to every file of
 * the comparison with each run's state bytes, in one self-explaining page (no scripts, no external
 * resources). The table sits in a box that scrolls sideways if a window is narrower than it, so no
 * column is ever cut off; its header cells may wrap, its data cells do not.
 */
public final class HtmlReport {

    /** Where {@link #insertSection} puts a section: right after the results table. */
    static final String SECTIONS = "<!-- sections -->\n";

    private HtmlReport() {}

    /**
     * Writes the report.
     *
     * @param directory the output folder
     * @param heading what was compared, one line
     * @param environment the machine and versions, one line
     * @param results the runs
     * @param plots the PNG files to show
     * @return the file written
     * @throws IOException if it cannot be written
     */
    public static Path write(
            Path directory,
            String heading,
            String environment,
            List<RunResult> results,
            List<Path> plots)
            throws IOException {
        StringBuilder html = new StringBuilder();
        html.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
                .append("<title>so4j compare</title><style>")
                .append("body{font-family:sans-serif;max-width:1200px;margin:2em auto;")
                .append("padding:0 1em;}")
                .append(".scroll{overflow-x:auto;}")
                .append("table{border-collapse:collapse;font-size:13px;}")
                .append("th,td{padding:3px 6px;border-bottom:1px solid #ddd;}")
                .append("th{background:#f6f6f6;text-align:center;vertical-align:bottom;}")
                .append("td{white-space:nowrap;text-align:right;}")
                .append("td.text{text-align:left;}")
                .append("img{max-width:100%;border:1px solid #ddd;margin:0.5em 0;}")
                .append("</style></head><body>\n");
        html.append("<h1>so4j compare</h1>\n<p>").append(escape(heading)).append("</p>\n");
        html.append("<p><small>").append(escape(environment)).append("</small></p>\n");
        html.append("<h2>Results</h2>\n").append(table(ResultTable.of(results)));
        html.append("<p><small>state MiB: the optimizer's state after the last step (moments,")
                .append(" momentum buffers, windows, factors, inverses, bases; not the weights nor")
                .append(" the gradients), the mean over the seeds; each run's bytes are below and")
                .append(" in summary.json (state_bytes).</small></p>\n");
        html.append(SECTIONS);
        html.append("<h2>Curves</h2>\n");
        for (Path plot : plots) {
            String name = plot.getFileName().toString();
            html.append("<p><img src=\"")
                    .append(name)
                    .append("\" alt=\"")
                    .append(name)
                    .append("\"></p>\n");
        }
        html.append("<h2>Files</h2>\n<ul>\n<li><a href=\"summary.json\">summary.json</a></li>\n");
        for (RunResult r : results) {
            html.append("<li>")
                    .append(escape(r.optimizer() + " seed " + r.seed() + " (" + r.settings() + ")"))
                    .append(": <a href=\"")
                    .append(ResultFiles.curveFileName(r))
                    .append("\">loss curve</a>, <a href=\"")
                    .append(ResultFiles.evalFileName(r))
                    .append("\">evaluations</a>")
                    .append(r.stateBytes() < 0 ? "" : ", state " + r.stateBytes() + " bytes")
                    .append("</li>\n");
        }
        html.append("</ul>\n</body></html>\n");
        Path file = directory.resolve("report.html");
        Files.writeString(file, html, StandardCharsets.UTF_8);
        return file;
    }

    /**
     * Renders a table: an HTML table with one header cell per column and one row per optimizer, the
     * first two columns (names) left-aligned, the numbers right-aligned, then the notes.
     *
     * @param table the cells
     * @return the HTML
     */
    static String table(ResultTable.Table table) {
        StringBuilder html = new StringBuilder("<div class=\"scroll\"><table>\n<thead><tr>");
        for (String name : table.header()) {
            html.append("<th>").append(escape(name)).append("</th>");
        }
        html.append("</tr></thead>\n<tbody>\n");
        for (List<String> row : table.rows()) {
            html.append("<tr>");
            for (int c = 0; c < row.size(); c++) {
                html.append(c < 2 ? "<td class=\"text\">" : "<td>")
                        .append(escape(row.get(c)))
                        .append("</td>");
            }
            html.append("</tr>\n");
        }
        html.append("</tbody></table></div>\n");
        for (String note : table.notes()) {
            html.append("<p><small>").append(escape(note)).append("</small></p>\n");
        }
        return html.toString();
    }

    /**
     * Adds a section (such as a recipe's verdict) to a written report, right after its results
     * table.
     *
     * @param report the {@code report.html} written by {@link #write}
     * @param section the section's HTML
     * @throws IOException if the report cannot be read or written
     * @throws IllegalArgumentException if the file is not such a report
     */
    public static void insertSection(Path report, String section) throws IOException {
        String html = Files.readString(report, StandardCharsets.UTF_8);
        int at = html.indexOf(SECTIONS);
        if (at < 0) {
            throw new IllegalArgumentException(report + " has no place for sections");
        }
        Files.writeString(
                report,
                html.substring(0, at) + section + html.substring(at),
                StandardCharsets.UTF_8);
    }

    /**
     * Escapes text for HTML.
     *
     * @param text the text
     * @return the text with {@code &}, {@code <}, {@code >} and {@code "} escaped
     */
    public static String escape(String text) {
        return text.replace("&", "&amp;")
                .replace("<", "&lt;")
                .replace(">", "&gt;")
                .replace("\"", "&quot;");
    }
}
