/**
 * Update transforms shared by every so4j optimizer, in the manner of optax: each maps a direction
 * and its per-parameter state to a new direction and a candidate state, and {@link
 * io.github.so4j.optimizers.transform.Chain} composes them. Momentum ({@link
 * io.github.so4j.optimizers.transform.Momentum}, one meaning across the suite), weight decay, and
 * the first and second moments behind Adam, AdaGrad and grafting. The state itself lives in {@link
 * io.github.so4j.optimizers.TransformState}, which commits it only when a step is taken.
 */
package io.github.so4j.optimizers.transform;
