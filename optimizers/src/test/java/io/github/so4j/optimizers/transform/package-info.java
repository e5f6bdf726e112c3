/** Tests of the update transforms against plain-Java float64 twins of their formulas. */
package io.github.so4j.optimizers.transform;
