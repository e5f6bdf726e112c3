/**
 * K-FAC: Kronecker-factored approximations of a layer's Fisher block, \( F \approx A \otimes G \),
 * and their damped inverses (Martens and Grosse 2015; for convolutions, Grosse and Martens 2016).
 *
 * <p>{@link io.github.so4j.curvature.kfac.KroneckerFactors} keeps the running factors of one layer
 * and applies their damped inverse, in the two {@link
 * io.github.so4j.curvature.kfac.InversionMode}s; the blocks on the {layer}{approximation} grid,
 * {@link io.github.so4j.curvature.kfac.LinearKroneckerFactored} and {@link
 * io.github.so4j.curvature.kfac.Conv2dKroneckerFactored}, turn a layer's inputs and output
 * gradients into factor statistics ({@link io.github.so4j.curvature.kfac.Im2col} extracts
 * convolution patches on the device) and its gradients into directions. Nothing here knows about
 * training: where the inputs and output gradients come from, and which steps are taken, is the
 * optimizer's business; {@link io.github.so4j.curvature.kfac.KroneckerFactors#stage} and {@link
 * io.github.so4j.curvature.kfac.KroneckerFactors#commit} let it fold statistics in only where its
 * step guard accepts them, on the device.
 *
 * @see <a href="https://arxiv.org/abs/1503.05671">paper</a>
 */
package io.github.so4j.curvature.kfac;
