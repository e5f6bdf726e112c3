/**
 * Update transforms shared by every so4j optimizer, in the manner of optax: each maps a direction
 * and its per-parameter state to a new direction and a candidate state, and {@link
 * io.github.so4j.optimizers.transform.Chain} composes them. Momentum ({@link
 * io.github.so4j.optimizers.transform.Momentum}, one meaning across the suite, and its
 * exponential-average form {@link io.github.so4j.optimizers.transform.EmaMomentum}), weight decay,
 * the first and second moments behind Adam, AdaGrad and grafting, and Muon's orthogonalisation
 * ({@link io.github.so4j.optimizers.transform.Orthogonalize}). The state itself lives in {@link
 * io.github.so4j.optimizers.TransformState}, which commits it only when a step is taken.
 */
package io.github.so4j.optimizers.transform;
