package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.HostReads;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * The binary layout of an optimizer checkpoint, version 1.
 *
 * <pre>
 * "so4j-optimizer-state"  UTF
 * version                 int (1)
 * optimizer class         UTF (fully qualified)
 * parameters              int n, then n x (name UTF, dtype UTF, rank int, rank x long)
 * entries                 int n, then n x (name UTF, kind byte, payload)
 *                           1 array:   int length, DJL's NDArray encoding
 *                           2 long:    long
 *                           3 double:  long (IEEE bits)
 *                           4 strings: int count, count x UTF
 *                           5 bytes:   int length, bytes
 * CRC-32 of all the above long
 * </pre>
 *
 * <p>A reader checks the magic string, the version and the checksum, and reports a truncated stream
 * as such, before anyone uses what it read.
 */
final class CheckpointFormat {

    static final String MAGIC = "so4j-optimizer-state";
    static final int VERSION = 1;

    private static final byte ARRAY = 1;
    private static final byte LONG = 2;
    private static final byte DOUBLE = 3;
    private static final byte STRINGS = 4;
    private static final byte BYTES = 5;

    private CheckpointFormat() {}

    /** A trained parameter as the checkpoint records it. */
    record ParameterEntry(String name, DataType dataType, Shape shape) {
        @Override
        public String toString() {
            return "'" + name + "' " + dataType + " " + shape;
        }
    }

    /** What a checkpoint holds. */
    record Contents(String optimizer, List<ParameterEntry> parameters) {}

    static void write(
            OutputStream out,
            String optimizer,
            List<ParameterEntry> parameters,
            OptimizerState state)
            throws IOException {
        CheckedOutputStream checked = new CheckedOutputStream(out, new CRC32());
        DataOutputStream data = new DataOutputStream(checked);
        data.writeUTF(MAGIC);
        data.writeInt(VERSION);
        data.writeUTF(optimizer);
        data.writeInt(parameters.size());
        for (ParameterEntry p : parameters) {
            data.writeUTF(p.name());
            data.writeUTF(p.dataType().name());
            long[] dims = p.shape().getShape();
            data.writeInt(dims.length);
            for (long dim : dims) {
                data.writeLong(dim);
            }
        }
        Map<String, Object> entries = state.entries();
        data.writeInt(entries.size());
        for (Map.Entry<String, Object> entry : entries.entrySet()) {
            data.writeUTF(entry.getKey());
            Object value = entry.getValue();
            if (value instanceof NDArray array) {
                byte[] bytes = HostReads.encode(array);
                data.writeByte(ARRAY);
                data.writeInt(bytes.length);
                data.write(bytes);
            } else if (value instanceof Long number) {
                data.writeByte(LONG);
                data.writeLong(number);
            } else if (value instanceof Double number) {
                data.writeByte(DOUBLE);
                data.writeLong(Double.doubleToRawLongBits(number));
            } else if (value instanceof List<?> strings) {
                data.writeByte(STRINGS);
                data.writeInt(strings.size());
                for (Object s : strings) {
                    data.writeUTF((String) s);
                }
            } else {
                byte[] bytes = (byte[]) value;
                data.writeByte(BYTES);
                data.writeInt(bytes.length);
                data.write(bytes);
            }
        }
        data.flush();
        long crc = checked.getChecksum().getValue();
        new DataOutputStream(out).writeLong(crc);
        out.flush();
    }

    /**
     * Reads a whole checkpoint into {@code state}; arrays are decoded into {@code scratch}.
     *
     * @throws IOException if the stream is not a checkpoint, is of another version, is truncated or
     *     fails its checksum
     */
    static Contents read(InputStream in, NDManager scratch, OptimizerState state)
            throws IOException {
        CheckedInputStream checked = new CheckedInputStream(in, new CRC32());
        DataInputStream data = new DataInputStream(checked);
        try {
            String magic;
            try {
                magic = data.readUTF();
            } catch (IOException | IllegalArgumentException e) {
                throw new IOException("not an so4j optimizer checkpoint", e);
            }
            if (!MAGIC.equals(magic)) {
                throw new IOException("not an so4j optimizer checkpoint");
            }
            int version = data.readInt();
            if (version != VERSION) {
                throw new IOException(
                        "optimizer checkpoint version "
                                + version
                                + " is not supported; this so4j reads version "
                                + VERSION);
            }
            String optimizer = data.readUTF();
            int count = nonNegative(data.readInt(), "parameter count");
            List<ParameterEntry> parameters = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                String name = data.readUTF();
                DataType type = dataType(data.readUTF());
                int rank = nonNegative(data.readInt(), "rank");
                long[] dims = new long[rank];
                for (int r = 0; r < rank; r++) {
                    dims[r] = data.readLong();
                }
                parameters.add(new ParameterEntry(name, type, new Shape(dims)));
            }
            int entries = nonNegative(data.readInt(), "entry count");
            for (int i = 0; i < entries; i++) {
                String name = data.readUTF();
                byte kind = data.readByte();
                state.putDecoded(name, readValue(data, kind, name, scratch));
            }
            long expected = checked.getChecksum().getValue();
            long stored = new DataInputStream(in).readLong();
            if (stored != expected) {
                throw new IOException(
                        "optimizer checkpoint is corrupt: its checksum does not match");
            }
            return new Contents(optimizer, parameters);
        } catch (EOFException e) {
            throw new IOException("optimizer checkpoint is truncated", e);
        }
    }

    private static Object readValue(DataInputStream data, byte kind, String name, NDManager scratch)
            throws IOException {
        switch (kind) {
            case ARRAY:
                {
                    byte[] bytes = new byte[nonNegative(data.readInt(), "array length")];
                    data.readFully(bytes);
                    try {
                        return scratch.decode(bytes);
                    } catch (RuntimeException e) {
                        throw new IOException(
                                "optimizer checkpoint is corrupt: entry '"
                                        + name
                                        + "' is not an array",
                                e);
                    }
                }
            case LONG:
                return data.readLong();
            case DOUBLE:
                return Double.longBitsToDouble(data.readLong());
            case STRINGS:
                {
                    int n = nonNegative(data.readInt(), "string count");
                    List<String> strings = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        strings.add(data.readUTF());
                    }
                    return List.copyOf(strings);
                }
            case BYTES:
                {
                    byte[] bytes = new byte[nonNegative(data.readInt(), "byte length")];
                    data.readFully(bytes);
                    return bytes;
                }
            default:
                throw new IOException(
                        "optimizer checkpoint is corrupt: entry '"
                                + name
                                + "' has unknown kind "
                                + kind);
        }
    }

    private static DataType dataType(String name) throws IOException {
        try {
            return DataType.valueOf(name);
        } catch (IllegalArgumentException e) {
            throw new IOException("optimizer checkpoint is corrupt: unknown dtype " + name, e);
        }
    }

    private static int nonNegative(int value, String what) throws IOException {
        if (value < 0) {
            throw new IOException("optimizer checkpoint is corrupt: negative " + what);
        }
        return value;
    }
}
