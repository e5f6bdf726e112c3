/** Tests of the so4j optimizers against step-by-step double-precision references. */
package io.github.so4j.optimizers;
