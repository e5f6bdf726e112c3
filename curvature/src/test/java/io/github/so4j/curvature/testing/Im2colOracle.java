package io.github.so4j.curvature.testing;

/** A plain-Java im2col, the oracle for on-device patch extraction and convolution factors. */
public final class Im2colOracle {

    private Im2colOracle() {}

    /**
     * Extracts the patches of x (N, C, H, W).
     *
     * @param x the input
     * @param kernel (kh, kw)
     * @param stride (sh, sw)
     * @param padding (ph, pw), zeros
     * @param dilation (dh, dw)
     * @return rows: row n T + t is example n's patch at output position t (row-major over Ho, Wo);
     *     column c kh kw + i kw + j is its entry at kernel offset (i, j) of channel c, zero outside
     *     the input
     */
    public static double[][] im2col(
            double[][][][] x, int[] kernel, int[] stride, int[] padding, int[] dilation) {
        int n = x.length;
        int c = x[0].length;
        int h = x[0][0].length;
        int w = x[0][0][0].length;
        int ho = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) / stride[0] + 1;
        int wo = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) / stride[1] + 1;
        double[][] rows = new double[n * ho * wo][c * kernel[0] * kernel[1]];
        for (int e = 0; e < n; e++) {
            for (int oh = 0; oh < ho; oh++) {
                for (int ow = 0; ow < wo; ow++) {
                    double[] row = rows[(e * ho + oh) * wo + ow];
                    for (int ch = 0; ch < c; ch++) {
                        for (int i = 0; i < kernel[0]; i++) {
                            for (int j = 0; j < kernel[1]; j++) {
                                int ih = oh * stride[0] - padding[0] + i * dilation[0];
                                int iw = ow * stride[1] - padding[1] + j * dilation[1];
                                boolean inside = ih >= 0 && ih < h && iw >= 0 && iw < w;
                                row[(ch * kernel[0] + i) * kernel[1] + j] =
                                        inside ? x[e][ch][ih][iw] : 0;
                            }
                        }
                    }
                }
            }
        }
        return rows;
    }

    /**
     * Reshapes a flat row-major array into (N, C, H, W).
     *
     * @param flat the values
     * @param n N
     * @param c C
     * @param h H
     * @param w W
     * @return the tensor
     */
    public static double[][][][] tensor(double[] flat, int n, int c, int h, int w) {
        double[][][][] x = new double[n][c][h][w];
        int k = 0;
        for (int e = 0; e < n; e++) {
            for (int ch = 0; ch < c; ch++) {
                for (int i = 0; i < h; i++) {
                    for (int j = 0; j < w; j++) {
                        x[e][ch][i][j] = flat[k++];
                    }
                }
            }
        }
        return x;
    }
}
