/**
 * Tests of the subspace-Hessian family against dense double-precision oracles: Hessians formed
 * column by column by finite differences of hand-written gradients, eigendecompositions with
 * Commons Math, and exact quadratics.
 */
package io.github.so4j.curvature.subspace;
