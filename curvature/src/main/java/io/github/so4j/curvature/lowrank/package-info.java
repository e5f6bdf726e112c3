/**
 * Low-rank subspaces of gradient matrices: a fixed orthonormal DCT-II basis to select columns from,
 * a randomized subspace iteration for the top singular vectors (products on the device, the thin
 * factorizations on the host), and the gradient of the online-PCA objective that tracks a subspace
 * with matrix products alone.
 */
package io.github.so4j.curvature.lowrank;
