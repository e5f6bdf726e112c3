package io.github.so4j.curvature;

import ai.djl.Device;
import ai.djl.engine.Engine;
import java.util.Locale;

/**
 * Chooses the device that so4j's tools and tests run on.
 *
 * <p>The GPU when the engine sees one, else the CPU. The system property {@value #PROPERTY} ({@code
 * cpu} or {@code gpu}) overrides the choice; asking for {@code gpu} on an engine without one is an
 * error rather than a silent fall-back. Library code never calls this: it takes its device from the
 * arrays it is given.
 */
public final class Devices {

    /** The system property that overrides the choice: {@code cpu} or {@code gpu}. */
    public static final String PROPERTY = "so4j.device";

    private Devices() {}

    /**
     * Returns the device chosen for the default engine.
     *
     * @return the GPU when the engine sees one (or when {@code -Dso4j.device=gpu}), else the CPU
     * @throws IllegalArgumentException if the property has another value, or asks for a GPU that
     *     the engine does not see
     */
    public static Device preferred() {
        Engine engine = Engine.getInstance();
        return choose(
                System.getProperty(PROPERTY, ""), engine.getGpuCount(), engine.getEngineName());
    }

    /**
     * Returns the device for a requested kind and the number of GPUs the engine sees.
     *
     * @param requested {@code cpu}, {@code gpu}, or empty for automatic
     * @param gpuCount the number of GPUs the engine sees
     * @param engineName the engine's name, for the error message
     * @return the chosen device
     * @throws IllegalArgumentException if {@code requested} is not one of the three, or asks for a
     *     GPU that the engine does not see
     */
    static Device choose(String requested, int gpuCount, String engineName) {
        String kind = requested == null ? "" : requested.trim().toLowerCase(Locale.ROOT);
        switch (kind) {
            case "":
                return gpuCount > 0 ? Device.gpu() : Device.cpu();
            case "cpu":
                return Device.cpu();
            case "gpu":
                if (gpuCount == 0) {
                    throw new IllegalArgumentException(
                            PROPERTY
                                    + "=gpu, but the "
                                    + engineName
                                    + " engine sees no GPU (is a CUDA build of its native"
                                    + " library loaded? see the README's GPU section)");
                }
                return Device.gpu();
            default:
                throw new IllegalArgumentException(
                        PROPERTY + " must be cpu or gpu, but was '" + requested + "'");
        }
    }
}
