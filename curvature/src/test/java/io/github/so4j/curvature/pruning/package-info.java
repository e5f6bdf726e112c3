/** Tests of OBS and magnitude pruning against dense double-precision oracles. */
package io.github.so4j.curvature.pruning;
