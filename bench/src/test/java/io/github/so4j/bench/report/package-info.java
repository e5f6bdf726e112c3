/** Tests of the result table that ends every comparison. */
package io.github.so4j.bench.report;
