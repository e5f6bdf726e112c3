package io.github.so4j.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The process's resident memory, from Linux's {@code /proc/self}.
 *
 * <p>The peak ({@code VmHWM}) covers the native memory of the engine too, which the JVM's own
 * counters do not see. {@link #resetPeak()} writes {@code 5} to {@code /proc/self/clear_refs}
 * (Linux 4.0 and later), so that each run of a comparison reports its own peak.
 */
public final class ProcessMemory {

    private static final Path STATUS = Path.of("/proc/self/status");
    private static final Path CLEAR_REFS = Path.of("/proc/self/clear_refs");

    private ProcessMemory() {}

    /**
     * Resets the peak resident set size to the current one.
     *
     * @return whether the kernel accepted the reset
     */
    public static boolean resetPeak() {
        try {
            Files.writeString(CLEAR_REFS, "5");
            return true;
        } catch (IOException | SecurityException e) {
            return false;
        }
    }

    /**
     * Returns the peak resident set size since the start or the last reset.
     *
     * @return MiB, or {@code NaN} where {@code /proc} is not available
     */
    public static double peakRssMb() {
        return readKb("VmHWM:") / 1024.0;
    }

    /**
     * Returns the current resident set size.
     *
     * @return MiB, or {@code NaN} where {@code /proc} is not available
     */
    public static double currentRssMb() {
        return readKb("VmRSS:") / 1024.0;
    }

    private static double readKb(String field) {
        try {
            for (String line : Files.readAllLines(STATUS, StandardCharsets.UTF_8)) {
                if (line.startsWith(field)) {
                    String[] parts = line.substring(field.length()).trim().split("\\s+");
                    return Double.parseDouble(parts[0]);
                }
            }
        } catch (IOException | NumberFormatException e) {
            return Double.NaN;
        }
        return Double.NaN;
    }
}
