package io.github.so4j.optimizers;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;

/**
 * The three low-rank methods in plain float64 arithmetic, written from the papers and the reference
 * code (not from the optimizers), for the oracle tests: per parameter, its layout (rank and side,
 * or AdamW), the basis, Adam's moments, and Online Subspace Descent's AdamW on the basis.
 */
final class LowRankReference {

    enum Method {
        DCT,
        GALORE,
        OSD
    }

    /** A projected parameter: m x n, the projected side, the rank, heads sharing a basis. */
    record Layout(int rows, int columns, boolean left, int rank, int heads) {
        int side() {
            return left ? rows : columns;
        }
    }

    final Method method;
    final double[][] w;
    final Layout[] layouts;
    final int[] rows;
    final double[][] m;
    final double[][] v;
    final RealMatrix[] basis;
    final RealMatrix[] basisM;
    final RealMatrix[] basisV;
    final int[] basisSteps;
    final int[][] indices;
    int selectionNorm = 1;
    boolean rotate;
    // the optimizers take float32 settings: the oracle uses the same numbers (0.9f, not 0.9)
    double beta1 = 0.9f;
    double beta2 = 0.999f;
    double epsilon;
    double scale = 1;
    double weightDecay;
    int period;

    LowRankReference(Method method, LowRankFedModel model, Layout[] layouts) {
        int n = model.size();
        this.method = method;
        this.layouts = layouts;
        w = new double[n][];
        rows = new int[n];
        m = new double[n][];
        v = new double[n][];
        basis = new RealMatrix[n];
        basisM = new RealMatrix[n];
        basisV = new RealMatrix[n];
        basisSteps = new int[n];
        indices = new int[n][];
        for (int i = 0; i < n; i++) {
            w[i] = model.weights(i);
            rows[i] = model.rows(i);
            int low =
                    layouts[i] == null
                            ? w[i].length
                            : layouts[i].rank() * (w[i].length / layouts[i].side());
            m[i] = new double[low];
            v[i] = new double[low];
        }
    }

    /** The rank and side rule: \( \min(r_0, \lfloor f s_{\min} \rfloor) \), AdamW below minRank. */
    static Layout layout(
            int rows, int columns, int rank, double fraction, int minRank, String side) {
        int r = Math.min(rank, (int) Math.floor(fraction * Math.min(rows, columns)));
        if (r < minRank) {
            return null;
        }
        boolean left = side.equals("LEFT") || (side.equals("AUTO") && rows < columns);
        return new Layout(rows, columns, left, r, 1);
    }

    /**
     * One step t (1-based) with gradients g at learning rate eta; a basis starts at a parameter's
     * first step and is refreshed on the method's schedule.
     */
    void step(double[][] g, int t, double eta) {
        for (int i = 0; i < w.length; i++) {
            if (layouts[i] == null) {
                adamw(i, g[i], t, eta);
            } else {
                projected(i, g[i], t, eta);
            }
        }
    }

    private void adamw(int i, double[] g, int t, double eta) {
        for (int j = 0; j < g.length; j++) {
            m[i][j] = beta1 * m[i][j] + (1 - beta1) * g[j];
            v[i][j] = beta2 * v[i][j] + (1 - beta2) * g[j] * g[j];
            double mHat = m[i][j] / (1 - Math.pow(beta1, t));
            double vHat = v[i][j] / (1 - Math.pow(beta2, t));
            w[i][j] -= eta * (mHat / (Math.sqrt(vHat) + epsilon) + weightDecay * w[i][j]);
        }
    }

    private boolean refresh(int i, int t) {
        if (basis[i] == null) {
            return true;
        }
        return switch (method) {
            case DCT -> t % period == 0;
            case GALORE -> t > 1 && (t - 1) % period == 0;
            case OSD -> false;
        };
    }

