/**
 * Tests of the DJL instrumentation K-FAC relies on: bit-for-bit inference, probes that carry the
 * output gradients, and the Monte-Carlo Fisher's training step.
 */
package io.github.so4j.optimizers.kfac;
