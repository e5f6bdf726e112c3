package io.github.so4j.bench.jmh;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns JMH's JSON results into Markdown tables: every benchmark with its score and error, and for
 * {@link BenchmarkSlidingWindowFisher} the bytes per second over the window beside those of the
 * plain reduction of the same run.
 */
final class JmhTables {

    private JmhTables() {}

    static String format(Path json) throws IOException {
        JsonNode results = new ObjectMapper().readTree(json.toFile());
        StringBuilder out = new StringBuilder();
        out.append("| benchmark | parameters | ms/op | ± |\n|---|---|---:|---:|\n");
        Map<String, Map<String, Double>> window = new TreeMap<>();
        for (JsonNode result : results) {
            String name = result.get("benchmark").asText();
            String shortName = name.substring(name.lastIndexOf('.', name.lastIndexOf('.') - 1) + 1);
            Map<String, String> params = new LinkedHashMap<>();
            JsonNode p = result.get("params");
            if (p != null) {
                p.fields().forEachRemaining(e -> params.put(e.getKey(), e.getValue().asText()));
            }
            JsonNode metric = result.get("primaryMetric");
            double score = metric.get("score").asDouble();
            double error = metric.get("scoreError").asDouble();
            out.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %s | %.3f | %.3f |%n",
                            shortName,
                            params.toString().replaceAll("[{}]", ""),
                            score,
                            error));
            if (shortName.startsWith("BenchmarkSlidingWindowFisher.")) {
                String key =
                        String.format(
                                Locale.ROOT,
                                "%09d %05d",
                                Long.parseLong(params.get("dimension")),
                                Long.parseLong(params.get("window")));
                window.computeIfAbsent(key, k -> new LinkedHashMap<>())
                        .put(shortName.substring(shortName.indexOf('.') + 1), score);
            }
        }
        if (!window.isEmpty()) {
            out.append(
                    "\n| d | m | window MB | reduction GB/s | inverseTimes ms | GB/s | % of"
                            + " reduction | addAndInverseTimes ms | GB/s |\n");
            out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for (Map.Entry<String, Map<String, Double>> entry : window.entrySet()) {
                String[] dm = entry.getKey().trim().split("\\s+");
                long d = Long.parseLong(dm[0]);
                long m = Long.parseLong(dm[1]);
                double bytes = 4.0 * d * m;
                Map<String, Double> s = entry.getValue();
                double reduction = gbs(bytes, s.get("reduction"));
                double product = gbs(2 * bytes, s.get("inverseTimes"));
                double add = gbs(2 * bytes, s.get("addAndInverseTimes"));
                out.append(
                        String.format(
                                Locale.ROOT,
                                "| %d | %d | %.0f | %.1f | %s | %.1f | %.0f%% | %s | %.1f |%n",
                                d,
                                m,
                                bytes / 1e6,
                                reduction,
                                ms(s.get("inverseTimes")),
                                product,
                                100 * product / reduction,
                                ms(s.get("addAndInverseTimes")),
                                add));
            }
        }
        return out.toString();
    }

    private static double gbs(double bytes, Double ms) {
        return ms == null ? Double.NaN : bytes / (ms * 1e6);
    }

    private static String ms(Double ms) {
        return ms == null ? "-" : String.format(Locale.ROOT, "%.3f", ms);
    }
}
