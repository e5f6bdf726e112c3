package io.github.so4j.bench.data;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * Reads an unsigned-byte IDX file (the MNIST format), gzip-compressed or plain.
 *
 * <p>The header is a magic number {@code 0x0000 08 nd} (type 0x08 = unsigned byte, {@code nd}
 * dimensions) followed by {@code nd} big-endian int32 sizes, then the bytes in row-major order.
 * Every deviation (wrong magic, other sizes than expected, fewer or more bytes than the header
 * announces, a broken gzip stream) is a {@link DatasetException} that names the file.
 */
final class IdxFile {

    private static final int UNSIGNED_BYTE = 0x08;

    private IdxFile() {}

    /**
     * Reads an IDX file and checks that its dimensions are the expected ones.
     *
     * @param file the file; compressed when its name ends in {@code .gz}
     * @param expectedDims the dimensions the file must have, e.g. {@code 60000, 28, 28}
     * @return the payload, {@code prod(expectedDims)} bytes
     * @throws DatasetException if the file is not such an IDX file
     */
    static byte[] read(Path file, int... expectedDims) throws DatasetException {
        try (InputStream raw = Files.newInputStream(file);
                InputStream in = open(file, raw);
                DataInputStream data = new DataInputStream(new BufferedInputStream(in, 1 << 16))) {
            int magic = data.readInt();
            int type = (magic >>> 8) & 0xff;
            int rank = magic & 0xff;
            if ((magic >>> 16) != 0 || type != UNSIGNED_BYTE || rank != expectedDims.length) {
                throw new DatasetException(
                        String.format(
                                "%s is not an unsigned-byte IDX file of rank %d: magic number"
                                        + " 0x%08x (expected 0x%08x)",
                                file,
                                expectedDims.length,
                                magic,
                                (UNSIGNED_BYTE << 8) | expectedDims.length));
            }
            int[] dims = new int[rank];
            for (int i = 0; i < rank; i++) {
                dims[i] = data.readInt();
            }
            if (!Arrays.equals(dims, expectedDims)) {
                throw new DatasetException(
                        file
                                + " has dimensions "
                                + Arrays.toString(dims)
                                + ", expected "
                                + Arrays.toString(expectedDims));
            }
            long length = 1;
            for (int d : dims) {
                length *= d;
            }
            byte[] payload = new byte[Math.toIntExact(length)];
            int read = data.readNBytes(payload, 0, payload.length);
            if (read < payload.length) {
                throw new DatasetException(
                        String.format(
                                "%s is truncated: the header announces %d bytes of data, the"
                                        + " file has %d",
                                file, length, read));
            }
            if (data.read() != -1) {
                throw new DatasetException(
                        file + " has trailing bytes after the " + length + " announced");
            }
            return payload;
        } catch (DatasetException e) {
            throw e;
        } catch (EOFException e) {
            throw new DatasetException(file + " is truncated: it ends inside its header", e);
        } catch (IOException e) {
            throw new DatasetException(
                    file + " cannot be read (corrupt or truncated?): " + e.getMessage(), e);
        }
    }

    private static InputStream open(Path file, InputStream raw) throws IOException {
        if (file.getFileName().toString().endsWith(".gz")) {
            return new GZIPInputStream(raw, 1 << 16);
        }
        return raw;
    }
}
