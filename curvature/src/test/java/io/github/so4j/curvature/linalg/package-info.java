/**
 * Tests of the inverse-root methods against eigendecompositions in float64 (Commons Math) and
 * matrices with closed-form roots.
 */
package io.github.so4j.curvature.linalg;
