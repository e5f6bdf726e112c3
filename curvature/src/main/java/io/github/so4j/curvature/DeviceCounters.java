package io.github.so4j.curvature;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.UUID;

/**
 * Counters kept on the device (int64), so that counting costs no host read, whose values stay
 * readable after the arrays they count have been freed.
 *
 * <p>The counts live in a manager of their own whose life is tied to another one (the model's):
 * when that manager closes, the counts are read once (a {@link HostReads} read) and freed, and
 * {@link #read()} returns those last values from then on. A report made after training, when the
 * model is closed, therefore still tells what happened, instead of the values of whatever read came
 * last.
 */
public final class DeviceCounters implements AutoCloseable {

    private final NDManager lifetime;
    private final NDManager manager;
    private final String resourceId = "so4j-counters-" + UUID.randomUUID();
    private NDArray values;
    private long[] last;

    /**
     * Creates counters at zero.
     *
     * @param lifetime the manager whose closing frees the counters (after one last read); its
     *     device holds them
     * @param size the number of counters
     */
    public DeviceCounters(NDManager lifetime, int size) {
        this(lifetime, new long[size]);
    }

    /**
     * Creates counters with initial values.
     *
     * @param lifetime the manager whose closing frees the counters (after one last read); its
     *     device holds them
     * @param initial the initial values. Not modified.
     */
    public DeviceCounters(NDManager lifetime, long[] initial) {
        this.lifetime = lifetime;
        this.manager = NDManager.newBaseManager(lifetime.getDevice());
        this.values = manager.create(initial.clone(), new Shape(initial.length));
        this.last = initial.clone();
        lifetime.attachInternal(resourceId, this::free);
    }

    /**
     * Returns the counts on the device, to compute the next counts from. Not to be modified or
     * closed.
     *
     * @return an int64 vector
     * @throws IllegalStateException once the counters were freed
     */
    public NDArray array() {
        if (values == null) {
            throw new IllegalStateException("the counters were freed with their model");
        }
        return values;
    }

    /**
     * Replaces the counts with new ones, computed on the device.
     *
     * @param next int64, of the counters' shape; from now on owned by the counters
     */
    public void replace(NDArray next) {
        NDArray old = array();
        next.attach(manager);
        values = next.getDataType() == DataType.INT64 ? next : next.toType(DataType.INT64, false);
        old.close();
    }

    /**
     * Reads the counts: one {@link HostReads} read while they live, none after they were freed.
     *
     * @return the counts
     */
    public long[] read() {
        if (values != null) {
            last = HostReads.toLongs(values);
        }
        return last.clone();
    }

    /**
     * Returns whether the counts are still on the device.
     *
     * @return whether they live
     */
    public boolean isOpen() {
        return values != null;
    }

    private void free() {
        if (values != null) {
            last = HostReads.toLongs(values);
            values = null;
            manager.close();
        }
    }

    /** Frees the counts now, without a last read, and unties them from their lifetime manager. */
    @Override
    public void close() {
        if (values != null) {
            values = null;
            manager.close();
            lifetime.detachInternal(resourceId);
        }
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "DeviceCounters" + Arrays.toString(last);
    }
}
