package io.github.so4j.bench.reproduce;

import ai.djl.Device;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * What a recipe runs with.
 *
 * @param out the output folder (created)
 * @param data the Fashion-MNIST folder, or null for the default
 * @param device the device
 * @param stdout where the numbers go
 * @param progress whether to draw progress bars
 * @param full whether to run the recipe's larger version, where it has one
 */
public record RecipeContext(
        Path out, Path data, Device device, PrintWriter stdout, boolean progress, boolean full) {

    /**
     * A context for the recipe's default size.
     *
     * @param out the output folder (created)
     * @param data the Fashion-MNIST folder, or null for the default
     * @param device the device
     * @param stdout where the numbers go
     * @param progress whether to draw progress bars
     */
    public RecipeContext(Path out, Path data, Device device, PrintWriter stdout, boolean progress) {
        this(out, data, device, stdout, progress, false);
    }
}
