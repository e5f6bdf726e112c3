package io.github.so4j.curvature.subspace;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * The two pieces of DJL's PyTorch engine that exact second-order products need and DJL's public API
 * does not offer, reached reflectively so that this module depends on DJL's {@code api} only.
 *
 * <p>{@code ai.djl.pytorch.jni.JniUtils.backward(array, seed, keepGraph, createGraph)} is PyTorch's
 * {@code Tensor.backward} with {@code create_graph}: the gradients it deposits carry a graph, so
 * they can be differentiated again (Pearlmutter's double backward). {@code
 * JniUtils.embedding(indices, weight, sparse)} with {@code sparse = true} is a lookup whose
 * gradient PyTorch delivers as a sparse tensor; {@link BatchCurvature} routes its scalar probe
 * through it to break the reference cycle that a graph-carrying gradient forms with its leaf (see
 * there).
 */
final class PyTorchDoubleBackward {

    private static final String JNI_UTILS = "ai.djl.pytorch.jni.JniUtils";
    private static final String PT_ND_ARRAY = "ai.djl.pytorch.engine.PtNDArray";

    private final MethodHandle backward;
    private final MethodHandle embedding;

    private PyTorchDoubleBackward(MethodHandle backward, MethodHandle embedding) {
        this.backward = backward;
        this.embedding = embedding;
    }

    /**
     * Finds the PyTorch engine's methods for arrays like {@code sample}.
     *
     * @param sample an array of the engine in use
     * @return the methods, or {@code null} if the array is not a PyTorch array or the engine's
     *     classes do not have them
     */
    static PyTorchDoubleBackward find(NDArray sample) {
        Class<?> arrayClass = sample.getClass();
        if (!PT_ND_ARRAY.equals(arrayClass.getName())) {
            return null;
        }
        try {
            ClassLoader loader = arrayClass.getClassLoader();
            Class<?> jni = Class.forName(JNI_UTILS, true, loader);
            MethodHandles.Lookup lookup = MethodHandles.publicLookup();
            MethodHandle backward =
                    lookup.findStatic(
                            jni,
                            "backward",
                            MethodType.methodType(
                                    void.class,
                                    arrayClass,
                                    arrayClass,
                                    boolean.class,
                                    boolean.class));
            MethodHandle embedding =
                    lookup.findStatic(
                            jni,
                            "embedding",
                            MethodType.methodType(
                                    arrayClass, arrayClass, arrayClass, boolean.class));
            return new PyTorchDoubleBackward(backward, embedding);
        } catch (ReflectiveOperationException | LinkageError e) {
            return null;
        }
    }

    /**
     * Back-propagates from a scalar with seed 1.
     *
     * @param target the scalar. Not modified.
     * @param keepGraph whether to keep the graph's saved tensors for another backward
     * @param createGraph whether the deposited gradients carry a graph
     */
    void backward(NDArray target, boolean keepGraph, boolean createGraph) {
        NDArray seed = target.onesLike();
        try {
            backward.invoke(target, seed, keepGraph, createGraph);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("PyTorch backward failed", e);
        }
    }

    /**
     * Creates a scalar leaf \( \tau = 0 \) that requires a gradient, and the scalar that reads it
     * through a sparse lookup, so that PyTorch delivers \( \partial / \partial \tau \) as a sparse
     * tensor.
     *
     * @param scope the manager of both arrays
     * @param type the dtype
     * @return {leaf (shape (1, 1)), scalar (shape ())}
     */
    NDArray[] sparseScalar(NDManager scope, DataType type) {
        NDArray leaf = scope.zeros(new Shape(1, 1), type);
        leaf.setRequiresGradient(true);
        NDArray index = scope.zeros(new Shape(1), DataType.INT64);
        try {
            NDArray looked = (NDArray) embedding.invoke(index, leaf, true);
            return new NDArray[] {leaf, looked.reshape(new Shape())};
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("PyTorch embedding failed", e);
        }
    }
}
