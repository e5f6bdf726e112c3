package io.github.so4j.it;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.data.FashionMnistDataset;
import io.github.so4j.bench.workload.Workload;
import io.github.so4j.optimizers.GaLore;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The measurement behind leaving out GaLore+'s sparsely coded residuals: how much of the gradient a
 * rank-r projection loses on the harness's MLP, and how much of that loss the largest 1% of the
 * residual's entries (GaLore+'s density) could give back. Not part of the default suite (tag {@code
 * sweep}); run it with
 *
 * <pre>
 * mvn -B -o verify -pl integration-tests -am -Dso4j.groups=sweep -Dso4j.excludedGroups=gpu \
 *   -Dtest=LowRankResidualSweep -Dsurefire.failIfNoSpecifiedTests=false
 * </pre>
 *
 * <p>It trains the 784-256-128-10 MLP one epoch (469 steps of batch 128, seed 0) with GaLore's mlp
 * defaults (lr 0.01, rank 64 and 32 on the rows of the two hidden weights, refreshes at steps 1,
 * 201, 401) and, at chosen steps, takes each hidden weight's gradient G before the step and, in
 * float64 on the host, the basis B of the last refresh (G's top left singular vectors at that step,
 * from an exact SVD: the subspace GaLore's iteration approximates), the residual \( E = G - B
 * B^\top G \), and prints: the residual's share of the gradient's energy \( \|E\|^2 / \|G\|^2 \);
 * the share of \( \|E\|^2 \) in E's largest 1% of entries (the best any 1% code can hold); and the
 * share in the entries that were the largest 1% at the last refresh (a code fixed between
 * refreshes, as GaLore+ fixes its indices after a warm-up).
 */
@Tag("sweep")
class LowRankResidualSweep {

    private static final int[] STEPS = {2, 11, 12, 50, 100, 200, 202, 212, 300, 400, 402, 412, 469};
    private static final double DENSITY = 0.01;
    private static final int WARMUP = 10;

    @Test
    void residualOfTheProjectionOnTheMlp() throws IOException, TranslateException {
        Set<Integer> measured = Arrays.stream(STEPS).boxed().collect(Collectors.toSet());
        try (NDManager manager = NDManager.newBaseManager();
                Model model = Training.model(Workload.MLP, 0)) {
            FashionMnistDataset train =
                    Training.data(manager, Dataset.Usage.TRAIN, 60000, true, 128);
            GaLore galore = GaLore.builder().build();
            try (Trainer trainer = Training.trainer(model, Workload.MLP, galore)) {
                galore.nameParameters(model.getBlock());
                List<Parameter> hidden = new ArrayList<>();
                for (Parameter p : model.getBlock().getParameters().values()) {
                    long[] shape = p.getArray().getShape().getShape();
                    if (shape.length == 2 && shape[0] >= 128) {
                        hidden.add(p);
                    }
                }
                RealMatrix[] bases = new RealMatrix[hidden.size()];
                boolean[][] codes = new boolean[hidden.size()][];
                double[][] warm = new double[hidden.size()][];
                int step = 0;
                Iterator<Batch> batches = trainer.iterateDataset(train).iterator();
                while (batches.hasNext() && step < 469) {
                    try (Batch batch = batches.next()) {
                        EasyTrain.trainBatch(trainer, batch);
                        step++;
                        boolean refresh = (step - 1) % 200 == 0;
                        if (refresh || (step - 1) % 200 <= WARMUP || measured.contains(step)) {
                            for (int i = 0; i < hidden.size(); i++) {
                                NDArray w = hidden.get(i).getArray();
                                int rows = (int) w.getShape().get(0);
                                int columns = (int) w.getShape().get(1);
                                int rank = rows / 4;
                                RealMatrix g;
                                try (NDArray gradient = w.getGradient()) {
                                    g = matrix(gradient, rows, columns);
                                }
                                if (refresh) {
                                    bases[i] =
                                            new SingularValueDecomposition(g)
                                                    .getU()
                                                    .getSubMatrix(0, rows - 1, 0, rank - 1);
                                }
                                RealMatrix e =
                                        g.subtract(
                                                bases[i].multiply(
                                                        bases[i].transpose().multiply(g)));
                                double[] squares = squares(e);
                                int since = (step - 1) % 200;
                                if (refresh) {
                                    warm[i] = new double[squares.length];
                                } else if (since <= WARMUP) {
                                    for (int j = 0; j < squares.length; j++) {
                                        warm[i][j] += squares[j];
                                    }
                                    if (since == WARMUP) {
                                        codes[i] = largest(warm[i], DENSITY);
                                    }
                                }
                                double total = sum(squares);
                                double gradient = g.getFrobeniusNorm() * g.getFrobeniusNorm();
                                if (measured.contains(step)) {
                                    System.out.printf(
                                            "step %3d  %dx%d rank %d  residual %.4f of |G|^2;"
                                                    + " its largest 1%%: %.4f; the 1%% fixed"
                                                    + " after the warm-up: %s%n",
                                            step,
                                            rows,
                                            columns,
                                            rank,
                                            total / gradient,
                                            share(squares, largest(squares, DENSITY), total),
                                            since > WARMUP
                                                    ? String.format(
                                                            "%.4f", share(squares, codes[i], total))
                                                    : "-");
                                }
                                assertTrue(Double.isFinite(total));
                            }
                        }
                        trainer.step();
                    }
                }
            }
        }
    }

    private static RealMatrix matrix(NDArray array, int rows, int columns) {
        double[] values = array.toType(DataType.FLOAT64, false).toDoubleArray();
        RealMatrix m = new Array2DRowRealMatrix(rows, columns);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < columns; c++) {
                m.setEntry(r, c, values[r * columns + c]);
            }
        }
        return m;
    }

    private static double[] squares(RealMatrix e) {
        double[] out = new double[e.getRowDimension() * e.getColumnDimension()];
        for (int r = 0; r < e.getRowDimension(); r++) {
            for (int c = 0; c < e.getColumnDimension(); c++) {
                double v = e.getEntry(r, c);
                out[r * e.getColumnDimension() + c] = v * v;
            }
        }
        return out;
    }

    /** The entries among the largest {@code density} of the values. */
    private static boolean[] largest(double[] values, double density) {
        int keep = (int) Math.ceil(density * values.length);
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        double threshold = sorted[sorted.length - keep];
        boolean[] chosen = new boolean[values.length];
        int taken = 0;
        for (int i = 0; i < values.length && taken < keep; i++) {
            if (values[i] >= threshold) {
                chosen[i] = true;
                taken++;
            }
        }
        return chosen;
    }

    private static double share(double[] squares, boolean[] chosen, double total) {
        double kept = 0;
        for (int i = 0; i < squares.length; i++) {
            if (chosen[i]) {
                kept += squares[i];
            }
        }
        return kept / total;
    }

    private static double sum(double[] values) {
        double s = 0;
        for (double v : values) {
            s += v;
        }
        return s;
    }
}
