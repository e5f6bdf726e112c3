/** Tests of the low-rank subspace tools against float64 oracles. */
package io.github.so4j.curvature.lowrank;
