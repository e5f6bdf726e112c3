/**
 * Shared test support, published as the curvature module's test jar: tolerances with their
 * justification, dense double-precision oracles built with Commons Math, and live-array counts.
 */
package io.github.so4j.curvature.testing;
