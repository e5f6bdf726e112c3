package io.github.so4j.curvature.kfac;

/**
 * How the damped inverse of a Kronecker-factored Fisher block \( A \otimes G \) is applied.
 *
 * <p>For a layer gradient in matrix form \( M \) (outputs x inputs, so that \( \mathrm{vec}(M) \)
 * is column-major) and a damping \( \lambda > 0 \):
 */
public enum InversionMode {

    /**
     * Factored Tikhonov damping with the \( \pi \) correction (Martens and Grosse 2015, section
     * 6.3): \( V = (G + \tfrac{\sqrt{\lambda}}{\pi} I)^{-1} M (A + \pi \sqrt{\lambda} I)^{-1} \)
     * with \( \pi = \sqrt{(\mathrm{tr} A / \dim A) / (\mathrm{tr} G / \dim G)} \). Both inverses
     * are computed on the device, in float64, by {@code HostReads.inverse} (counted as host reads:
     * the engine checks for singularity on the host), and \( \pi \) on the device.
     *
     * <p><b>Cost</b> of a refresh: about \( \tfrac{2}{3}(p^3 + q^3) \) flops for p x p \( A \) and
     * q x q \( G \); of a product: \( 2pq(p + q) \) flops.
     */
    INVERSE,

    /**
     * The exact inverse of the damped Kronecker product, \( \mathrm{vec}(V) = (A \otimes G +
     * \lambda I)^{-1} \mathrm{vec}(M) \), through the eigendecompositions \( A = Q_A \Lambda_A
     * Q_A^\top \) and \( G = Q_G \Lambda_G Q_G^\top \): \( V = Q_G \left[ (Q_G^\top M Q_A) \oslash
     * (\lambda_G \lambda_A^\top + \lambda) \right] Q_A^\top \) (as in George et al. 2018 and
     * kfac-pytorch's eigen method). DJL has no symmetric eigensolver, so the decompositions run on
     * the host in float64 with Commons Math, for factors up to {@link
     * KroneckerSettings#hostEigenLimit()}; a layer with a larger factor uses {@link #INVERSE}
     * instead (logged once).
     *
     * <p><b>Cost</b> of a refresh: Commons Math's symmetric eigensolver, measured on this project's
     * 2-core CPU at about 0.05 s for n = 256, 0.4 s for n = 512, 3 to 5 s for n = 785 and 13 s for
     * n = 1001; of a product: \( 4pq(p + q) \) flops, twice {@link #INVERSE}'s.
     */
    EIGEN
}
