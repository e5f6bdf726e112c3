/**
 * Tests of the objective-based optimizers on L2-regularised logistic regression, with optima and
 * gradients checked by independent plain-Java formulas.
 */
package io.github.so4j.optimizers.objective;
