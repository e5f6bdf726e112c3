package io.github.so4j.bench.reproduce;

/** A named experiment that redraws a paper's figure. */
public interface Recipe {

    /**
     * Returns the command-line name.
     *
     * @return e.g. {@code mfac-pruning}
     */
    String name();

    /**
     * Returns what the recipe reproduces, one line.
     *
     * @return the description
     */
    String description();

    /**
     * Runs the experiment and writes its figure and numbers.
     *
     * @param context where to write and what to read
     * @throws Exception if the experiment fails
     */
    void run(RecipeContext context) throws Exception;
}
