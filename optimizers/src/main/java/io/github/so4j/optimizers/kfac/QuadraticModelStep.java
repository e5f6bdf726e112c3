package io.github.so4j.optimizers.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.loss.Loss;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.curvature.Workspace;
import io.github.so4j.curvature.subspace.BatchCurvature;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * K-FAC's adaptive step: learning rate and momentum from the exact quadratic model of the batch
 * objective, and optionally the Levenberg-Marquardt adaptation of the damping ({@link
 * AdaptiveDamping}), as kfac-jax's {@code use_adaptive_learning_rate}, {@code
 * use_adaptive_momentum} and {@code use_adaptive_damping} (Martens and Grosse 2015, sections 6 and
 * 7).
 *
 * <p>For the batch objective \( F(\theta) = r L(\theta) + \frac{\omega}{2}\|\theta\|^2 \) (r DJL's
 * {@code rescaleGrad}, \( \omega \) the L2 weight decay), its gradient \( \nabla F \), the
 * preconditioned gradient \( \Delta \) (K-FAC's \( (\hat F + \lambda I)^{-1} \nabla F \) on covered
 * layers, \( \nabla F \) itself on the others) and the previous update v:
 *
 * <p>\( A_{ij} = r\, u_i^\top C u_j + \omega\, u_i^\top u_j \) with C the batch loss's Gauss-Newton
 * matrix \( J^\top \nabla_z^2 \ell\, J \) (or its Hessian, {@link Curvature}), by double backward
 * ({@link BatchCurvature}, exact on PyTorch): for Gauss-Newton \( u_i^\top C u_j = (J u_i)^\top
 * \nabla_z^2 \ell\, (J u_j) \) from the two Jacobian-vector products \( J \Delta \), \( J v \) and
 * the loss's output Hessian ({@link BatchCurvature#gaussNewtonGram}), as kfac-jax computes its
 * exact quadratic model<br>
 * \( w = \) {@link QuadraticModel#solve} of \( (A + \lambda D) w = -b \), \( \delta = w_0 \Delta +
 * w_1 v \), \( \theta \leftarrow \theta + \delta \), \( v \leftarrow \delta \)<br>
 * on adaptation steps: \( \rho = (F(\theta + \delta) - F(\theta)) / (q(\delta) - q(0)) \) from two
 * loss evaluations on the batch, and \( \lambda \) adapted by {@link AdaptiveDamping}
 *
 * <p><b>It needs the batch</b>, as subspace Newton does: {@link #prepare} hands it over between the
 * backward pass and the update ({@code Kfac.trainStep(trainer, batch)} does both). A step that is
 * not finite (a zero or non-finite direction, a non-finite model) moves nothing, forgets v and
 * counts as a failed step for the damping; it is counted in {@link #nonFiniteModels()}.
 *
 * <p><b>Cost</b> per step, F a forward pass of the batch: for Gauss-Newton one forward pass, one
 * backward that records its graph and one backward through it per direction, about 7F with v (5F on
 * the first step, where v is zero), plus the loss's output Hessian on the outputs (their size); for
 * the Hessian two products of about 5F each; O(d) flops for the dot products, in float64; on
 * adaptation steps two more forward passes. Memory: v, d numbers. <b>Host reads</b> (all counted by
 * {@link HostReads}): every step reads the 2 x 2 model (one read of 8 numbers, solved on the host);
 * the Hessian's products read one each ({@link BatchCurvature} checks each vector's norm), the
 * Gauss-Newton model none; adaptation steps read the two losses (one read).
 */
public final class QuadraticModelStep {

    /** The exact curvature of the quadratic model. */
    public enum Curvature {
        /** The Gauss-Newton matrix, positive semi-definite for a loss convex in the outputs. */
        GAUSS_NEWTON,
        /** The Hessian of the batch loss. */
        HESSIAN
    }

    private final Curvature curvature;
    private final AdaptiveDamping damping;
    private final Map<String, NDArray> velocity = new HashMap<>();
    private NDManager stateManager;
    private BatchCurvature pending;
    private long nonFiniteModels;
    private long adaptations;
    private double lastLearningRate = Double.NaN;
    private double lastMomentum = Double.NaN;
    private double lastRho = Double.NaN;

    /**
     * Creates the step.
     *
     * @param curvature the exact curvature C
     * @param damping the damping rule, or null for the optimizer's own damping
     */
    public QuadraticModelStep(Curvature curvature, AdaptiveDamping damping) {
        if (curvature == null) {
            throw new IllegalArgumentException("quadraticCurvature must not be null");
        }
        this.curvature = curvature;
        this.damping = damping;
    }

    /**
     * Returns the damping rule.
     *
     * @return the rule, or null when the damping is not adapted
     */
    public AdaptiveDamping damping() {
        return damping;
    }

    /**
     * Returns the curvature of the quadratic model.
     *
     * @return GAUSS_NEWTON or HESSIAN
     */
    public Curvature curvature() {
        return curvature;
    }

    /**
     * Hands over the batch of the next update, whose backward has run. The arrays stay the caller's
     * and must stay open until the update.
     *
     * @param block the block being trained
     * @param loss its loss
     * @param data the batch's inputs. Not modified.
     * @param labels the batch's labels. Not modified.
     */
    public void prepare(Block block, Loss loss, NDList data, NDList labels) {
        pending =
                BatchCurvature.builder()
                        .setBlock(block)
                        .setLoss(loss)
                        .setBatch(data, labels)
                        .optMode(BatchCurvature.Mode.EXACT)
                        .build();
    }

    /**
     * Takes the batch handed over by {@link #prepare}.
     *
     * @return the batch
     * @throws IllegalStateException naming the fix if none was handed over
     */
    public BatchCurvature take() {
        BatchCurvature batch = pending;
        pending = null;
        if (batch == null) {
            throw new IllegalStateException(
                    "K-FAC's adaptive step needs the batch: call kfac.trainStep(trainer, batch),"
                            + " or kfac.prepare(block, loss, data, labels) after backward and"
                            + " before each update (EasyTrain.fit and trainer.step() alone do not;"
                            + " build without optAdaptiveStep for them)");
        }
        return batch;
    }

    /** What the host read for one step: the model and whether it could move. */
    private record Read(QuadraticModel model, boolean withVelocity) {}

    /**
     * Computes the step of a taken step.
     *
     * @param batch the step's batch, from {@link #take}
     * @param gradients \( \nabla F \) by parameter key (the weight's uid), the L2 term included
     * @param preconditioned \( \Delta \) of the covered parameters by key (the others use their
     *     gradient)
     * @param lambda the damping \( \lambda \) of the model
     * @param rescale r, DJL's {@code rescaleGrad}
     * @param decay \( \omega \)
     * @param adapt whether this step adapts the damping
     * @param owner the manager of the returned directions
     * @param scope the step's manager, for temporaries
     * @return \( -\delta \) by key (the base class moves \( \theta \) by \( -\eta \) times it)
     */
    public Map<String, NDArray> step(
            BatchCurvature batch,
            Map<String, NDArray> gradients,
            Map<String, NDArray> preconditioned,
            double lambda,
            double rescale,
            double decay,
            boolean adapt,
            NDManager owner,
            NDManager scope) {
        List<Parameter> parameters = batch.parameters();
        if (stateManager == null) {
            stateManager = parameters.get(0).getArray().getManager().newSubManager();
        }
        NDList weights = new NDList();
        List<String> keys = new ArrayList<>();
        for (Parameter parameter : parameters) {
            weights.add(parameter.getArray());
            keys.add(parameter.getArray().getUid());
        }
        // borrow every input once, so that the temporaries land in the workspace
        Set<NDArray> inputs = Collections.newSetFromMap(new IdentityHashMap<>());
        inputs.addAll(gradients.values());
        inputs.addAll(preconditioned.values());
        inputs.addAll(velocity.values());
        weights.forEach(inputs::remove);
        try (Workspace ws = new Workspace(scope, weights, new NDList(inputs))) {
            NDManager m = ws.manager();
            NDList g = new NDList();
            NDList delta = new NDList();
            NDList v = new NDList();
            boolean withVelocity = !velocity.isEmpty();
            for (int i = 0; i < keys.size(); i++) {
                NDArray weight = weights.get(i);
                NDArray gradient = gradients.get(keys.get(i));
                if (gradient == null) { // trainable since this step: it moves from the next one
                    gradient = m.zeros(weight.getShape(), weight.getDataType());
                }
                NDArray direction = preconditioned.get(keys.get(i));
                g.add(gradient);
                delta.add(direction != null ? direction : gradient);
                NDArray previous = velocity.get(keys.get(i));
                v.add(
                        previous != null
                                ? previous
                                : m.zeros(weight.getShape(), weight.getDataType()));
            }
            Read read = solve(batch, g, delta, withVelocity ? v : null, lambda, rescale, decay, m);
            NDList step = new NDList();
            if (read.model.isFinite()) {
                QuadraticModel model = read.model;
                for (int i = 0; i < keys.size(); i++) {
                    NDArray s = delta.get(i).mul(model.w0());
                    step.add(read.withVelocity ? s.add(v.get(i).mul(model.w1())) : s);
                }
                lastLearningRate = -model.w0();
                lastMomentum = model.w1();
            } else {
                nonFiniteModels++;
                lastLearningRate = Double.NaN;
                lastMomentum = Double.NaN;
            }
            if (adapt && damping != null) {
                lastRho =
                        read.model.isFinite()
                                ? AdaptiveDamping.reductionRatio(
                                        change(batch, weights, step, rescale, decay, m),
                                        read.model.change())
                                : Double.NaN;
                damping.adapt(lastRho);
                adaptations++;
            }
            Map<String, NDArray> directions = new HashMap<>();
            velocity.values().forEach(ws::closeAfterwards);
            velocity.clear();
            for (int i = 0; i < keys.size(); i++) {
                NDArray weight = weights.get(i);
                if (step.isEmpty()) {
                    directions.put(
                            keys.get(i), owner.zeros(weight.getShape(), weight.getDataType()));
                    continue;
                }
                NDArray kept = step.get(i).duplicate();
                kept.attach(stateManager);
                velocity.put(keys.get(i), kept);
                directions.put(keys.get(i), ws.keep(step.get(i).neg(), owner));
            }
            return directions;
        }
    }

    /** The products, the 8 numbers of the model in one read, and the host solve. */
    private Read solve(
            BatchCurvature batch,
            NDList g,
            NDList delta,
            NDList v,
            double lambda,
            double rescale,
            double decay,
            NDManager m) {
        NDArray[] curved = new NDArray[3];
        if (curvature == Curvature.GAUSS_NEWTON) {
            NDArray gram = batch.gaussNewtonGram(v == null ? List.of(delta) : List.of(delta, v), m);
            curved[0] = gram.get(0, 0);
            curved[1] = v == null ? zero(m) : gram.get(0, 1);
            curved[2] = v == null ? zero(m) : gram.get(1, 1);
        } else {
            try {
                NDList cDelta = batch.hessianTimes(delta);
                curved[0] = dot(delta, cDelta);
                if (v != null) {
                    NDList cV = batch.hessianTimes(v);
                    curved[1] = dot(delta, cV);
                    curved[2] = dot(v, cV);
                } else {
                    curved[1] = zero(m);
                    curved[2] = zero(m);
                }
            } catch (IllegalArgumentException e) { // a zero or non-finite direction: no model
                return new Read(new QuadraticModel(Double.NaN, Double.NaN, Double.NaN), false);
            }
        }
        NDList entries = new NDList();
        entries.add(curved[0]);
        entries.add(curved[1]);
        entries.add(curved[2]);
        entries.add(dot(delta, delta));
        entries.add(v == null ? zero(m) : dot(delta, v));
        entries.add(v == null ? zero(m) : dot(v, v));
        entries.add(dot(g, delta));
        entries.add(v == null ? zero(m) : dot(g, v));
        double[] h = HostReads.toDoubles(NDArrays.stack(entries));
        double[] d = {h[3], h[4], h[5]};
        double[] a = {
            rescale * h[0] + decay * d[0],
            rescale * h[1] + decay * d[1],
            rescale * h[2] + decay * d[2]
        };
        double[] b = {h[6], h[7]};
        for (double x : h) {
            if (!Double.isFinite(x)) {
                return new Read(new QuadraticModel(Double.NaN, Double.NaN, Double.NaN), false);
            }
        }
        return new Read(QuadraticModel.solve(a, d, b, lambda, v != null), v != null);
    }

    /**
     * \( F(\theta + \delta) - F(\theta) = r (L(\theta + \delta) - L(\theta)) + \omega (\theta^\top
     * \delta + \frac{1}{2}\|\delta\|^2) \), one read.
     */
    private static double change(
            BatchCurvature batch,
            NDList weights,
            NDList step,
            double rescale,
            double decay,
            NDManager m) {
        NDArray before = batch.loss(m).toType(DataType.FLOAT64, false);
        NDArray after = batch.lossAt(step, m).toType(DataType.FLOAT64, false);
        NDList values = new NDList(before, after, dot(weights, step), dot(step, step));
        double[] h = HostReads.toDoubles(NDArrays.stack(values));
        return rescale * (h[1] - h[0]) + decay * (h[2] + h[3] / 2);
    }

    /** \( \sum_i a_i^\top b_i \) in float64, summed in parameter order. */
    private static NDArray dot(NDList a, NDList b) {
        NDArray total = null;
        for (int i = 0; i < a.size(); i++) {
            NDArray term =
                    a.get(i)
                            .toType(DataType.FLOAT64, false)
                            .mul(b.get(i).toType(DataType.FLOAT64, false))
                            .sum();
            total = total == null ? term : total.add(term);
        }
        return total;
    }

    private static NDArray zero(NDManager m) {
        return m.create(0.0);
    }

    /**
     * Keeps v only for these parameters.
     *
     * @param keys the parameters' keys
     */
    public void retain(Set<String> keys) {
        velocity.entrySet()
                .removeIf(
                        e -> {
                            if (keys.contains(e.getKey())) {
                                return false;
                            }
                            e.getValue().close();
                            return true;
                        });
    }

    /**
     * Returns the previous update of a parameter.
     *
     * @param key the parameter's key
     * @return v, or null before the first step (or after one that moved nothing)
     */
    public NDArray velocity(String key) {
        return velocity.get(key);
    }

    /**
     * Returns the keys of the parameters that have a previous update.
     *
     * @return the keys
     */
    public Set<String> velocityKeys() {
        return Set.copyOf(velocity.keySet());
    }

    /**
     * Replaces v, as a checkpoint restores it.
     *
     * @param restored v by parameter key, owned by {@code manager}
     * @param manager their manager (a sub-manager of the parameters')
     */
    public void restore(Map<String, NDArray> restored, NDManager manager) {
        velocity.values().forEach(NDArray::close);
        velocity.clear();
        if (stateManager == null) {
            stateManager = manager;
        }
        for (Map.Entry<String, NDArray> e : restored.entrySet()) {
            e.getValue().attach(stateManager);
            velocity.put(e.getKey(), e.getValue());
        }
        pending = null;
    }

    /**
     * Returns the counters and the last step's values: {@code damping}, {@code learningRate} (\(
     * -w_0 \)), {@code momentum} (\( w_1 \)), {@code rho}, {@code dampingAdaptations}, {@code
     * nonFiniteModels}.
     *
     * @return the values by name
     */
    public Map<String, Object> health() {
        Map<String, Object> health = new LinkedHashMap<>();
        if (damping != null) {
            health.put("damping", damping.value());
            health.put("rho", lastRho);
            health.put("dampingAdaptations", adaptations);
        }
        health.put("learningRate", lastLearningRate);
        health.put("momentum", lastMomentum);
        health.put("nonFiniteModels", nonFiniteModels);
        return health;
    }

    /**
     * Returns how many taken steps had no finite model and moved nothing.
     *
     * @return the count
     */
    public long nonFiniteModels() {
        return nonFiniteModels;
    }

    /**
     * Returns \( -w_0 \) of the last step.
     *
     * @return the learning rate the model chose (NaN if it moved nothing)
     */
    public double lastLearningRate() {
        return lastLearningRate;
    }

    /**
     * Returns \( w_1 \) of the last step.
     *
     * @return the momentum the model chose (NaN if it moved nothing)
     */
    public double lastMomentum() {
        return lastMomentum;
    }

    /**
     * Returns \( \rho \) of the last adaptation step.
     *
     * @return the reduction ratio (NaN before the first, or if it was not finite)
     */
    public double lastRho() {
        return lastRho;
    }
}
