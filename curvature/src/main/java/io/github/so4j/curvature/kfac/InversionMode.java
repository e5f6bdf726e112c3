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
    EIGEN,

    /**
     * {@link #INVERSE}'s factored Tikhonov damping with each large factor replaced by its top k
     * eigenpairs (the randomized K-FAC of Puiu 2022): for an n x n factor \( F \) with damping \( s
     * \) (\( d_G \) or \( d_A \) as in INVERSE, \( \pi \) correction included),
     *
     * <p>\( (F + sI)^{-1} \approx U \,\mathrm{diag}\big(\tfrac{1}{\mu_i + s} - \tfrac{1}{s}\big)
     * U^\top + \tfrac{1}{s} I \)
     *
     * <p>with \( U \) (n x k) and \( \mu \) the top k eigenvectors and eigenvalues; exact when \(
     * \mathrm{rank}\, F \le k \), and for a factor with a spectral gap after k it drops only the
     * eigenvalues beyond the gap. The eigenpairs come from randomized subspace iteration in float64
     * on the device: \( Y = F^2 \Omega \) for a fixed seeded Gaussian n x l \( \Omega \), \( l =
     * \min(k + 10, n) \) (columns rescaled to unit norm after each product), then Rayleigh-Ritz on
     * the host from one read of the small matrices \( Y^\top Y \) and \( Y^\top F Y \) of both
     * factors of a layer (Commons Math: whitening by the eigendecomposition of \( Y^\top Y \),
     * whose eigenvalues below \( 10^{-12} \) of the largest are dropped, then the
     * eigendecomposition of the whitened \( Y^\top F Y \)); \( U = Y T \) on the device. A factor
     * with \( n \le 2k \) gets INVERSE's exact damped inverse instead, which is then also the
     * cheaper product. The rank is {@link KroneckerSettings#factorRank()}.
     *
     * <p><b>Cost</b> of a refresh, per low-rank factor: three products \( 2n^2 l \) flops each, an
     * l x l eigenproblem twice on the host, and one read of \( 2l^2 \) numbers; of a product: about
     * \( 4qp(k_G + k_A) \) flops instead of INVERSE's \( 2qp(q + p) \) (for a 785 x 256 layer at k
     * = 32, 51 MFLOP against 0.42 GFLOP). No factored form ({@link KroneckerFactors#rowsAreCheaper}
     * is false), so layers need no recording on ordinary steps.
     */
    LOW_RANK
}
