package io.github.so4j.curvature.mfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How a vector made of segments is stored as batches of equal-length chunks, so that products with
 * a window of such vectors are batched matrix products.
 *
 * <p>A segment of at least {@value #SMALL} coordinates is cut into whole chunks of about {@value
 * #CHUNK} (an exact divisor of its length when one is near, else zero-padded); segments whose
 * chunks have the same length share one batch. Smaller segments share one batch in which each takes
 * exactly one chunk, zero-padded to the longest of them. Every segment thus owns whole chunks, so
 * permuting the segments only permutes chunks: sums over chunks taken in sorted order do not depend
 * on the order of the segments.
 */
final class ChunkedLayout {

    /** The target chunk length. */
    static final int CHUNK = 16384;

    /** Segments shorter than this share one batch, one chunk each. */
    static final int SMALL = 4096;

    private final Shape[] shapes;
    private final long[] lengths;
    private final int[] groupOf;
    private final long[] offsetOf;
    private final List<Group> groups = new ArrayList<>();

    /** One batch of chunks of one length. */
    static final class Group {
        final long chunkLength;
        final List<Integer> members = new ArrayList<>();
        final List<Long> padding = new ArrayList<>();
        long chunks;

        Group(long chunkLength) {
            this.chunkLength = chunkLength;
        }
    }

    ChunkedLayout(Shape[] shapes) {
        this.shapes = shapes.clone();
        int count = shapes.length;
        this.lengths = new long[count];
        this.groupOf = new int[count];
        this.offsetOf = new long[count];
        long smallLength = 0;
        for (int s = 0; s < count; s++) {
            lengths[s] = shapes[s].size();
            if (lengths[s] < SMALL) {
                smallLength = Math.max(smallLength, lengths[s]);
            }
        }
        Map<Long, Group> byLength = new LinkedHashMap<>();
        for (int s = 0; s < count; s++) {
            long n = lengths[s];
            long chunkLength = n < SMALL ? smallLength : chunkLength(n);
            Group group = byLength.computeIfAbsent(chunkLength, Group::new);
            long chunks = (n + chunkLength - 1) / chunkLength;
            groupOf[s] = indexOf(byLength, chunkLength);
            offsetOf[s] = group.chunks * chunkLength;
            group.members.add(s);
            group.padding.add(chunks * chunkLength - n);
            group.chunks += chunks;
        }
        groups.addAll(byLength.values());
    }

    private static int indexOf(Map<Long, Group> byLength, long chunkLength) {
        int i = 0;
        for (Long key : byLength.keySet()) {
            if (key == chunkLength) {
                return i;
            }
            i++;
        }
        throw new AssertionError(chunkLength);
    }

    /** An exact divisor of n between CHUNK/2 and 2 CHUNK when one exists, else ceil(n / k). */
    static long chunkLength(long n) {
        long target = Math.max(1, Math.round((double) n / CHUNK));
        for (long delta = 0; delta <= target; delta++) {
            for (long k : new long[] {target + delta, target - delta}) {
                if (k >= 1 && n % k == 0) {
                    long c = n / k;
                    if (c >= CHUNK / 2 && c <= 2L * CHUNK) {
                        return c;
                    }
                }
            }
        }
        long k = (n + CHUNK - 1) / CHUNK;
        return (n + k - 1) / k;
    }

    int groupCount() {
        return groups.size();
    }

    Group group(int g) {
        return groups.get(g);
    }

    /** The shape of group g's batch in a window of m vectors: (chunks, m, c). */
    Shape windowShape(int g, int m) {
        Group group = groups.get(g);
        return new Shape(group.chunks, m, group.chunkLength);
    }

    /**
     * Lays the flat segments of group g out as its (chunks, c) matrix.
     *
     * @param g the group
     * @param flat every segment, flattened. Not modified.
     * @param zeros for group g, one zero vector per member that needs padding (else null)
     * @return the matrix; it shares memory with the segment when no copy is needed
     */
    NDArray rows(int g, NDList flat, NDArray[] zeros) {
        Group group = groups.get(g);
        NDArray row;
        if (group.members.size() == 1 && group.padding.get(0) == 0) {
            row = flat.get(group.members.get(0));
        } else {
            NDList parts = new NDList();
            for (int i = 0; i < group.members.size(); i++) {
                parts.add(flat.get(group.members.get(i)));
                if (zeros[i] != null) {
                    parts.add(zeros[i]);
                }
            }
            row = NDArrays.concat(parts);
        }
        return row.reshape(group.chunks, group.chunkLength);
    }

    /**
     * Cuts group g's result, (chunks, c), back into its segments.
     *
     * @param g the group
     * @param result the group's values. Not modified.
     * @param out receives each member's segment, shaped as declared, at the segment's index
     */
    void split(int g, NDArray result, NDArray[] out) {
        Group group = groups.get(g);
        NDArray flat = result.reshape(-1);
        for (int s : group.members) {
            NDArray piece =
                    group.members.size() == 1 && group.padding.get(0) == 0
                            ? flat
                            : flat.get(new NDIndex("{}:{}", offsetOf[s], offsetOf[s] + lengths[s]));
            out[s] = piece.reshape(shapes[s]);
        }
    }

    /** The number of padding zeros after member i of group g. */
    long padding(int g, int i) {
        return groups.get(g).padding.get(i);
    }

    /** Total stored coordinates, padding included. */
    long storedLength() {
        long total = 0;
        for (Group group : groups) {
            total += group.chunks * group.chunkLength;
        }
        return total;
    }

    int groupOf(int segment) {
        return groupOf[segment];
    }
}
