package io.github.so4j.bench.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.so4j.bench.compare.RunResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HtmlReportTest {

    @TempDir Path out;

    private static int count(String text, String pattern) {
        Matcher m = Pattern.compile(pattern).matcher(text);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }

    /**
     * The results are an HTML table, not a preformatted block: one header cell per column of the
     * plain-text table (vs adam and the last columns included), one row per optimizer with a cell
     * per column, every cell's text as the plain table has it; it scrolls rather than cuts.
     */
    @Test
    void resultsAreAnHtmlTableWithEveryColumn() throws IOException {
        List<RunResult> results =
                List.of(
                        Runs.run("adam", 0, Runs.falling(60, 2.3, 0.95), 0.30, 0.85),
                        Runs.run("adam", 1, Runs.falling(60, 2.3, 0.95), 0.28, 0.87),
                        Runs.run("kfac<&>", 0, Runs.falling(60, 2.3, 0.9), 0.25, 0.88),
                        Runs.run("kfac<&>", 1, Runs.falling(60, 2.3, 0.9), 0.24, 0.89));
        Path report = HtmlReport.write(out, "mlp test", "cpu", results, List.of());
        String html = Files.readString(report);
        assertFalse(html.contains("<pre>"), html);
        ResultTable.Table table = ResultTable.of(results);
        assertEquals(14, table.header().size());
        for (String header : table.header()) {
            assertTrue(html.contains("<th>" + header + "</th>"), header + " missing: " + html);
        }
        assertTrue(html.contains("<th>vs adam</th>"));
        assertTrue(html.contains("<th>host reads</th>"));
        assertEquals(table.header().size(), count(html, "<th>"));
        assertEquals(1 + table.rows().size(), count(html, "<tr>"), "header and one per optimizer");
        assertEquals(table.rows().size() * table.header().size(), count(html, "<td[ >]"));
        for (List<String> row : table.rows()) {
            for (String cell : row) {
                assertTrue(html.contains(">" + HtmlReport.escape(cell) + "</td>"), cell);
            }
        }
        assertTrue(html.contains("<td class=\"text\">kfac&lt;&amp;&gt;</td>"), "escaped names");
        assertTrue(html.contains(".scroll{overflow-x:auto;}"), "a wide table scrolls");
        assertTrue(html.contains("the sample standard deviation"), "the notes come along");
    }

    @Test
    void aSectionGoesRightAfterTheResults() throws IOException {
        Path report =
                HtmlReport.write(
                        out,
                        "h",
                        "e",
                        List.of(Runs.run("adam", 0, Runs.falling(30, 2.3, 0.95), 0.3, 0.85)),
                        List.of());
        HtmlReport.insertSection(report, "<h2>Verdict</h2>\n");
        String html = Files.readString(report);
        assertTrue(html.indexOf("<h2>Verdict</h2>") > html.indexOf("</table>"), html);
        assertTrue(html.indexOf("<h2>Verdict</h2>") < html.indexOf("<h2>Curves</h2>"), html);
    }
}