    private void projected(int i, double[] flat, int t, double eta) {
        Layout layout = layouts[i];
        RealMatrix g = matrix(flat, layout.rows(), layout.columns());
        // the gradient with the projected side first: s x o
        RealMatrix oriented = layout.left() ? g : g.transpose();
        RealMatrix current = basis[i];
        if (refresh(i, t)) {
            current =
                    switch (method) {
                        case DCT -> dctColumns(i, oriented, layout.rank());
                        case GALORE, OSD -> topLeftSingularVectors(headBlock(g, layout), layout);
                    };
            basis[i] = current;
            if (method == Method.OSD) {
                basisM[i] = new Array2DRowRealMatrix(layout.side(), layout.rank());
                basisV[i] = new Array2DRowRealMatrix(layout.side(), layout.rank());
            }
        } else if (method == Method.OSD) {
            basis[i] = osdUpdate(i, oriented, current);
        }
        // R, with the projected side replaced by the rank: r x o, then as the moments' layout
        RealMatrix r = current.transpose().multiply(oriented);
        RealMatrix low = layout.left() ? r : r.transpose();
        double[] lowFlat = flat(low);
        double[] n = new double[lowFlat.length];
        for (int j = 0; j < lowFlat.length; j++) {
            m[i][j] = beta1 * m[i][j] + (1 - beta1) * lowFlat[j];
            v[i][j] = beta2 * v[i][j] + (1 - beta2) * lowFlat[j] * lowFlat[j];
            double mHat = m[i][j] / (1 - Math.pow(beta1, t));
            double vHat = v[i][j] / (1 - Math.pow(beta2, t));
            n[j] = mHat / (Math.sqrt(vHat) + epsilon);
        }
        RealMatrix nMatrix = matrix(n, low.getRowDimension(), low.getColumnDimension());
        RealMatrix u =
                layout.left() ? current.multiply(nMatrix) : nMatrix.multiply(current.transpose());
        double[] update = flat(u);
        for (int j = 0; j < update.length; j++) {
            w[i][j] -= eta * (scale * update[j] + weightDecay * w[i][j]);
        }
    }

    /** GaLore+'s cross-head basis comes from one head's rows; the whole gradient otherwise. */
    private static RealMatrix headBlock(RealMatrix g, Layout layout) {
        if (layout.heads() > 1) {
            int d = layout.rows() / layout.heads();
            return g.getSubMatrix(0, d - 1, 0, layout.columns() - 1).transpose();
        }
        return layout.left() ? g : g.transpose();
    }

    /**
     * The orthonormal DCT-II basis of size s, \( Q_{jk} = c_k \cos(\pi (2j + 1) k / (2s)) \); the r
     * columns whose transforms \( S = Q^\top M \) have the largest \( \ell_1 \) (or \( \ell_2 \))
     * norms (rows of S), in increasing order. With {@code rotate}, the moments of a column kept
     * move to its new position and those of a new column start at 0 (\( R^\top m \) with the
     * selection matrix \( R = Q_{:, old}^\top Q_{:, new} \)).
     */
    private RealMatrix dctColumns(int parameter, RealMatrix oriented, int rank) {
        int s = oriented.getRowDimension();
        RealMatrix q = new Array2DRowRealMatrix(s, s);
        for (int j = 0; j < s; j++) {
            for (int k = 0; k < s; k++) {
                double c = k == 0 ? Math.sqrt(1.0 / s) : Math.sqrt(2.0 / s);
                q.setEntry(j, k, c * Math.cos(Math.PI * (2 * j + 1) * k / (2.0 * s)));
            }
        }
        RealMatrix transform = q.transpose().multiply(oriented);
        double[] norms = new double[s];
        for (int k = 0; k < s; k++) {
            for (int j = 0; j < transform.getColumnDimension(); j++) {
                double x = transform.getEntry(k, j);
                norms[k] += selectionNorm == 1 ? Math.abs(x) : x * x;
            }
        }
        boolean[] chosen = new boolean[s];
        for (int c = 0; c < rank; c++) {
            int best = -1;
            for (int k = 0; k < s; k++) {
                if (!chosen[k] && (best < 0 || norms[k] > norms[best])) {
                    best = k;
                }
            }
            chosen[best] = true;
        }
        int[] selected = new int[rank];
        RealMatrix columns = new Array2DRowRealMatrix(s, rank);
        int c = 0;
        for (int k = 0; k < s; k++) {
            if (chosen[k]) {
                selected[c] = k;
                columns.setColumnMatrix(c++, q.getColumnMatrix(k));
            }
        }
        int[] old = indices[parameter];
        if (rotate && old != null) {
            Layout layout = layouts[parameter];
            int other = m[parameter].length / rank;
            double[] carriedM = new double[m[parameter].length];
            double[] carriedV = new double[v[parameter].length];
            for (int to = 0; to < rank; to++) {
                for (int from = 0; from < rank; from++) {
                    if (old[from] != selected[to]) {
                        continue;
                    }
                    for (int j = 0; j < other; j++) {
                        // left: moments r x o, row by basis vector; right: m x r, column by it
                        int a = layout.left() ? from * other + j : j * rank + from;
                        int b = layout.left() ? to * other + j : j * rank + to;
                        carriedM[b] = m[parameter][a];
                        carriedV[b] = v[parameter][a];
                    }
                }
            }
            m[parameter] = carriedM;
            v[parameter] = carriedV;
        }
        indices[parameter] = selected;
        return columns;
    }

