/**
 * Tests of the K-FAC blocks against dense double-precision formulas built with Commons Math and
 * against a plain-Java im2col.
 */
package io.github.so4j.curvature.kfac;
