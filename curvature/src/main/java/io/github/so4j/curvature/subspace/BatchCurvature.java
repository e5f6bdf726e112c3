package io.github.so4j.curvature.subspace;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import ai.djl.util.Pair;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Products with the Hessian (and the Gauss-Newton matrix) of a DJL block's loss on one batch, with
 * respect to all of its trainable parameters, without forming a d x d matrix.
 *
 * <p>For the batch loss \( L(w) = \ell(f(x; w), y) \) at the block's current weights \( w \):
 *
 * <p>\( H v = \nabla^2 L(w)\, v = \nabla_w \left( \nabla_w L(w)^\top v \right) \) (Pearlmutter's
 * double backward)<br>
 * \( G v = J^\top \nabla_z^2 \ell(z)\, J v \) with \( z = f(x; w) \), \( J = \partial z / \partial
 * w \) (the Gauss-Newton matrix, positive semi-definite when \( \ell \) is convex in the outputs)
 *
 * <p>Two modes:
 *
 * <ul>
 *   <li>{@link Mode#EXACT}, on DJL's PyTorch engine. The forward pass runs at \( w + \tau v \) with
 *       a scalar leaf \( \tau = 0 \) and copies \( p \) of the weights as leaves (they share the
 *       weights' storage); a backward with {@code create_graph} deposits \( \partial L / \partial
 *       \tau = \nabla L^\top v \), carrying its graph, on \( \tau \) alone (the copies stop
 *       requiring a gradient meanwhile), and a second, plain backward of that scalar deposits \( H
 *       v \) on the copies. The model's parameters, their gradients and their flags are never
 *       touched. A gradient that carries its graph holds its own leaf through that graph (the
 *       reference cycle PyTorch warns about), and DJL cannot reset a gradient to {@code None}: so
 *       \( \tau \) is read through a sparse lookup, its gradient is a sparse tensor, and a last
 *       plain backward of \( \tau \) itself makes PyTorch replace it, out of place and without a
 *       graph, by a dense sum, which frees the graph. {@code BatchCurvatureLeakTest} shows that a
 *       thousand products leave the live arrays and the process's memory flat. \( J v \) is
 *       obtained the same way with a dummy leaf on the outputs, and \( G v = \nabla_w (c^\top
 *       \nabla_z \ell(z(w))) \) for the constant \( c = J v \).
 *   <li>{@link Mode#FINITE_DIFFERENCE}, for any engine: central differences of gradients, \( H v
 *       \approx (\nabla L(w + h v) - \nabla L(w - h v)) / (2h) \), with \( h = \epsilon^{1/3} (1 +
 *       \|w\|) / \|v\| \) where \( \epsilon \) is the machine epsilon of the weights' dtype. The
 *       truncation error is \( O(h^2 \|v\|^3) \) and the rounding error \( O(\epsilon \|\nabla L\|
 *       / (h \|v\|)) \); this h balances them for problems whose third derivatives vary on the
 *       scale of the weights, for a relative error of order \( \epsilon^{2/3} \) (about 6e-5 in
 *       float32, 4e-11 in float64). For \( G v \) the same differences give \( J v \) from outputs
 *       and \( \nabla_z^2 \ell\, c \) from output gradients.
 * </ul>
 *
 * <p>{@link Mode#AUTO} (the default) picks EXACT on PyTorch and FINITE_DIFFERENCE elsewhere, and
 * logs nothing: {@link #mode()} says which. Asking for EXACT on another engine is an error.
 *
 * <p>Vectors are per-parameter lists (the block's trainable parameters in {@link
 * Block#getParameters()} order, shaped as the parameters) or one flat vector of all d coordinates
 * in that order. The block is evaluated in inference mode unless {@link Builder#optTraining}; the
 * weights are read at every call, so a curvature object follows an optimizer's updates. An exact
 * product must not run inside another open {@link GradientCollector} (DJL's PyTorch engine allows
 * one at a time).
 *
 * <p><b>Losses and blocks must not multiply recorded arrays by Java numbers.</b> DJL's PyTorch
 * engine turns {@code x.mul(0.5)} into a product with a scalar array over host memory that it
 * closes at once, while the recorded graph keeps that array for the backward passes: a garbage
 * collection in between frees the memory, and the gradients and products are scaled by whatever it
 * then holds. DJL's {@code L2Loss} does this (its factor 1/2); {@code SoftmaxCrossEntropyLoss} with
 * its default weight 1 does not. Multiply by an array that stays open instead. The products here
 * record no such number themselves.
 *
 * <p><b>Cost</b> per product, with F the cost of a forward pass: EXACT H v about 5F (a forward, a
 * backward that records its graph, a backward through it); FINITE_DIFFERENCE about 6F (two
 * forward-backward passes); G v about 7F in either mode. Memory: the activations of one pass, plus
 * 2d for the copies of the weights. Host reads, all through {@code HostReads} (counted): one per
 * product (the norm of v, checked), one more per finite-difference product (the weights' norm, for
 * h) and another per finite-difference G v (the output norms), one per {@code double} loss; the
 * {@code NDArray} losses and {@link #valueAndGradientAt} (a forward and a backward pass, about 3F)
 * read nothing.
 *
 * @see <a href="https://doi.org/10.1162/neco.1994.6.1.147">paper</a> (Pearlmutter, Fast exact
 *     multiplication by the Hessian)
 */
public final class BatchCurvature {

    /** How products are computed. */
    public enum Mode {
        /** EXACT on DJL's PyTorch engine, FINITE_DIFFERENCE elsewhere. */
        AUTO,
        /** Double backward (PyTorch engine only). */
        EXACT,
        /** Central differences of gradients (any engine). */
        FINITE_DIFFERENCE
    }

    private final Block block;
    private final Loss loss;
    private final NDList data;
    private final NDList labels;
    private final boolean training;
    private final List<Parameter> parameters;
    private final List<Parameter> frozen;
    private final Shape[] shapes;
    private final long dimension;
    private final DataType dataType;
    private final Device device;
    private final PyTorchDoubleBackward exact;
    private final Mode mode;

    private BatchCurvature(Builder builder) {
        this.block = builder.block;
        this.loss = builder.loss;
        this.data = builder.data;
        this.labels = builder.labels;
        this.training = builder.training;
        this.parameters = new ArrayList<>();
        this.frozen = new ArrayList<>();
        for (Pair<String, Parameter> pair : block.getParameters()) {
            Parameter parameter = pair.getValue();
            if (!parameter.isInitialized()) {
                throw new IllegalArgumentException(
                        "block must be initialized, but parameter "
                                + parameter.getName()
                                + " is not");
            }
            (parameter.requiresGradient() ? parameters : frozen).add(parameter);
        }
        if (parameters.isEmpty()) {
            throw new IllegalArgumentException("block has no trainable parameters");
        }
        this.shapes = new Shape[parameters.size()];
        for (int i = 0; i < shapes.length; i++) {
            shapes[i] = parameters.get(i).getArray().getShape();
        }
        this.dimension = Vectors.dimension(shapes);
        NDArray first = parameters.get(0).getArray();
        this.dataType = first.getDataType();
        this.device = first.getDevice();
        if (dataType != DataType.FLOAT32 && dataType != DataType.FLOAT64) {
            throw new IllegalArgumentException(
                    "parameters must be float32 or float64, but were " + dataType);
        }
        PyTorchDoubleBackward found =
                builder.mode == Mode.FINITE_DIFFERENCE ? null : PyTorchDoubleBackward.find(first);
        if (builder.mode == Mode.EXACT && found == null) {
            throw new IllegalArgumentException(
                    "mode EXACT needs DJL's PyTorch engine, but the parameters are "
                            + first.getClass().getName()
                            + "; use FINITE_DIFFERENCE or AUTO");
        }
        this.exact = found;
        this.mode = found == null ? Mode.FINITE_DIFFERENCE : Mode.EXACT;
    }

    /**
     * Returns a builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the mode in use: EXACT or FINITE_DIFFERENCE, never AUTO.
     *
     * @return the resolved mode
     */
    public Mode mode() {
        return mode;
    }

    /**
     * Returns the shapes of the trainable parameters, in order: the segments of a vector.
     *
     * @return a copy of the shapes
     */
    public Shape[] shapes() {
        return shapes.clone();
    }

    /**
     * Returns d, the number of trainable coordinates.
     *
     * @return the dimension
     */
    public long dimension() {
        return dimension;
    }

    /**
     * Returns the parameters' dtype, which vectors must have.
     *
     * @return float32 or float64
     */
    public DataType dataType() {
        return dataType;
    }

    /**
     * Returns the trainable parameters in vector order.
     *
     * @return an unmodifiable list
     */
    public List<Parameter> parameters() {
        return List.copyOf(parameters);
    }

    /**
     * Returns the current weights as a per-parameter list of copies.
     *
     * @param owner the manager of the copies
     * @return the weights
     */
    public NDList weights(NDManager owner) {
        NDList copies = new NDList(parameters.size());
        for (Parameter parameter : parameters) {
            NDArray copy = parameter.getArray().duplicate();
            copy.attach(owner);
            copies.add(copy);
        }
        return copies;
    }

    /**
     * Evaluates the batch loss at the current weights, without gradients (one host read).
     *
     * @return \( L(w) \)
     */
    public double loss() {
        try (Workspace ws = borrow()) {
            return HostReads.toDouble(loss(ws.manager()));
        }
    }

    /**
     * Evaluates the batch loss at the current weights on the device, without gradients.
     *
     * @param owner the manager of the result
     * @return \( L(w) \), a scalar in the loss's dtype, owned by {@code owner}
     */
    public NDArray loss(NDManager owner) {
        try (Workspace ws = borrow()) {
            Map<String, NDArray> values = new HashMap<>();
            for (Parameter parameter : parameters) {
                values.put(parameter.getId(), parameter.getArray());
            }
            return ws.keep(evaluate(values, ws.manager()), owner);
        }
    }

    /**
     * Evaluates the batch loss at displaced weights \( w + \delta \), without changing the weights
     * (one host read).
     *
     * @param displacement \( \delta \), one array per trainable parameter. Not modified.
     * @return \( L(w + \delta) \)
     */
    public double lossAt(NDList displacement) {
        checkVector(displacement, "displacement");
        try (Workspace ws = borrow(displacement)) {
            return HostReads.toDouble(lossAt(displacement, ws.manager()));
        }
    }

    /**
     * Evaluates the batch loss at displaced weights \( w + \delta \) on the device, without
     * changing the weights.
     *
     * @param displacement \( \delta \), one array per trainable parameter. Not modified.
     * @param owner the manager of the result
     * @return \( L(w + \delta) \), a scalar in the loss's dtype, owned by {@code owner}
     */
    public NDArray lossAt(NDList displacement, NDManager owner) {
        checkVector(displacement, "displacement");
        try (Workspace ws = borrow(displacement)) {
            Map<String, NDArray> values = new HashMap<>();
            for (int i = 0; i < parameters.size(); i++) {
                Parameter parameter = parameters.get(i);
                values.put(parameter.getId(), parameter.getArray().add(displacement.get(i)));
            }
            return ws.keep(evaluate(values, ws.manager()), owner);
        }
    }

    /**
     * Evaluates the batch loss with other weights in place of the block's, without changing them.
     *
     * @param weights one array per trainable parameter, shaped as the parameters. Not modified.
     * @return the loss with those weights
     */
    public double lossWith(NDList weights) {
        checkVector(weights, "weights");
        try (Workspace ws = borrow(weights)) {
            Map<String, NDArray> values = new HashMap<>();
            for (int i = 0; i < parameters.size(); i++) {
                values.put(parameters.get(i).getId(), weights.get(i));
            }
            return HostReads.toDouble(evaluate(values, ws.manager()));
        }
    }

    /**
     * Computes the gradient of the batch loss at the current weights, without touching the
     * parameters' own gradients.
     *
     * @param owner the manager that will own the result
     * @return \( \nabla L(w) \), one array per trainable parameter
     */
    public NDList gradient(NDManager owner) {
        try (Workspace ws = borrow()) {
            return ws.keep(gradientAt(null, 0, ws.manager()), owner);
        }
    }

    /**
     * The batch loss and its gradient at one point.
     *
     * @param value \( L \), a scalar in the loss's dtype
     * @param gradient \( \nabla L \), one array per trainable parameter, shaped as the parameters
     */
    public record ValueAndGradient(NDArray value, NDList gradient) {}

    /**
     * Evaluates the batch loss and its gradient at displaced weights \( w + \delta \) on the device
     * (one forward and one backward pass), without changing the weights or their own gradients, and
     * without a host read.
     *
     * @param displacement \( \delta \), one array per trainable parameter. Not modified.
     * @param owner the manager of the results
     * @return \( L(w + \delta) \) and \( \nabla L(w + \delta) \), owned by {@code owner}
     */
    public ValueAndGradient valueAndGradientAt(NDList displacement, NDManager owner) {
        checkVector(displacement, "displacement");
        try (Workspace ws = borrow(displacement)) {
            NDManager scope = ws.manager();
            List<NDArray> leaves = new ArrayList<>(parameters.size());
            for (int i = 0; i < parameters.size(); i++) {
                NDArray leaf = parameters.get(i).getArray().add(displacement.get(i));
                leaf.setRequiresGradient(true);
                leaves.add(leaf);
            }
            NDArray value;
            try (GradientCollector collector = collector(scope)) {
                NDArray recorded = evaluate(valuesOf(leaves), scope);
                collector.backward(recorded);
                value = recorded.stopGradient();
            }
            NDList gradient = gradients(leaves);
            return new ValueAndGradient(ws.keep(value, owner), ws.keep(gradient, owner));
        }
    }

    /**
     * Computes \( H v \).
     *
     * @param vector v, one array per trainable parameter, shaped as the parameters, not zero. Not
     *     modified.
     * @return \( H v \), one array per parameter, owned by the first segment's manager
     * @throws IllegalArgumentException if v has the wrong segments, dtype or device, is zero or is
     *     not finite
     */
    public NDList hessianTimes(NDList vector) {
        checkVector(vector, "v");
        NDManager caller = vector.head().getManager();
        try (Workspace ws = borrow(vector)) {
            double norm = norm(vector);
            NDList product =
                    mode == Mode.EXACT
                            ? exactHessianTimes(vector, ws.manager())
                            : differenceHessianTimes(vector, norm, ws.manager());
            return ws.keep(product, caller);
        }
    }

    /**
     * Computes \( H v \) for a flat vector.
     *
     * @param vector v, any shape with d elements, not zero. Not modified.
     * @return \( H v \), shaped as {@code vector}, owned by its manager
     */
    public NDArray hessianTimes(NDArray vector) {
        return flatProduct(vector, true);
    }

    /**
     * Computes \( G v \), the Gauss-Newton product (for blocks with one output).
     *
     * @param vector v, one array per trainable parameter, not zero. Not modified.
     * @return \( G v \), one array per parameter, owned by the first segment's manager
     * @throws IllegalArgumentException if v is invalid or the block has more than one output
     */
    public NDList gaussNewtonTimes(NDList vector) {
        checkVector(vector, "v");
        NDManager caller = vector.head().getManager();
        try (Workspace ws = borrow(vector)) {
            double norm = norm(vector);
            NDList product =
                    mode == Mode.EXACT
                            ? exactGaussNewtonTimes(vector, ws.manager())
                            : differenceGaussNewtonTimes(vector, norm, ws.manager());
            return ws.keep(product, caller);
        }
    }

    /**
     * Computes \( G v \) for a flat vector.
     *
     * @param vector v, any shape with d elements, not zero. Not modified.
     * @return \( G v \), shaped as {@code vector}, owned by its manager
     */
    public NDArray gaussNewtonTimes(NDArray vector) {
        return flatProduct(vector, false);
    }

    /**
     * Computes the Gauss-Newton matrix between k vectors, \( M_{ij} = u_i^\top G u_j = (J u_i)^\top
     * \nabla_z^2 \ell\, (J u_j) \), as kfac-jax's exact quadratic model does (its {@code
     * multiply_ggn_factor_transpose} of each vector, then their inner products), on the device and
     * without a host read (EXACT mode only).
     *
     * <p>The k Jacobian-vector products \( J u_j \) share one forward pass at \( w + \sum_j \tau_j
     * u_j \) (scalar probes \( \tau_j = 0 \)), contracted with a dummy c on the outputs, and one
     * backward that records its graph (it deposits \( c^\top J u_j \) on each \( \tau_j \)); a
     * plain backward of each \( c^\top J u_j \) then gives \( J u_j \) on c. The loss's output
     * Hessian is applied the same way at the loss alone: \( \nabla_z^2 \ell\, J u_j \) by double
     * backward of \( \ell(z + \sum_j \sigma_j J u_j) \) with respect to z. The same numbers as \(
     * u_i^\top \) {@link #gaussNewtonTimes}\( (u_j) \), at a fraction of the cost.
     *
     * <p><b>Cost</b>: one forward pass, one backward that records its graph and k backward passes
     * through it, about (3 + 2k)F for F a forward pass (k products by {@link #gaussNewtonTimes}
     * take about 7kF and k host reads); the loss's part costs the size of the outputs, and the
     * inner products 2k(k + 1) times the outputs' size, in float64. No host read: a zero or
     * non-finite vector is not refused, it gives zeros or non-finite entries.
     *
     * @param vectors \( u_1, \ldots, u_k \), each one array per trainable parameter. Not modified.
     * @param owner the manager of the result
     * @return M, a k x k float64 symmetric matrix owned by {@code owner}
     * @throws IllegalArgumentException if there is no vector or one has the wrong segments, dtype
     *     or device
     * @throws IllegalStateException if the mode is not EXACT or the block has more than one output
     */
    public NDArray gaussNewtonGram(List<NDList> vectors, NDManager owner) {
        if (vectors == null || vectors.isEmpty()) {
            throw new IllegalArgumentException("vectors must hold at least one vector");
        }
        for (int i = 0; i < vectors.size(); i++) {
            checkVector(vectors.get(i), "vectors[" + i + "]");
        }
        if (mode != Mode.EXACT) {
            throw new IllegalStateException(
                    "gaussNewtonGram needs mode EXACT (DJL's PyTorch engine), but the mode is "
                            + mode);
        }
        // borrow each array once, even when two vectors share one
        Set<NDArray> distinct = Collections.newSetFromMap(new IdentityHashMap<>());
        vectors.forEach(distinct::addAll);
        try (Workspace ws = borrow(new NDList(distinct))) {
            NDManager scope = ws.manager();
            NDArray[] output = new NDArray[1];
            NDList jacobian = exactJacobianTimes(vectors, output, scope);
            NDList curved = exactOutputHessianTimes(output[0], jacobian, scope);
            int k = vectors.size();
            NDArray[] entries = new NDArray[k * k];
            for (int i = 0; i < k; i++) {
                NDArray left = jacobian.get(i).toType(DataType.FLOAT64, false);
                for (int j = i; j < k; j++) {
                    NDArray entry = left.mul(curved.get(j).toType(DataType.FLOAT64, false)).sum();
                    entries[i * k + j] = entry;
                    entries[j * k + i] = entry;
                }
            }
            NDArray gram = NDArrays.stack(new NDList(entries)).reshape(k, k);
            return ws.keep(gram, owner);
        }
    }

    /**
     * Returns the Hessian as an operator on flat vectors.
     *
     * @return \( v \mapsto H v \)
     */
    public SymmetricOperator hessian() {
        return operator(true);
    }

    /**
     * Returns the Gauss-Newton matrix as an operator on flat vectors.
     *
     * @return \( v \mapsto G v \)
     */
    public SymmetricOperator gaussNewton() {
        return operator(false);
    }

    private SymmetricOperator operator(boolean hessian) {
        return new SymmetricOperator() {
            @Override
            public long dimension() {
                return dimension;
            }

            @Override
            public DataType dataType() {
                return dataType;
            }

            @Override
            public NDArray times(NDArray vector) {
                Vectors.checkFlat(vector, dimension, "vector");
                return flatProduct(vector, hessian);
            }
        };
    }

    private NDArray flatProduct(NDArray vector, boolean hessian) {
        if (vector.size() != dimension) {
            throw new IllegalArgumentException(
                    "v must have " + dimension + " elements, but had shape " + vector.getShape());
        }
        NDManager caller = vector.getManager();
        try (Workspace ws = new Workspace(caller, vector)) {
            NDList segments = Vectors.split(vector, shapes);
            NDList product = hessian ? hessianTimes(segments) : gaussNewtonTimes(segments);
            NDArray flat = Vectors.flatten(product).reshape(vector.getShape());
            return ws.keep(flat, caller);
        }
    }

    // ----- exact mode ---------------------------------------------------------------------

    /** H v by double backward through a sparse scalar probe (see the class javadoc). */
    private NDList exactHessianTimes(NDList vector, NDManager scope) {
        List<NDArray> copies = leafCopies(true);
        GradientCollector recording = collector(scope);
        try {
            // created while recording, so that the lookup enters the graph
            NDArray[] probe = exact.sparseScalar(scope, dataType);
            NDArray tau = probe[0];
            Map<String, NDArray> values = new HashMap<>();
            for (int i = 0; i < parameters.size(); i++) {
                values.put(
                        parameters.get(i).getId(), copies.get(i).add(vector.get(i).mul(probe[1])));
            }
            NDArray batchLoss = evaluate(values, scope);
            setRequiresGradient(copies, false);
            try {
                exact.backward(batchLoss, true, true);
                NDArray directional = tau.getGradient().sum();
                tau.setRequiresGradient(false);
                setRequiresGradient(copies, true);
                exact.backward(directional, false, false);
                return gradients(copies);
            } finally {
                breakCycle(tau);
            }
        } finally {
            recording.close();
        }
    }

    /** G v = grad_w (c . grad_z l(z(w))) with c = J v, both by probes (see the class javadoc). */
    private NDList exactGaussNewtonTimes(NDList vector, NDManager scope) {
        NDArray jv = exactJacobianTimes(vector, scope);
        List<NDArray> copies = leafCopies(true);
        GradientCollector recording = collector(scope);
        try {
            // created while recording, so that the lookup enters the graph
            NDArray[] probe = exact.sparseScalar(scope, dataType);
            NDArray tau = probe[0];
            NDArray output = forwardOne(valuesOf(copies), scope);
            NDArray shifted = output.add(jv.mul(probe[1]));
            NDArray batchLoss = loss.evaluate(labels, new NDList(shifted));
            setRequiresGradient(copies, false);
            try {
                exact.backward(batchLoss, true, true);
                NDArray directional = tau.getGradient().sum();
                tau.setRequiresGradient(false);
                setRequiresGradient(copies, true);
                exact.backward(directional, false, false);
                return gradients(copies);
            } finally {
                breakCycle(tau);
            }
        } finally {
            recording.close();
        }
    }

    /** J v: the output at w + tau v, contracted with a dummy leaf u, differentiated twice. */
    private NDArray exactJacobianTimes(NDList vector, NDManager scope) {
        return exactJacobianTimes(List.of(vector), new NDArray[1], scope).head();
    }

    /**
     * \( J u_j \) for every vector: one forward pass at \( w + \sum_j \tau_j u_j \), contracted
     * with a dummy c, one backward that records its graph, and one plain backward of each \( c^\top
     * J u_j \) with respect to c. Sets {@code output[0]} to the outputs at w, detached.
     */
    private NDList exactJacobianTimes(List<NDList> vectors, NDArray[] output, NDManager scope) {
        List<NDArray> copies = leafCopies(false);
        GradientCollector recording = collector(scope);
        List<NDArray> taus = new ArrayList<>(vectors.size());
        try {
            Map<String, NDArray> values = new HashMap<>();
            List<NDArray> probes = new ArrayList<>(vectors.size());
            for (int j = 0; j < vectors.size(); j++) {
                NDArray[] probe = exact.sparseScalar(scope, dataType);
                taus.add(probe[0]);
                probes.add(probe[1]);
            }
            for (int i = 0; i < parameters.size(); i++) {
                NDArray value = copies.get(i);
                for (int j = 0; j < vectors.size(); j++) {
                    value = value.add(vectors.get(j).get(i).mul(probes.get(j)));
                }
                values.put(parameters.get(i).getId(), value);
            }
            NDArray out = forwardOne(values, scope);
            output[0] = out.stopGradient();
            // The backward with create_graph must record its dependence on the dummy, and a
            // backward formula records it only if the saved tensor requires a gradient when the
            // formula runs: so the contraction saves a non-leaf view of the dummy, and the leaf
            // itself stops requiring a gradient (receiving none) until the second backward. The
            // view multiplies by an array of this scope, not by the number 1: DJL would make the
            // number a scalar over host memory and close it at once, while the graph keeps it for
            // the second backward, which then reads freed memory if a garbage collection ran.
            NDArray dummy = scope.zeros(out.getShape(), out.getDataType());
            dummy.setRequiresGradient(true);
            NDArray one = scope.ones(new Shape(), out.getDataType());
            NDArray contracted = out.mul(dummy.mul(one)).sum();
            dummy.setRequiresGradient(false);
            try {
                exact.backward(contracted, true, true);
                return secondBackwards(taus, dummy);
            } finally {
                taus.forEach(this::breakCycle);
            }
        } finally {
            recording.close();
        }
    }

    /**
     * \( \nabla_z^2 \ell\, c_j \) at the outputs z for every \( c_j \): the loss at \( z + \sum_j
     * \sigma_j c_j \) (scalar probes \( \sigma_j = 0 \)), one backward that records its graph and a
     * plain backward of each \( \nabla_z \ell^\top c_j \) with respect to z.
     */
    private NDList exactOutputHessianTimes(NDArray output, NDList vectors, NDManager scope) {
        NDArray z = output.stopGradient();
        z.setRequiresGradient(true);
        GradientCollector recording = collector(scope);
        List<NDArray> taus = new ArrayList<>(vectors.size());
        try {
            NDArray shifted = z;
            for (NDArray vector : vectors) {
                NDArray[] probe = exact.sparseScalar(scope, dataType);
                taus.add(probe[0]);
                shifted = shifted.add(vector.mul(probe[1]));
            }
            NDArray value = loss.evaluate(labels, new NDList(shifted));
            z.setRequiresGradient(false); // as the dummy above: no graph-carrying gradient on z
            try {
                exact.backward(value, true, true);
                return secondBackwards(taus, z);
            } finally {
                taus.forEach(this::breakCycle);
            }
        } finally {
            recording.close();
        }
    }

    /**
     * After a backward with {@code create_graph} put graph-carrying gradients on the probes: the
     * gradient of each probe's gradient with respect to {@code leaf}, one plain backward each,
     * zeroing the leaf's gradient in between (PyTorch accumulates). A non-finite first product may
     * spoil the next ones: the entries are non-finite then anyway.
     */
    private NDList secondBackwards(List<NDArray> taus, NDArray leaf) {
        NDList directional = new NDList(taus.size());
        for (NDArray tau : taus) {
            directional.add(tau.getGradient().sum());
            tau.setRequiresGradient(false);
        }
        leaf.setRequiresGradient(true);
        NDList products = new NDList(taus.size());
        for (int j = 0; j < directional.size(); j++) {
            boolean last = j == directional.size() - 1;
            exact.backward(directional.get(j), !last, false);
            NDArray gradient = leaf.getGradient();
            products.add(gradient.duplicate());
            if (!last) {
                gradient.subi(gradient);
            }
        }
        return products;
    }

    /**
     * Frees the graph that \( \tau \)'s gradient carries: a plain backward of \( \tau \) makes
     * PyTorch add a dense gradient to the sparse one out of place, without a graph.
     */
    private void breakCycle(NDArray tau) {
        tau.setRequiresGradient(true);
        exact.backward(tau.sum(), false, false);
    }

    // ----- finite-difference mode ---------------------------------------------------------

    private NDList differenceHessianTimes(NDList vector, double norm, NDManager scope) {
        double h = step(weightNorm(), norm);
        NDList plus = gradientAt(vector, h, scope);
        NDList minus = gradientAt(vector, -h, scope);
        NDList product = new NDList(plus.size());
        for (int i = 0; i < plus.size(); i++) {
            product.add(plus.get(i).subi(minus.get(i)).muli(1 / (2 * h)));
        }
        return product;
    }

    private NDList differenceGaussNewtonTimes(NDList vector, double norm, NDManager scope) {
        double h = step(weightNorm(), norm);
        NDArray plus = outputAt(vector, h, scope);
        NDArray minus = outputAt(vector, -h, scope);
        NDArray jv = plus.subi(minus).muli(1 / (2 * h));
        NDArray output = outputAt(null, 0, scope);
        double[] norms = HostReads.toDoubles(NDArrays.stack(new NDList(output.norm(), jv.norm())));
        double outputNorm = norms[0];
        double jvNorm = norms[1];
        NDArray curvedJv;
        if (jvNorm == 0) {
            curvedJv = jv;
        } else {
            double k = step(outputNorm, jvNorm);
            NDArray up = outputGradient(output.add(jv.mul(k)), scope);
            NDArray down = outputGradient(output.sub(jv.mul(k)), scope);
            curvedJv = up.subi(down).muli(1 / (2 * k));
        }
        List<NDArray> copies = leafCopies(true);
        try (GradientCollector collector = collector(scope)) {
            NDArray out = forwardOne(valuesOf(copies), scope);
            collector.backward(out.mul(curvedJv).sum());
        }
        return gradients(copies);
    }

    /** \( \epsilon^{1/3} (1 + \|x\|) / \|v\| \). */
    private double step(double pointNorm, double vectorNorm) {
        double epsilon = dataType == DataType.FLOAT64 ? 0x1.0p-52 : 0x1.0p-23;
        return Math.cbrt(epsilon) * (1 + pointNorm) / vectorNorm;
    }

    /** The gradient at w + t v (at w when v is null), from fresh leaves. */
    private NDList gradientAt(NDList vector, double t, NDManager scope) {
        List<NDArray> leaves = new ArrayList<>(parameters.size());
        for (int i = 0; i < parameters.size(); i++) {
            NDArray weight = parameters.get(i).getArray();
            NDArray leaf = vector == null ? weight.duplicate() : weight.add(vector.get(i).mul(t));
            leaf.setRequiresGradient(true);
            leaves.add(leaf);
        }
        try (GradientCollector collector = collector(scope)) {
            collector.backward(evaluate(valuesOf(leaves), scope));
        }
        return gradients(leaves);
    }

    private NDArray outputAt(NDList vector, double t, NDManager scope) {
        Map<String, NDArray> values = new HashMap<>();
        for (int i = 0; i < parameters.size(); i++) {
            NDArray weight = parameters.get(i).getArray();
            values.put(
                    parameters.get(i).getId(),
                    vector == null ? weight : weight.add(vector.get(i).mul(t)));
        }
        return forwardOne(values, scope);
    }

    /** \( \nabla_z \ell(z) \) at the given outputs. */
    private NDArray outputGradient(NDArray output, NDManager scope) {
        NDArray leaf = output.duplicate();
        leaf.setRequiresGradient(true);
        try (GradientCollector collector = collector(scope)) {
            collector.backward(loss.evaluate(labels, new NDList(leaf)));
        }
        return leaf.getGradient();
    }

    // ----- shared -------------------------------------------------------------------------

    private NDArray evaluate(Map<String, NDArray> values, NDManager scope) {
        NDList output = block.forward(store(values, scope), data, training);
        return loss.evaluate(labels, output);
    }

    private NDArray forwardOne(Map<String, NDArray> values, NDManager scope) {
        NDList output = block.forward(store(values, scope), data, training);
        if (output.size() != 1) {
            throw new IllegalArgumentException(
                    "Gauss-Newton products need a block with one output, but it had "
                            + output.size());
        }
        return output.head();
    }

    private ParameterStore store(Map<String, NDArray> values, NDManager scope) {
        for (Parameter parameter : frozen) {
            values.putIfAbsent(parameter.getId(), parameter.getArray());
        }
        return new OverridingStore(scope, values);
    }

    private Map<String, NDArray> valuesOf(List<NDArray> arrays) {
        Map<String, NDArray> values = new HashMap<>();
        for (int i = 0; i < parameters.size(); i++) {
            values.put(parameters.get(i).getId(), arrays.get(i));
        }
        return values;
    }

    /** Leaves that share the weights' storage. */
    private List<NDArray> leafCopies(boolean requireGradient) {
        List<NDArray> copies = new ArrayList<>(parameters.size());
        for (Parameter parameter : parameters) {
            NDArray copy = parameter.getArray().stopGradient();
            if (requireGradient) {
                copy.setRequiresGradient(true);
            }
            copies.add(copy);
        }
        return copies;
    }

    private static void setRequiresGradient(List<NDArray> arrays, boolean requires) {
        for (NDArray array : arrays) {
            array.setRequiresGradient(requires);
        }
    }

    private static NDList gradients(List<NDArray> leaves) {
        NDList gradients = new NDList(leaves.size());
        for (NDArray leaf : leaves) {
            gradients.add(leaf.getGradient());
        }
        return gradients;
    }

    private GradientCollector collector(NDManager scope) {
        return scope.getEngine().newGradientCollector();
    }

    private double weightNorm() {
        NDList squares = new NDList(parameters.size());
        for (Parameter parameter : parameters) {
            NDArray weight = parameter.getArray();
            squares.add(weight.mul(weight).sum().toType(DataType.FLOAT64, false));
        }
        return sqrtOfSum(squares);
    }

    /** ‖v‖, checked to be positive and finite (one host synchronisation). */
    private static double norm(NDList vector) {
        NDList squares = new NDList(vector.size());
        for (NDArray segment : vector) {
            squares.add(segment.mul(segment).sum().toType(DataType.FLOAT64, false));
        }
        double norm = sqrtOfSum(squares);
        if (!Double.isFinite(norm)) {
            throw new IllegalArgumentException("v must be finite, but its norm was " + norm);
        }
        if (norm == 0) {
            throw new IllegalArgumentException("v must not be the zero vector");
        }
        return norm;
    }

    private static double sqrtOfSum(NDList squares) {
        NDArray total = squares.size() == 1 ? squares.head() : NDArrays.stack(squares).sum();
        return Math.sqrt(HostReads.toDouble(total));
    }

    private Workspace borrow(NDList... vectors) {
        NDList borrowed = new NDList();
        borrowed.addAll(data);
        // an autoencoder's labels are the very arrays of its data: borrow each array once, or
        // the workspace would hand it back twice and the second return would close it
        for (NDArray label : labels) {
            if (data.stream().noneMatch(x -> x == label)) {
                borrowed.add(label);
            }
        }
        for (Parameter parameter : parameters) {
            borrowed.add(parameter.getArray());
        }
        for (Parameter parameter : frozen) {
            borrowed.add(parameter.getArray());
        }
        for (NDList vector : vectors) {
            borrowed.addAll(vector);
        }
        return new Workspace(parameters.get(0).getArray().getManager(), borrowed);
    }

    private void checkVector(NDList vector, String name) {
        Objects.requireNonNull(vector, name);
        Vectors.checkSegments(vector, shapes, name);
        for (NDArray segment : vector) {
            if (segment.getDataType() != dataType) {
                throw new IllegalArgumentException(
                        name + " must be " + dataType + ", but was " + segment.getDataType());
            }
            if (!segment.getDevice().equals(device)) {
                throw new IllegalArgumentException(
                        name + " must be on " + device + ", but was on " + segment.getDevice());
            }
        }
    }

    /** A parameter store that hands the block the given arrays instead of the weights. */
    private static final class OverridingStore extends ParameterStore {

        private final Map<String, NDArray> values;

        OverridingStore(NDManager manager, Map<String, NDArray> values) {
            super(manager, false);
            this.values = values;
        }

        @Override
        public NDArray getValue(Parameter parameter, Device device, boolean training) {
            // blocks ask for absent parameters too (a Linear without bias asks for null)
            NDArray value = parameter == null ? null : values.get(parameter.getId());
            return value != null ? value : super.getValue(parameter, device, training);
        }
    }

    /** Builds a {@link BatchCurvature}. */
    public static final class Builder {

        private Block block;
        private Loss loss;
        private NDList data;
        private NDList labels;
        private Mode mode = Mode.AUTO;
        private boolean training;

        Builder() {}

        /**
         * Sets the block, initialized; its trainable parameters span the vectors.
         *
         * @param block the block
         * @return this {@code Builder}
         */
        public Builder setBlock(Block block) {
            this.block = block;
            return this;
        }

        /**
         * Sets the loss, evaluated as {@code loss.evaluate(labels, block output)}.
         *
         * @param loss the loss
         * @return this {@code Builder}
         */
        public Builder setLoss(Loss loss) {
            this.loss = loss;
            return this;
        }

        /**
         * Sets the batch; the arrays stay the caller's and must stay open.
         *
         * @param data the block's inputs
         * @param labels the loss's labels
         * @return this {@code Builder}
         */
        public Builder setBatch(NDList data, NDList labels) {
            this.data = data;
            this.labels = labels;
            return this;
        }

        /**
         * Sets how products are computed.
         *
         * @param mode AUTO (default), EXACT or FINITE_DIFFERENCE
         * @return this {@code Builder}
         */
        public Builder optMode(Mode mode) {
            this.mode = mode;
            return this;
        }

        /**
         * Sets whether the block runs in training mode (dropout, batch statistics).
         *
         * @param training default {@code false}: inference mode, a deterministic function of the
         *     weights, as PyHessian evaluates
         * @return this {@code Builder}
         */
        public Builder optTraining(boolean training) {
            this.training = training;
            return this;
        }

        /**
         * Builds the curvature object.
         *
         * @return the curvature of the block's loss on the batch
         * @throws IllegalArgumentException naming the setting if one is missing or invalid
         */
        public BatchCurvature build() {
            if (block == null) {
                throw new IllegalArgumentException("block must be set");
            }
            if (loss == null) {
                throw new IllegalArgumentException("loss must be set");
            }
            if (data == null || labels == null) {
                throw new IllegalArgumentException("batch must be set");
            }
            if (mode == null) {
                throw new IllegalArgumentException("mode must not be null");
            }
            return new BatchCurvature(this);
        }
    }
}
