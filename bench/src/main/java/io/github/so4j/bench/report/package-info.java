/**
 * What a comparison writes: loss-curve and evaluation CSVs, {@code summary.json}, a table, PNG
 * plots drawn with XChart and {@code report.html} that shows them all.
 */
package io.github.so4j.bench.report;
