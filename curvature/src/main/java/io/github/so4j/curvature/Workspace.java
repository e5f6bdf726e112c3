package io.github.so4j.curvature;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDResource;
import java.util.ArrayList;
import java.util.List;

/**
 * The temporaries of one computation: every array derived from the borrowed inputs lives here and
 * is freed when the workspace closes, unless {@linkplain #keep kept}.
 *
 * <p>DJL puts the result of an operation in the manager of its receiver, so a product with a
 * long-lived array would otherwise pile up in the long-lived manager. A workspace borrows its
 * inputs ({@link NDManager#tempAttachAll}): results of operations on them land in the workspace,
 * and the inputs return to their own managers, open, when it closes. Arrays that must outlive the
 * computation are moved to their owner with {@link #keep}; arrays that a computation replaces are
 * closed with {@link #closeAfterwards}, after the borrowed ones have been returned.
 *
 * <pre>{@code
 * try (Workspace ws = new Workspace(owner, window, gradient)) {
 *     NDArray dots = window.matMul(gradient);          // lives in the workspace
 *     state = ws.keep(dots.mul(2), owner);             // survives
 * }
 * }</pre>
 */
public final class Workspace implements AutoCloseable {

    private final NDManager scope;
    private final List<NDArray> retired = new ArrayList<>();

    /**
     * Opens a workspace under a manager and borrows arrays for its lifetime.
     *
     * @param parent the manager the workspace is a child of (it fixes the device)
     * @param borrowed arrays and lists whose derived results should land here; returned, open, to
     *     their managers on close. Not modified.
     */
    public Workspace(NDManager parent, NDResource... borrowed) {
        this.scope = parent.newSubManager();
        for (NDResource resource : borrowed) {
            if (resource != null) {
                scope.tempAttachAll(resource);
            }
        }
    }

    /**
     * Returns the workspace's manager, for creating temporaries.
     *
     * @return the manager
     */
    public NDManager manager() {
        return scope;
    }

    /**
     * Moves a result out of the workspace to its long-term owner.
     *
     * @param <T> the resource type
     * @param resource an array or list created in this workspace
     * @param owner the manager that will own it
     * @return {@code resource}
     */
    public <T extends NDResource> T keep(T resource, NDManager owner) {
        resource.attach(owner);
        return resource;
    }

    /**
     * Returns a copy of an array owned by {@code owner}, on the owner's device (for state that must
     * not share storage with its source, such as restored checkpoints).
     *
     * <p>{@code duplicate()} on the same device: {@code toDevice(sameDevice, true)} may return an
     * alias of the source in DJL's PyTorch engine.
     *
     * @param source the array. Not modified.
     * @param owner the manager that will own the copy
     * @return the copy
     */
    public static NDArray copy(NDArray source, NDManager owner) {
        NDArray copy =
                source.getDevice().equals(owner.getDevice())
                        ? source.duplicate()
                        : source.toDevice(owner.getDevice(), true);
        copy.attach(owner);
        return copy;
    }

    /**
     * Closes an array once the workspace has closed (for state that a computation replaces and that
     * may be borrowed by this workspace).
     *
     * @param array the array to close, or {@code null}
     */
    public void closeAfterwards(NDArray array) {
        if (array != null) {
            retired.add(array);
        }
    }

    /** Frees every temporary, returns the borrowed arrays, then closes the retired ones. */
    @Override
    public void close() {
        scope.close();
        for (NDArray array : retired) {
            array.close();
        }
        retired.clear();
    }
}
