/**
 * Tests of Shampoo's blocking, statistics, directions and failure ladder against brute-force sums
 * and eigendecompositions in float64.
 */
package io.github.so4j.curvature.shampoo;
