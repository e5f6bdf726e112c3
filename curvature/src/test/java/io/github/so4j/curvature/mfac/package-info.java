/**
 * Tests of the M-FAC algorithms against dense double-precision inverses built with Commons Math.
 */
package io.github.so4j.curvature.mfac;
