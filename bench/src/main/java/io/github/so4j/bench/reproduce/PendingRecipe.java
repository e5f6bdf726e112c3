package io.github.so4j.bench.reproduce;

/** A recipe whose algorithm has not landed yet: it says so and fails. */
final class PendingRecipe implements Recipe {

    private final String name;
    private final String description;
    private final String missing;

    PendingRecipe(String name, String description, String missing) {
        this.name = name;
        this.description = description;
        this.missing = missing;
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return name;
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return description;
    }

    /** {@inheritDoc} */
    @Override
    public String missing() {
        return missing;
    }

    /** {@inheritDoc} */
    @Override
    public void run(RecipeContext context) {
        throw new IllegalStateException(name + " needs " + missing + ", which has not landed yet");
    }
}
