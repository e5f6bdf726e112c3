package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.subspace.BatchCurvature;
import io.github.so4j.curvature.subspace.Lanczos;
import io.github.so4j.curvature.subspace.SymmetricOperator;
import io.github.so4j.curvature.subspace.Vectors;
import io.github.so4j.optimizers.transform.WeightDecay;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Subspace Newton: each step solves a damped Newton system in a k-dimensional subspace of the
 * parameters, built from k Hessian-vector products on the batch, and line-searches the batch loss.
 *
 * <p>With S (d x k, orthonormal columns) chosen each step, the objective's gradient g and curvature
 * H (the batch Hessian or the Gauss-Newton matrix):
 *
 * <p>\( M = S^\top H S \) (k x k, from the k products \( H S \)), \( b = S^\top g \)<br>
 * \( M = U \Lambda U^\top \), \( c = -U (|\Lambda| + \delta I)^{-1} U^\top b \), \( p = S c \) <br>
 * \( w \leftarrow w + t p \), t the first of 1, 1/2, 1/4, ... with \( F(w + t p) \le F(w) + c_1 t
 * g^\top p \)
 *
 * <p>The absolute eigenvalues make p a descent direction on non-convex losses and move away from
 * saddle points instead of towards them (the saddle-free Newton of Dauphin et al.); \( \delta \)
 * damps directions of little curvature. Subspaces ({@link Subspace}): RANDOM, k Gaussian vectors
 * orthonormalized on the device (Gower et al.'s randomized subspace Newton); KRYLOV, the Krylov
 * space of the gradient, \( \operatorname{span}\{g, H g, \dots, H^{k-1} g\} \), by Lanczos with
 * full reorthogonalization (k products give both the basis and M: one step equals k steps of
 * conjugate gradients on a quadratic); EIGEN, the current top-k eigenvectors (by magnitude) of the
 * batch Hessian, refreshed by {@link Lanczos} at taken steps 1, 1 + {@code refreshEvery}, ... (and
 * when the parameters change) and reused in between.
 *
 * <p><b>The objective</b> is the one DJL's settings describe: \( F(w) = r L(w) +
 * \frac{\omega}{2}\|w\|^2 \) with r DJL's {@code rescaleGrad} and \( \omega \) its weight decay
 * ({@code optWeightDecays}). Its gradient is the one {@link SecondOrderOptimizer} hands over, \( r
 * \nabla L \) clipped entry by entry to DJL's {@code clipGrad} when that is set, plus \( \omega w
 * \) ({@link WeightDecay#l2}); its curvature is \( r H + \omega I \); the line search evaluates F.
 * {@code clipGrad} bounds the gradient only: clipping is not linear, so a clipped product would be
 * the product of no matrix, and the curvature stays that of F.
 *
 * <p><b>Why a train-step helper.</b> DJL hands an optimizer one parameter and its gradient at a
 * time, but this method needs the batch itself: products with the batch Hessian and loss values
 * along the direction. So the batch comes through a helper. Replace
 *
 * <pre>{@code
 * EasyTrain.trainBatch(trainer, batch);
 * trainer.step();
 * }</pre>
 *
 * <p>with
 *
 * <pre>{@code
 * SubspaceNewton newton = SubspaceNewton.builder().optDimension(10).build();
 * // ... new DefaultTrainingConfig(loss).optOptimizer(newton) ...
 * newton.trainStep(trainer, batch);   // trainBatch, prepare, trainer.step()
 * }</pre>
 *
 * <p>{@link #prepare} hands over the batch (and checks k against d); the update that follows
 * ({@code trainer.step()}, or a {@code ParameterStore}'s update for code that drives updates
 * itself, as for float64 models) computes the step and moves every parameter by \( \eta t p \)
 * (keep the learning rate \( \eta \) at its default 1: the line search sets the length). An update
 * without a prepared batch ({@code EasyTrain.fit} never prepares) throws an {@link
 * IllegalStateException} naming the fix; it changes nothing, and the next prepared step works as
 * usual. Products and line search evaluate the block in inference mode unless {@link
 * Builder#optTrainingMode}; use it only for models without dropout or batch statistics. The loss
 * must not multiply recorded arrays by Java numbers, as DJL's {@code L2Loss} does: the products
 * could then read freed memory (see {@link BatchCurvature}).
 *
 * <p><b>The step guard.</b> The step is decided on the host before any work ({@link
 * Step#accepted()}): a non-finite gradient skips it and leaves no trace (random state, EIGEN basis,
 * counters). A taken step whose quadratic model is not finite (M, b or \( F(w) \)) or whose line
 * search finds no decrease moves nothing; both are counted in {@code health().curvature()}.
 *
 * <p>Defaults: KRYLOV, k = 10, Hessian products (exact on PyTorch), damping \( \delta = 0.1 \),
 * EIGEN refresh every 10 steps, Armijo constant \( c_1 = 10^{-4} \) and at most 10 halvings
 * (Nocedal and Wright, ch. 3), learning rate 1. The damping is a Levenberg-Marquardt term in the
 * objective's units: on a mini-batch the smallest curvatures are mostly noise, and undamped steps
 * along them fit the batch and hurt the data set. Measured on Fashion-MNIST logistic regression (50
 * steps of batch 256, loss over the 10,000 examples; {@code SubspaceNewtonTrainingTest}): \( \delta
 * \) = 0.01, 0.1, 1 gave 1.14, 0.41, 0.53 with k = 10 (and 0.52, 0.45, 0.54 with k = 5).
 *
 * <p><b>Cost</b> per step: the training forward and backward, k products (about 5 forward passes of
 * the batch each, see {@link BatchCurvature}), one loss evaluation (a forward pass) for the current
 * point and one per line-search trial, plus O(k<sup>2</sup>d) flops to orthonormalize and project
 * and a k x k eigendecomposition on the host; EIGEN adds a Lanczos run of about 2k + 20 products
 * every refresh. Memory: 2kd for the basis and its products. Host reads, all through {@link
 * HostReads} and counted in {@link #health()}: the decision, one per KRYLOV product (two norms
 * together) or two per RANDOM direction (orthonormalization), M, b and F(w) together, one per
 * line-search trial, plus one per product inside {@link BatchCurvature} and Lanczos's on a refresh.
 *
 * <p>{@link #stateBytes()} counts the EIGEN basis (k x d numbers), the only array kept from one
 * step to the next; RANDOM and KRYLOV keep none (0 bytes): their subspace and its products are
 * built anew every step and freed with it.
 *
 * @see <a href="https://arxiv.org/abs/1905.10874">paper</a> (Gower et al., RSN: randomized subspace
 *     Newton)
 * @see <a href="https://arxiv.org/abs/1406.2572">paper</a> (Dauphin et al., saddle-free Newton)
 */
public final class SubspaceNewton extends SecondOrderOptimizer {

    private static final Logger logger = LoggerFactory.getLogger(SubspaceNewton.class);

    private static final String RANDOM = "subspace/random";
    private static final String FAILURES = "subspace/lineSearchFailures";
    private static final String NON_FINITE = "subspace/nonFiniteModels";
    private static final String BASIS = "subspace/eigenBasis";
    private static final String BASIS_PARAMETERS = "subspace/eigenBasisParameters";

    /** How the subspace of each step is chosen. */
    public enum Subspace {
        /** k Gaussian directions, orthonormalized. */
        RANDOM,
        /** The Krylov space of the gradient under the curvature. */
        KRYLOV,
        /** The top-k eigenvectors of the curvature by magnitude, refreshed periodically. */
        EIGEN
    }

    /** Which curvature matrix the products use. */
    public enum Curvature {
        /** The Hessian of the batch loss. */
        HESSIAN,
        /** The Gauss-Newton matrix (blocks with one output). */
        GAUSS_NEWTON
    }

    private final Subspace subspace;
    private final int dimension;
    private final double damping;
    private final int refreshEvery;
    private final Curvature curvature;
    private final BatchCurvature.Mode productMode;
    private final double armijo;
    private final int maxHalvings;
    private final boolean trainingMode;
    private final float decay;
    private final TransformState weightDecay;

    private Random random;
    private NDManager stateManager;
    private NDArray eigenBasis;
    private Set<String> eigenBasisKeys;
    private Pending pending;
    private long lineSearchFailures;
    private long nonFiniteModels;
    private boolean warned;

    private SubspaceNewton(Builder builder) {
        super(builder);
        this.subspace = builder.subspace;
        this.dimension = builder.dimension;
        this.damping = builder.damping;
        this.refreshEvery = builder.refreshEvery;
        this.curvature = builder.curvature;
        this.productMode = builder.productMode;
        this.armijo = builder.armijo;
        this.maxHalvings = builder.maxHalvings;
        this.trainingMode = builder.trainingMode;
        this.random = new Random(builder.seed);
        this.decay = weightDecay();
        this.weightDecay = new TransformState(WeightDecay.l2(decay));
    }

    /**
     * Returns a builder with the defaults.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * What one step did; {@link #prepare} returns it empty, and the update that computes the step
     * fills it in.
     */
    public static final class StepReport {

        private record Values(
                double loss,
                double lossAfter,
                double stepSize,
                double predictedDecrease,
                double[] curvatures,
                int products,
                int lossEvaluations) {}

        private static final Values SKIPPED =
                new Values(Double.NaN, Double.NaN, 0, 0, new double[0], 0, 0);

        private Values values;

        StepReport() {}

        private Values values() {
            if (values == null) {
                throw new IllegalStateException(
                        "the step has not run yet: the update after prepare fills in its report");
            }
            return values;
        }

        /**
         * Returns F before the step (NaN if the step was skipped).
         *
         * @return the objective: rescaleGrad times the batch loss, plus the weight-decay term
         */
        public double loss() {
            return values().loss;
        }

        /**
         * Returns F at the accepted point.
         *
         * @return the objective after the step, equal to {@link #loss()} if the step moved nothing
         */
        public double lossAfter() {
            return values().lossAfter;
        }

        /**
         * Returns t, the accepted fraction of the subspace Newton step.
         *
         * @return t, or 0 if the step moved nothing
         */
        public double stepSize() {
            return values().stepSize;
        }

        /**
         * Returns the decrease the quadratic model promised for t = 1.
         *
         * @return \( -(b^\top c + \frac{1}{2} c^\top M c) \)
         */
        public double predictedDecrease() {
            return values().predictedDecrease;
        }

        /**
         * Returns the eigenvalues of M, the objective's curvature in the subspace.
         *
         * @return a new array, descending; empty if none were computed
         */
        public double[] curvatures() {
            return values().curvatures.clone();
        }

        /**
         * Returns the curvature-vector products the step spent.
         *
         * @return the count
         */
        public int products() {
            return values().products;
        }

        /**
         * Returns the loss evaluations the step spent (the current point and each trial).
         *
         * @return the count
         */
        public int lossEvaluations() {
            return values().lossEvaluations;
        }
    }

    /** The batch handed over by {@link #prepare}, and the report its step fills in. */
    private record Pending(BatchCurvature batch, StepReport report) {}

    /**
     * Trains on one batch: {@code EasyTrain.trainBatch}, then {@link #prepare}, then {@code
     * trainer.step()}.
     *
     * @param trainer a trainer whose optimizer is this one
     * @param batch the batch. Not modified.
     * @return what the step did
     */
    public StepReport trainStep(Trainer trainer, Batch batch) {
        EasyTrain.trainBatch(trainer, batch);
        StepReport report =
                prepare(
                        trainer.getModel().getBlock(),
                        trainer.getLoss(),
                        batch.getData(),
                        batch.getLabels());
        trainer.step();
        return report;
    }

    /**
     * Hands over the batch of the next update, whose backward has run; the update computes the step
     * from the gradients it is given. The arrays stay the caller's and must stay open until then.
     *
     * @param block the block being trained
     * @param loss its loss
     * @param data the batch's inputs. Not modified.
     * @param labels the batch's labels. Not modified.
     * @return the step's report, filled in by the update
     * @throws IllegalArgumentException if k exceeds the number of trainable parameters
     */
    public StepReport prepare(Block block, Loss loss, NDList data, NDList labels) {
        BatchCurvature batch =
                BatchCurvature.builder()
                        .setBlock(block)
                        .setLoss(loss)
                        .setBatch(data, labels)
                        .optMode(productMode)
                        .optTraining(trainingMode)
                        .build();
        if (dimension > batch.dimension()) {
            throw new IllegalArgumentException(
                    "dimension k must be at most d = "
                            + batch.dimension()
                            + ", but was "
                            + dimension);
        }
        if (stateManager == null) {
            stateManager = batch.parameters().get(0).getArray().getManager().newSubManager();
        }
        pending = new Pending(batch, new StepReport());
        return pending.report;
    }

    /** {@inheritDoc} */
    @Override
    protected Map<String, NDArray> computeStep(
            List<ParameterGradient> parameters, NDManager owner, Step step) {
        Pending batch = pending;
        pending = null;
        if (batch == null) {
            throw new IllegalStateException(
                    "SubspaceNewton needs the batch: call trainStep(trainer, batch), or"
                            + " prepare(block, loss, data, labels) after backward and before each"
                            + " update (EasyTrain.fit and trainer.step() alone do not)");
        }
        if (!step.accepted()) {
            batch.report.values = StepReport.SKIPPED;
            return null;
        }
        Map<String, NDArray> gradients = new HashMap<>();
        for (ParameterGradient p : parameters) {
            gradients.put(p.key(), p.gradient());
        }
        NDList weights = new NDList();
        NDList objectiveGradient = new NDList();
        Set<String> keys = new HashSet<>();
        for (Parameter parameter : batch.batch.parameters()) {
            NDArray weight = parameter.getArray();
            NDArray gradient = gradients.get(weight.getUid());
            if (gradient == null) { // trainable since this step: it moves from the next one
                gradient = step.scope().zeros(weight.getShape(), weight.getDataType());
            }
            weights.add(weight);
            keys.add(weight.getUid());
            objectiveGradient.add(
                    weightDecay.apply(weight.getUid(), gradient, gradient, weight, step));
        }
        try (Workspace ws = new Workspace(step.scope(), weights)) {
            NDArray g = ws.keep(Vectors.flatten(objectiveGradient), ws.manager());
            NDArray move = newtonStep(batch, g, Vectors.flatten(weights), keys, step);
            NDList segments = Vectors.split(move, batch.batch.shapes());
            Map<String, NDArray> byKey = new HashMap<>();
            for (int i = 0; i < weights.size(); i++) {
                byKey.put(weights.get(i).getUid(), segments.get(i));
            }
            Map<String, NDArray> directions = new HashMap<>();
            for (ParameterGradient p : parameters) {
                NDArray u = byKey.get(p.key());
                NDArray w = p.weight();
                directions.put(
                        p.key(),
                        u != null
                                ? ws.keep(u, owner)
                                : owner.zeros(w.getShape(), w.getDataType())); // not the block's
            }
            return directions;
        }
    }

    /**
     * One step on F from w: the subspace, the k x k model read to the host, its saddle-free
     * solution and the line search. Fills in the report.
     *
     * @return the direction \( u = -t p \) (the base class moves w by \( -\eta u \)), flat
     */
    private NDArray newtonStep(Pending batch, NDArray g, NDArray w, Set<String> keys, Step step) {
        SymmetricOperator operator =
                curvature == Curvature.HESSIAN ? batch.batch.hessian() : batch.batch.gaussNewton();
        Basis basis = basis(operator, g, keys, step);
        NDArray current = objective(batch.batch, w, null);
        if (basis == null) { // a KRYLOV gradient of zero (or overflowing) norm: nothing to do
            return stay(batch.report, HostReads.toDouble(current), null, 0, 1, g);
        }
        int k = basis.size;
        NDArray model =
                NDArrays.concat(
                        new NDList(
                                basis.rows.matMul(basis.images.transpose()).reshape(-1),
                                basis.rows.matMul(g),
                                current.reshape(1)));
        double[] host = HostReads.toDoubles(model.toType(DataType.FLOAT64, false));
        double value = host[k * k + k];
        if (!Arrays.stream(host).allMatch(Double::isFinite)) {
            nonFiniteModels++;
            warnOnce("the quadratic model (S^T H S, S^T g or the loss) is not finite");
            return stay(batch.report, value, null, basis.products, 1, g);
        }
        Solution solution = solve(host, k);
        NDArray c = g.getManager().create(solution.coefficients).toType(g.getDataType(), false);
        NDArray p = c.reshape(1, k).matMul(basis.rows).reshape(-1);
        double t = 1;
        for (int trial = 1; trial <= maxHalvings + 1; trial++, t /= 2) {
            double next = HostReads.toDouble(objective(batch.batch, w, p.mul(t)));
            if (next <= value + armijo * t * solution.slope) {
                warned = false;
                batch.report.values =
                        new StepReport.Values(
                                value,
                                next,
                                t,
                                solution.predicted,
                                solution.eigenvalues,
                                basis.products,
                                1 + trial);
                return p.mul(-t);
            }
        }
        lineSearchFailures++;
        warnOnce("no decrease after " + maxHalvings + " halvings");
        return stay(batch.report, value, solution, basis.products, maxHalvings + 2, g);
    }

    /** Reports a taken step that moves nothing, and returns its zero direction. */
    private static NDArray stay(
            StepReport report,
            double value,
            Solution solution,
            int products,
            int evaluations,
            NDArray g) {
        report.values =
                solution == null
                        ? new StepReport.Values(
                                value, value, 0, 0, new double[0], products, evaluations)
                        : new StepReport.Values(
                                value,
                                value,
                                0,
                                solution.predicted,
                                solution.eigenvalues,
                                products,
                                evaluations);
        return g.zerosLike();
    }

    private void warnOnce(String problem) {
        if (!warned) {
            logger.warn("SubspaceNewton: {}; step taken without moving", problem);
            warned = true;
        }
    }

    /**
     * \( F(w + \delta) = r L(w + \delta) + \frac{\omega}{2} \|w + \delta\|^2 \) on the device, in
     * float64 ({@code displacement} null for \( \delta = 0 \)).
     */
    private NDArray objective(BatchCurvature batch, NDArray w, NDArray displacement) {
        NDManager scope = w.getManager();
        NDArray loss =
                displacement == null
                        ? batch.loss(scope)
                        : batch.lossAt(Vectors.split(displacement, batch.shapes()), scope);
        NDArray value = loss.toType(DataType.FLOAT64, false).mul(rescaleGrad);
        if (decay == 0) {
            return value;
        }
        NDArray x = displacement == null ? w : w.add(displacement);
        return value.add(dot(x, x).mul(decay / 2.0));
    }

    /**
     * The rows of S and of \( (H S)^\top \) (H the loss's, unscaled) on the device, and the
     * products spent.
     */
    private record Basis(NDArray rows, NDArray images, int size, int products) {}

    /** The step's subspace; null if there is none (see {@link #krylov}). */
    private Basis basis(SymmetricOperator operator, NDArray g, Set<String> keys, Step step) {
        NDManager scope = g.getManager();
        long d = operator.dimension();
        switch (subspace) {
            case RANDOM:
                NDArray gaussian =
                        Vectors.gaussian(scope, dimension * d, g.getDataType(), random)
                                .reshape(dimension, d);
                NDArray rows = Vectors.orthonormalRows(gaussian);
                return new Basis(rows, products(operator, rows), dimension, dimension);
            case KRYLOV:
                return krylov(operator, g);
            case EIGEN:
                int spent = 0;
                if (eigenBasis == null
                        || !keys.equals(eigenBasisKeys)
                        || step.isDue(t -> (t - 1) % refreshEvery == 0)) {
                    spent = refresh(operator, scope, g.getDataType(), keys);
                }
                NDArray basis = eigenBasis.duplicate();
                basis.attach(scope);
                return new Basis(basis, products(operator, basis), dimension, spent + dimension);
            default:
                throw new IllegalStateException("unknown subspace " + subspace);
        }
    }

    /** Recomputes the EIGEN basis by Lanczos; returns the products spent. */
    private int refresh(
            SymmetricOperator operator, NDManager scope, DataType type, Set<String> keys) {
        NDArray start = Vectors.gaussian(scope, operator.dimension(), type, random);
        Lanczos.Eigenpairs pairs =
                Lanczos.builder()
                        .optWhich(Lanczos.Which.LARGEST_MAGNITUDE)
                        .optTolerance(1e-3)
                        .build()
                        .eigenpairs(operator, dimension, start, random);
        if (eigenBasis != null) {
            eigenBasis.close();
        }
        eigenBasis = pairs.vectors();
        eigenBasis.attach(stateManager);
        eigenBasisKeys = keys;
        return pairs.steps();
    }

    /**
     * Lanczos from the gradient with full reorthogonalization: k products give the basis and its
     * products; one host read per product. Null if the gradient's norm is zero or overflows.
     */
    private Basis krylov(SymmetricOperator operator, NDArray g) {
        double norm = Math.sqrt(HostReads.toDouble(dot(g, g)));
        if (!(norm > 0 && norm < Double.POSITIVE_INFINITY)) {
            return null;
        }
        NDList rows = new NDList(dimension);
        NDList products = new NDList(dimension);
        NDArray q = g.div(norm);
        while (true) {
            rows.add(q);
            NDArray hq = operator.times(q);
            products.add(hq);
            if (rows.size() == dimension) {
                break;
            }
            NDArray basis = NDArrays.stack(rows);
            NDArray next = hq;
            for (int pass = 0; pass < 2; pass++) {
                next = next.sub(basis.matMul(next).matMul(basis));
            }
            double[] norms =
                    HostReads.toDoubles(NDArrays.stack(new NDList(dot(next, next), dot(hq, hq))));
            norm = Math.sqrt(norms[0]);
            if (!(norm > 1e-6 * Math.sqrt(norms[1]))) {
                break; // the Krylov space is exhausted: the step is exact within it
            }
            q = next.div(norm);
        }
        return new Basis(
                NDArrays.stack(rows), NDArrays.stack(products), rows.size(), products.size());
    }

    private static NDArray products(SymmetricOperator operator, NDArray rows) {
        long k = rows.getShape().get(0);
        NDList products = new NDList((int) k);
        for (int i = 0; i < k; i++) {
            products.add(operator.times(rows.get(i)));
        }
        return NDArrays.stack(products);
    }

    /** \( a^\top b \) in float64 on the device (float32 squares would overflow beyond 1e19). */
    private static NDArray dot(NDArray a, NDArray b) {
        return a.toType(DataType.FLOAT64, false).mul(b.toType(DataType.FLOAT64, false)).sum();
    }

    private record Solution(
            double[] coefficients, double[] eigenvalues, double slope, double predicted) {}

    /**
     * The saddle-free damped solve on the host, from the read model: \( r S^\top H S \) (row-major,
     * symmetrized) plus \( \omega I \), then b.
     */
    private Solution solve(double[] model, int k) {
        RealMatrix m = new Array2DRowRealMatrix(k, k);
        double[] b = Arrays.copyOfRange(model, k * k, k * k + k);
        RealVector bv = new ArrayRealVector(b, false);
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                double symmetric = (model[i * k + j] + model[j * k + i]) / 2;
                m.setEntry(i, j, rescaleGrad * symmetric + (i == j ? decay : 0));
            }
        }
        EigenDecomposition eigen = new EigenDecomposition(m);
        double[] lambda = eigen.getRealEigenvalues();
        double[] c = new double[k];
        for (int i = 0; i < k; i++) {
            double denominator = Math.abs(lambda[i]) + damping;
            if (denominator == 0) {
                continue;
            }
            RealVector u = eigen.getEigenvector(i);
            double weight = -u.dotProduct(bv) / denominator;
            for (int j = 0; j < k; j++) {
                c[j] += weight * u.getEntry(j);
            }
        }
        double slope = 0;
        double quadratic = 0;
        for (int i = 0; i < k; i++) {
            slope += b[i] * c[i];
            for (int j = 0; j < k; j++) {
                quadratic += c[i] * m.getEntry(i, j) * c[j];
            }
        }
        double[] descending = Arrays.stream(lambda).map(x -> -x).sorted().map(x -> -x).toArray();
        return new Solution(c, descending, slope, -(slope + quadratic / 2));
    }

    /** {@inheritDoc} */
    @Override
    protected boolean parametersChanged(List<String> keys) {
        weightDecay.retain(keys);
        if (eigenBasis == null || eigenBasisKeys.equals(Set.copyOf(keys))) {
            return false;
        }
        eigenBasis.close();
        eigenBasis = null;
        eigenBasisKeys = null;
        return true;
    }

    /** {@inheritDoc} */
    @Override
    protected Map<String, Object> curvatureHealth() {
        Map<String, Object> health = new LinkedHashMap<>();
        health.put("lineSearchFailures", lineSearchFailures);
        health.put("nonFiniteModels", nonFiniteModels);
        return health;
    }

    /**
     * Saves the random generator, the counts of steps that moved nothing and, for the EIGEN
     * subspace, the eigenvector basis with its parameters (the refresh schedule follows the base
     * class's count of taken steps). A prepared batch is not part of the state: save between steps.
     */
    @Override
    protected void writeState(OptimizerState state) {
        state.putRandom(RANDOM, random)
                .putLong(FAILURES, lineSearchFailures)
                .putLong(NON_FINITE, nonFiniteModels);
        if (eigenBasis != null) {
            state.put(BASIS, eigenBasis)
                    .putStrings(
                            BASIS_PARAMETERS, eigenBasisKeys.stream().map(state::nameOf).toList());
        }
    }

    /** {@inheritDoc} */
    @Override
    protected void readState(OptimizerState state) {
        Random restoredRandom = state.getRandom(RANDOM);
        long failures = state.getLong(FAILURES);
        long nonFinite = state.contains(NON_FINITE) ? state.getLong(NON_FINITE) : 0;
        NDArray basis = null;
        Set<String> basisKeys = null;
        if (state.contains(BASIS)) {
            if (subspace != Subspace.EIGEN) {
                throw new IllegalArgumentException(
                        "the checkpoint holds an EIGEN basis, but this optimizer's subspace is "
                                + subspace);
            }
            basisKeys = new HashSet<>();
            for (String name : state.getStrings(BASIS_PARAMETERS)) {
                basisKeys.add(state.keyOf(name));
            }
            if (stateManager == null) {
                stateManager = state.parameterManager().newSubManager();
            }
            basis = state.array(BASIS, stateManager);
            if (basis.getShape().get(0) != dimension) {
                long saved = basis.getShape().get(0);
                basis.close();
                throw new IllegalArgumentException(
                        "the checkpoint's basis has "
                                + saved
                                + " directions, but this optimizer's dimension is "
                                + dimension);
            }
        }
        if (eigenBasis != null) {
            eigenBasis.close();
        }
        pending = null;
        random = restoredRandom;
        lineSearchFailures = failures;
        nonFiniteModels = nonFinite;
        eigenBasis = basis;
        eigenBasisKeys = basisKeys;
    }

    /**
     * Returns how many taken steps found no decrease along the subspace Newton direction and moved
     * nothing.
     *
     * @return the count
     */
    public long lineSearchFailures() {
        return lineSearchFailures;
    }

    /**
     * Returns the subspace kind.
     *
     * @return RANDOM, KRYLOV or EIGEN
     */
    public Subspace getSubspace() {
        return subspace;
    }

    /**
     * Returns k.
     *
     * @return the subspace dimension
     */
    public int getDimension() {
        return dimension;
    }

    /** Builds {@link SubspaceNewton}. */
    public static final class Builder extends BaseBuilder<Builder> {

        private Subspace subspace = Subspace.KRYLOV;
        private int dimension = 10;
        private double damping = 0.1;
        private int refreshEvery = 10;
        private Curvature curvature = Curvature.HESSIAN;
        private BatchCurvature.Mode productMode = BatchCurvature.Mode.AUTO;
        private double armijo = 1e-4;
        private int maxHalvings = 10;
        private boolean trainingMode;
        private long seed;

        Builder() {
            super(1f);
        }

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets how subspaces are chosen.
         *
         * @param subspace RANDOM, KRYLOV (default) or EIGEN
         * @return this {@code Builder}
         */
        public Builder optSubspace(Subspace subspace) {
            this.subspace = subspace;
            return this;
        }

        /**
         * Sets k, the subspace dimension.
         *
         * @param dimension at least 1 and at most d; default 10
         * @return this {@code Builder}
         */
        public Builder optDimension(int dimension) {
            this.dimension = dimension;
            return this;
        }

        /**
         * Sets \( \delta \), added to the absolute eigenvalues of \( S^\top H S \).
         *
         * @param damping non-negative; default 0.1 (see the class javadoc)
         * @return this {@code Builder}
         */
        public Builder optDamping(double damping) {
            this.damping = damping;
            return this;
        }

        /**
         * Sets how many steps an EIGEN basis serves before it is recomputed.
         *
         * @param refreshEvery at least 1; default 10
         * @return this {@code Builder}
         */
        public Builder optRefreshEvery(int refreshEvery) {
            this.refreshEvery = refreshEvery;
            return this;
        }

        /**
         * Sets the curvature matrix.
         *
         * @param curvature HESSIAN (default) or GAUSS_NEWTON
         * @return this {@code Builder}
         */
        public Builder optCurvature(Curvature curvature) {
            this.curvature = curvature;
            return this;
        }

        /**
         * Sets how products are computed.
         *
         * @param productMode AUTO (default: exact on PyTorch), EXACT or FINITE_DIFFERENCE
         * @return this {@code Builder}
         */
        public Builder optProductMode(BatchCurvature.Mode productMode) {
            this.productMode = productMode;
            return this;
        }

        /**
         * Sets the Armijo constant of the line search.
         *
         * @param armijo in (0, 1); default 1e-4
         * @return this {@code Builder}
         */
        public Builder optArmijo(double armijo) {
            this.armijo = armijo;
            return this;
        }

        /**
         * Sets the most halvings of the line search.
         *
         * @param maxHalvings non-negative; default 10
         * @return this {@code Builder}
         */
        public Builder optMaxHalvings(int maxHalvings) {
            this.maxHalvings = maxHalvings;
            return this;
        }

        /**
         * Sets whether products and line search run the block in training mode.
         *
         * @param trainingMode default {@code false}
         * @return this {@code Builder}
         */
        public Builder optTrainingMode(boolean trainingMode) {
            this.trainingMode = trainingMode;
            return this;
        }

        /**
         * Sets the seed of the RANDOM directions and of the EIGEN start vectors.
         *
         * @param seed default 0
         * @return this {@code Builder}
         */
        public Builder optSeed(long seed) {
            this.seed = seed;
            return this;
        }

        /**
         * Builds the optimizer.
         *
         * @return the optimizer
         * @throws IllegalArgumentException naming the setting and its value if one is invalid
         */
        public SubspaceNewton build() {
            if (subspace == null) {
                throw new IllegalArgumentException("subspace must not be null");
            }
            if (curvature == null) {
                throw new IllegalArgumentException("curvature must not be null");
            }
            if (productMode == null) {
                throw new IllegalArgumentException("productMode must not be null");
            }
            if (dimension < 1) {
                throw new IllegalArgumentException(
                        "dimension must be at least 1, but was " + dimension);
            }
            if (!(damping >= 0) || Double.isInfinite(damping)) {
                throw new IllegalArgumentException(
                        "damping must be finite and non-negative, but was " + damping);
            }
            if (refreshEvery < 1) {
                throw new IllegalArgumentException(
                        "refreshEvery must be at least 1, but was " + refreshEvery);
            }
            if (!(armijo > 0 && armijo < 1)) {
                throw new IllegalArgumentException("armijo must be in (0, 1), but was " + armijo);
            }
            if (maxHalvings < 0) {
                throw new IllegalArgumentException(
                        "maxHalvings must be non-negative, but was " + maxHalvings);
            }
            return new SubspaceNewton(this);
        }
    }
}