    /** The r top left singular vectors (Commons Math's SVD), largest entry positive. */
    static RealMatrix topLeftSingularVectors(RealMatrix a, Layout layout) {
        RealMatrix u = new SingularValueDecomposition(a).getU();
        RealMatrix out = u.getSubMatrix(0, a.getRowDimension() - 1, 0, layout.rank() - 1);
        for (int c = 0; c < layout.rank(); c++) {
            int best = 0;
            for (int i = 1; i < out.getRowDimension(); i++) {
                if (Math.abs(out.getEntry(i, c)) > Math.abs(out.getEntry(best, c))) {
                    best = i;
                }
            }
            if (out.getEntry(best, c) < 0) {
                out.setColumnMatrix(c, out.getColumnMatrix(c).scalarMultiply(-1));
            }
        }
        return out;
    }

    /**
     * The reference's {@code continuous} step of P: the gradient of \( \|P P^\top X - X\|_F^2 \) at
     * \( X = M / \|M\|_F \), \( 2 (E X^\top P + X E^\top P) \) with \( E = P P^\top X - X \), then
     * PyTorch's AdamW (lr 1/T, betas (0.9, 0.999), eps 1e-8, weight decay 0.01) with its own step
     * count. The constants are float32 numbers, as so4j's transforms take them (0.9f is 0.9 to 3e-8
     * relative), so that the float64 comparison sees the same coefficients.
     */
    private RealMatrix osdUpdate(int i, RealMatrix oriented, RealMatrix p) {
        RealMatrix x = oriented.scalarMultiply(1 / oriented.getFrobeniusNorm());
        RealMatrix e = p.multiply(p.transpose()).multiply(x).subtract(x);
        RealMatrix gradient =
                e.multiply(x.transpose())
                        .multiply(p)
                        .add(x.multiply(e.transpose()).multiply(p))
                        .scalarMultiply(2);
        int steps = ++basisSteps[i];
        double lr = 1.0 / period;
        RealMatrix next = p.copy();
        for (int a = 0; a < p.getRowDimension(); a++) {
            for (int b = 0; b < p.getColumnDimension(); b++) {
                double gr = gradient.getEntry(a, b);
                double b1 = 0.9f;
                double b2 = 0.999f;
                double mm = b1 * basisM[i].getEntry(a, b) + (1 - b1) * gr;
                double vv = b2 * basisV[i].getEntry(a, b) + (1 - b2) * gr * gr;
                basisM[i].setEntry(a, b, mm);
                basisV[i].setEntry(a, b, vv);
                double mHat = mm / (1 - Math.pow(b1, steps));
                double vHat = vv / (1 - Math.pow(b2, steps));
                double pe = p.getEntry(a, b);
                double adam = mHat / (Math.sqrt(vHat) + (double) 1e-8f);
                next.setEntry(a, b, pe - lr * (adam + (double) 0.01f * pe));
            }
        }
        return next;
    }

    static RealMatrix matrix(double[] flat, int rows, int columns) {
        RealMatrix a = new Array2DRowRealMatrix(rows, columns);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < columns; c++) {
                a.setEntry(r, c, flat[r * columns + c]);
            }
        }
        return a;
    }

    static double[] flat(RealMatrix a) {
        int rows = a.getRowDimension();
        int columns = a.getColumnDimension();
        double[] out = new double[rows * columns];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < columns; c++) {
                out[r * columns + c] = a.getEntry(r, c);
            }
        }
        return out;
    }
}
