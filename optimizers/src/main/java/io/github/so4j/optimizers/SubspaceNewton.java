package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.subspace.BatchCurvature;
import io.github.so4j.curvature.subspace.Lanczos;
import io.github.so4j.curvature.subspace.SymmetricOperator;
import io.github.so4j.curvature.subspace.Vectors;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
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
 * <p>With S (d x k, orthonormal columns) chosen each step, the gradient g and the batch Hessian H
 * (or the Gauss-Newton matrix):
 *
 * <p>\( M = S^\top H S \) (k x k, from the k products \( H S \)), \( b = S^\top g \)<br>
 * \( M = U \Lambda U^\top \), \( c = -U (|\Lambda| + \delta I)^{-1} U^\top b \), \( p = S c \) <br>
 * \( w \leftarrow w + t p \), t the first of 1, 1/2, 1/4, ... with \( L(w + t p) \le L(w) + c_1 t
 * g^\top p \)
 *
 * <p>The absolute eigenvalues make p a descent direction on non-convex losses and move away from
 * saddle points instead of towards them (the saddle-free Newton of Dauphin et al.); \( \delta \)
 * damps directions of little curvature. Subspaces ({@link Subspace}): RANDOM, k Gaussian vectors
 * orthonormalized on the device (Gower et al.'s randomized subspace Newton); KRYLOV, the Krylov
 * space of the gradient, \( \operatorname{span}\{g, H g, \dots, H^{k-1} g\} \), by Lanczos with
 * full reorthogonalization (k products give both the basis and M: one step equals k steps of
 * conjugate gradients on a quadratic); EIGEN, the current top-k eigenvectors (by magnitude) of the
 * batch Hessian, refreshed by {@link Lanczos} every {@code refreshEvery} steps and reused in
 * between. DJL's weight decay \( \omega \) ({@code optWeightDecays}) is part of the objective: \(
 * \omega w \) joins the gradient, \( \omega I \) the curvature and \( \frac{\omega}{2}\|w\|^2 \)
 * the line search.
 *
 * <p><b>Why a train-step helper.</b> DJL hands an optimizer one parameter and its gradient at a
 * time, but this method needs the batch itself: products with the batch Hessian and loss values
 * along the direction. So it extends {@link SecondOrderOptimizer} for the update protocol and its
 * guards (a non-finite gradient skips the step, rejected curvature counts in {@link #health()},
 * gradients are cleared), and takes the batch through a helper that computes the step before the
 * trainer applies it. Replace
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
 * newton.trainStep(trainer, batch);   // trainBatch, the subspace step, trainer.step()
 * }</pre>
 *
 * <p>{@link #trainStep} calls {@code EasyTrain.trainBatch} (forward, backward, metrics and
 * listeners as usual), computes the step with {@link #prepare} from the gradient that backward left
 * in the parameters, and calls {@code trainer.step()}, which moves every parameter by \( \eta t p
 * \) (keep the learning rate \( \eta \) at its default 1: the line search sets the length). Code
 * that drives updates itself (a {@code ParameterStore}, as for float64 models) calls {@link
 * #prepare} after its backward and before its update. An update without a prepared step is an
 * error. Products and line search evaluate the block in inference mode unless {@link
 * Builder#optTrainingMode}; use it only for models without dropout or batch statistics.
 *
 * <p>Defaults: KRYLOV, k = 10, Hessian products (exact on PyTorch), damping \( \delta = 0.1 \),
 * EIGEN refresh every 10 steps, Armijo constant \( c_1 = 10^{-4} \) and at most 10 halvings
 * (Nocedal and Wright, ch. 3), learning rate 1. The damping is a Levenberg-Marquardt term in the
 * loss's units: on a mini-batch the smallest curvatures are mostly noise, and undamped steps along
 * them fit the batch and hurt the data set. Measured on Fashion-MNIST logistic regression (50 steps
 * of batch 256, loss over the 10,000 examples; {@code SubspaceNewtonTrainingTest}): \( \delta \) =
 * 0.01, 0.1, 1 gave 1.14, 0.41, 0.53 with k = 10 (and 0.52, 0.45, 0.54 with k = 5).
 *
 * <p><b>Cost</b> per step, with F a forward pass of the batch: the training forward and backward, k
 * products (about 5F each, see {@link BatchCurvature}), one loss evaluation for the current point
 * and one per line-search trial (F each), plus O(k<sup>2</sup>d) flops to orthonormalize and
 * project; EIGEN adds a Lanczos run of about 2k + 20 products every refresh. Memory: 2kd for the
 * basis and its products. One host synchronisation per product and per trial.
 *
 * @see <a href="https://arxiv.org/abs/1905.10874">paper</a> (Gower et al., RSN: randomized subspace
 *     Newton)
 * @see <a href="https://arxiv.org/abs/1406.2572">paper</a> (Dauphin et al., saddle-free Newton)
 */
public final class SubspaceNewton extends SecondOrderOptimizer {

    private static final Logger logger = LoggerFactory.getLogger(SubspaceNewton.class);

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
    private static final String RANDOM = "subspace/random";
    private static final String FAILURES = "subspace/lineSearchFailures";
    private static final String BASIS = "subspace/eigenBasis";
    private static final String BASIS_PARAMETERS = "subspace/eigenBasisParameters";
    private static final String BASIS_AGE = "subspace/stepsSinceRefresh";

    private Random random;

    private NDManager stateManager;
    private NDArray eigenBasis;
    private Set<String> eigenBasisKeys;
    private int stepsSinceRefresh;
    private Map<String, NDArray> prepared;
    private boolean rejected;
    private long lineSearchFailures;
    private boolean warnedLineSearch;

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
     * What one step did.
     *
     * @param loss the batch loss before the step (with the weight-decay term)
     * @param lossAfter the batch loss at the accepted point (equal to {@code loss} if none)
     * @param stepSize t, the accepted fraction of the subspace Newton step (0 if none)
     * @param predictedDecrease \( -(b^\top c + \frac{1}{2} c^\top M c) \), the decrease the
     *     quadratic model promised for t = 1
     * @param curvatures the eigenvalues of \( S^\top H S \), descending
     * @param products the curvature-vector products spent
     * @param lossEvaluations the loss evaluations spent (the current point and each trial)
     */
    public record StepReport(
            double loss,
            double lossAfter,
            double stepSize,
            double predictedDecrease,
            double[] curvatures,
            int products,
            int lossEvaluations) {}

    /**
     * Trains on one batch: {@code EasyTrain.trainBatch}, then {@link #prepare}, then {@code
     * trainer.step()}.
     *
     * @param trainer a trainer whose optimizer is this one
     * @param batch the batch. Not modified.
     * @return what the step did
     * @throws IllegalArgumentException if the trainer's optimizer is another one
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
     * Computes the step for a batch from the gradients in the block's parameters (left by the
     * caller's backward on the same batch) and holds it for the next update.
     *
     * @param block the block being trained
     * @param loss its loss
     * @param data the batch's inputs. Not modified.
     * @param labels the batch's labels. Not modified.
     * @return what the step will do
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
        long d = batch.dimension();
        if (dimension > d) {
            throw new IllegalArgumentException(
                    "dimension k must be at most d = " + d + ", but was " + dimension);
        }
        discardPrepared();
        List<Parameter> parameters = batch.parameters();
        NDArray firstWeight = parameters.get(0).getArray();
        NDManager owner = firstWeight.getManager();
        if (stateManager == null) {
            stateManager = owner.newSubManager();
        }
        NDList weights = new NDList(parameters.size());
        NDList gradients = new NDList(parameters.size());
        for (Parameter parameter : parameters) {
            weights.add(parameter.getArray());
        }
        float decay = weightDecay();
        try (Workspace ws = new Workspace(stateManager, data, labels, weights)) {
            for (NDArray weight : weights) {
                NDArray gradient = weight.getGradient();
                gradient.attach(ws.manager());
                gradients.add(decay == 0 ? gradient : gradient.add(weight.mul(decay)));
            }
            NDArray g = Vectors.flatten(gradients);
            NDArray w = decay == 0 ? null : Vectors.flatten(weights);
            double gradientNorm = Math.sqrt(dot(g, g));
            if (!Double.isFinite(gradientNorm)) {
                rejected = true;
                return new StepReport(Double.NaN, Double.NaN, 0, 0, new double[0], 0, 0);
            }
            double current = batch.loss() + penalty(w, null, 0, decay);
            if (gradientNorm == 0) {
                prepareStep(zerosLike(weights), parameters);
                return new StepReport(current, current, 0, 0, new double[0], 0, 1);
            }
            SymmetricOperator operator =
                    curvature == Curvature.HESSIAN ? batch.hessian() : batch.gaussNewton();
            Set<String> keys = new HashSet<>();
            for (NDArray weight : weights) {
                keys.add(weight.getUid());
            }
            Basis basis = basis(operator, g, gradientNorm, d, keys);
            NDArray projected = basis.rows.matMul(basis.products.transpose());
            NDArray projectedGradient = basis.rows.matMul(g);
            double[][] m = toHost(projected, basis.size);
            double[] b = projectedGradient.toType(DataType.FLOAT64, false).toDoubleArray();
            Solution solution = solve(m, b, decay);
            if (solution == null) {
                rejected = true;
                return new StepReport(
                        current, current, 0, 0, new double[0], basis.productCount(), 1);
            }
            NDArray c =
                    ws.manager()
                            .create(solution.coefficients)
                            .toType(g.getDataType(), false)
                            .reshape(new Shape(1, basis.size));
            NDArray p = c.matMul(basis.rows).reshape(d);
            double slope = solution.slope;
            int evaluations = 1;
            double t = 1;
            double accepted = Double.NaN;
            for (int halving = 0; halving <= maxHalvings; halving++) {
                NDList displacement = Vectors.split(p.mul(t), batch.shapes());
                double trial = batch.lossAt(displacement) + penalty(w, p, t, decay);
                evaluations++;
                if (trial <= current + armijo * t * slope) {
                    accepted = trial;
                    break;
                }
                t /= 2;
            }
            double[] curvatures = solution.eigenvalues;
            if (Double.isNaN(accepted)) {
                lineSearchFailures++;
                if (!warnedLineSearch) {
                    logger.warn(
                            "SubspaceNewton: no decrease after {} halvings; step not taken",
                            maxHalvings);
                    warnedLineSearch = true;
                }
                prepareStep(zerosLike(weights), parameters);
                return new StepReport(
                        current,
                        current,
                        0,
                        solution.predicted,
                        curvatures,
                        basis.productCount(),
                        evaluations);
            }
            warnedLineSearch = false;
            NDList directions = Vectors.split(p.mul(-t), batch.shapes());
            prepareStep(directions, parameters);
            return new StepReport(
                    current,
                    accepted,
                    t,
                    solution.predicted,
                    curvatures,
                    basis.productCount(),
                    evaluations);
        }
    }

    /** The rows of S and of \( (H S)^\top \), on the device. */
    private record Basis(NDArray rows, NDArray products, int size, int productCount) {}

    private Basis basis(
            SymmetricOperator operator, NDArray g, double gradientNorm, long d, Set<String> keys) {
        DataType type = g.getDataType();
        NDManager scope = g.getManager();
        switch (subspace) {
            case RANDOM:
                {
                    NDArray gaussian =
                            Vectors.gaussian(scope, dimension * d, type, random)
                                    .reshape(dimension, d);
                    NDArray rows = Vectors.orthonormalRows(gaussian);
                    return new Basis(rows, products(operator, rows), dimension, dimension);
                }
            case KRYLOV:
                return krylov(operator, g.div(gradientNorm));
            case EIGEN:
                {
                    int spent = 0;
                    if (eigenBasis == null
                            || stepsSinceRefresh >= refreshEvery
                            || !keys.equals(eigenBasisKeys)) {
                        if (eigenBasis != null) {
                            eigenBasis.close();
                        }
                        NDArray start = Vectors.gaussian(scope, d, type, random);
                        Lanczos.Eigenpairs pairs =
                                Lanczos.builder()
                                        .optWhich(Lanczos.Which.LARGEST_MAGNITUDE)
                                        .optTolerance(1e-3)
                                        .build()
                                        .eigenpairs(operator, dimension, start, random);
                        spent = pairs.steps();
                        eigenBasis = pairs.vectors();
                        eigenBasis.attach(stateManager);
                        eigenBasisKeys = keys;
                        stepsSinceRefresh = 0;
                    }
                    stepsSinceRefresh++;
                    NDArray rows = eigenBasis.duplicate();
                    rows.attach(scope);
                    return new Basis(rows, products(operator, rows), dimension, spent + dimension);
                }
            default:
                throw new IllegalStateException("unknown subspace " + subspace);
        }
    }

    /** Lanczos from the normalized gradient: k products give the basis and its products. */
    private Basis krylov(SymmetricOperator operator, NDArray start) {
        NDList rows = new NDList(dimension);
        NDList products = new NDList(dimension);
        NDArray q = start;
        for (int i = 0; i < dimension; i++) {
            rows.add(q);
            NDArray hq = operator.times(q);
            products.add(hq);
            if (i == dimension - 1) {
                break;
            }
            NDArray basis = NDArrays.stack(rows);
            NDArray next = hq;
            for (int pass = 0; pass < 2; pass++) {
                next = next.sub(basis.matMul(next).matMul(basis));
            }
            double norm = Math.sqrt(dot(next, next));
            double scale = Math.sqrt(dot(hq, hq));
            if (!(norm > 1e-6 * scale)) {
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

    private record Solution(
            double[] coefficients, double[] eigenvalues, double slope, double predicted) {}

    /** The saddle-free damped solve on the host; null if M or b is not finite. */
    private Solution solve(double[][] m, double[] b, double decay) {
        int k = b.length;
        for (int i = 0; i < k; i++) {
            if (!Double.isFinite(b[i])) {
                return null;
            }
            for (int j = 0; j < k; j++) {
                if (!Double.isFinite(m[i][j])) {
                    return null;
                }
            }
        }
        RealMatrix matrix = new Array2DRowRealMatrix(k, k);
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                matrix.setEntry(i, j, (m[i][j] + m[j][i]) / 2 + (i == j ? decay : 0));
            }
        }
        EigenDecomposition eigen = new EigenDecomposition(matrix);
        double[] lambda = eigen.getRealEigenvalues();
        double[] c = new double[k];
        for (int i = 0; i < k; i++) {
            double denominator = Math.abs(lambda[i]) + damping;
            if (denominator == 0) {
                continue;
            }
            RealVector u = eigen.getEigenvector(i);
            double weight = -u.dotProduct(new ArrayRealVector(b)) / denominator;
            for (int j = 0; j < k; j++) {
                c[j] += weight * u.getEntry(j);
            }
        }
        double slope = 0;
        double quadratic = 0;
        for (int i = 0; i < k; i++) {
            slope += b[i] * c[i];
            for (int j = 0; j < k; j++) {
                quadratic += c[i] * matrix.getEntry(i, j) * c[j];
            }
        }
        double[] sorted = lambda.clone();
        Arrays.sort(sorted);
        double[] descending = new double[k];
        for (int i = 0; i < k; i++) {
            descending[i] = sorted[k - 1 - i];
        }
        return new Solution(c, descending, slope, -(slope + quadratic / 2));
    }

    /** \( \frac{\omega}{2} \|w + t p\|^2 \), from three host scalars. */
    private static double penalty(NDArray w, NDArray p, double t, float decay) {
        if (decay == 0) {
            return 0;
        }
        double ww = dot(w, w);
        if (p == null) {
            return decay / 2.0 * ww;
        }
        return decay / 2.0 * (ww + 2 * t * dot(w, p) + t * t * dot(p, p));
    }

    private static double dot(NDArray a, NDArray b) {
        return a.mul(b).toType(DataType.FLOAT64, false).sum().getDouble();
    }

    private static double[][] toHost(NDArray matrix, int k) {
        double[] flat = matrix.toType(DataType.FLOAT64, false).toDoubleArray();
        double[][] m = new double[k][k];
        for (int i = 0; i < k; i++) {
            System.arraycopy(flat, i * k, m[i], 0, k);
        }
        return m;
    }

    private static NDList zerosLike(NDList arrays) {
        NDList zeros = new NDList(arrays.size());
        for (NDArray array : arrays) {
            zeros.add(array.zerosLike());
        }
        return zeros;
    }

    /** Holds \( u = -t p \) per parameter (the base class moves w by \( -\eta u \)). */
    private void prepareStep(NDList directions, List<Parameter> parameters) {
        prepared = new HashMap<>();
        for (int i = 0; i < parameters.size(); i++) {
            NDArray direction = directions.get(i);
            direction.attach(stateManager);
            prepared.put(parameters.get(i).getArray().getUid(), direction);
        }
        rejected = false;
    }

    private void discardPrepared() {
        if (prepared != null) {
            for (NDArray array : prepared.values()) {
                array.close();
            }
        }
        prepared = null;
        rejected = false;
    }

    /** {@inheritDoc} */
    @Override
    protected Map<String, NDArray> computeStep(
            List<ParameterGradient> parameters, NDManager owner) {
        if (rejected) {
            rejected = false;
            return null;
        }
        if (prepared == null) {
            throw new IllegalStateException(
                    "SubspaceNewton needs the batch: call trainStep(trainer, batch), or"
                            + " prepare(block, loss, data, labels) after backward, before each"
                            + " update");
        }
        Map<String, NDArray> directions = new HashMap<>();
        for (ParameterGradient p : parameters) {
            NDArray direction = prepared.remove(p.key());
            if (direction == null) {
                direction = p.weight().zerosLike();
            }
            direction.attach(owner);
            directions.put(p.key(), direction);
        }
        discardPrepared();
        return directions;
    }

    /** {@inheritDoc} */
    @Override
    protected boolean parametersChanged(List<String> keys) {
        if (eigenBasis == null || eigenBasisKeys.equals(Set.copyOf(keys))) {
            return false;
        }
        eigenBasis.close();
        eigenBasis = null;
        eigenBasisKeys = null;
        return true;
    }

    /**
     * Saves the random generator, the line-search failure count and, for the EIGEN subspace, the
     * eigenvector basis with its parameters and age. A step prepared but not yet taken is not part
     * of the state: save between steps.
     */
    @Override
    protected void writeState(OptimizerState state) {
        state.putRandom(RANDOM, random).putLong(FAILURES, lineSearchFailures);
        if (eigenBasis != null) {
            state.put(BASIS, eigenBasis)
                    .putStrings(
                            BASIS_PARAMETERS, eigenBasisKeys.stream().map(state::nameOf).toList())
                    .putLong(BASIS_AGE, stepsSinceRefresh);
        }
    }

    /** {@inheritDoc} */
    @Override
    protected void readState(OptimizerState state) {
        Random restoredRandom = state.getRandom(RANDOM);
        long failures = state.getLong(FAILURES);
        NDArray basis = null;
        Set<String> basisKeys = null;
        int age = 0;
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
            age = Math.toIntExact(state.getLong(BASIS_AGE));
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
        discardPrepared();
        if (eigenBasis != null) {
            eigenBasis.close();
        }
        random = restoredRandom;
        lineSearchFailures = failures;
        eigenBasis = basis;
        eigenBasisKeys = basisKeys;
        stepsSinceRefresh = age;
    }

    /**
     * Returns how many steps found no decrease along the subspace Newton direction and moved
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
