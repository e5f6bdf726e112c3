package io.github.so4j.bench.report;

import io.github.so4j.bench.compare.RunResult;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Writes {@code report.html}: the settings, the table, the plots and links to every file of the
 * comparison with each run's state bytes, in one self-explaining page (no scripts, no external
 * resources).
 */
public final class HtmlReport {

    private HtmlReport() {}

    /**
     * Writes the report.
     *
     * @param directory the output folder
     * @param heading what was compared, one line
     * @param environment the machine and versions, one line
     * @param table the plain-text table
     * @param results the runs
     * @param plots the PNG files to show
     * @return the file written
     * @throws IOException if it cannot be written
     */
    public static Path write(
            Path directory,
            String heading,
            String environment,
            String table,
            List<RunResult> results,
            List<Path> plots)
            throws IOException {
        StringBuilder html = new StringBuilder();
        html.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
                .append("<title>so4j compare</title><style>")
                .append("body{font-family:sans-serif;max-width:1000px;margin:2em auto;}")
                .append("pre{background:#f6f6f6;padding:1em;overflow-x:auto;}")
                .append("img{max-width:100%;border:1px solid #ddd;margin:0.5em 0;}")
                .append("</style></head><body>\n");
        html.append("<h1>so4j compare</h1>\n<p>").append(escape(heading)).append("</p>\n");
        html.append("<p><small>").append(escape(environment)).append("</small></p>\n");
        html.append("<h2>Results</h2>\n<pre>").append(escape(table)).append("</pre>\n");
        html.append("<p><small>state MiB: the optimizer's state after the last step (moments,")
                .append(" momentum buffers, windows, factors, inverses, bases; not the weights nor")
                .append(" the gradients), the mean over the seeds; each run's bytes are below and")
                .append(" in summary.json (state_bytes).</small></p>\n");
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

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
