/**
 * Dense linear algebra shared by the curvature estimates: batched factorizations on the device
 * built from DJL operations only, inverse p-th roots (the matmul-only coupled Newton iteration on
 * the device, an eigendecomposition in float64 on the host) with their residual, the matmul-only
 * Newton–Schulz orthogonalisation of Muon, and bridges to Commons Math for small host problems.
 */
package io.github.so4j.curvature.linalg;
