/**
 * Dense linear algebra shared by the curvature estimates: batched factorizations on the device
 * built from DJL operations only, and bridges to Commons Math for small host problems.
 */
package io.github.so4j.curvature.linalg;
