package io.github.so4j.bench.reproduce;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Every recipe {@code so4j reproduce} knows, in the order the README shows them. */
public final class Recipes {

    private final Map<String, Recipe> recipes = new LinkedHashMap<>();

    /** Creates the list. */
    public Recipes() {
        add(new KfacAutoencoderRecipe());
        add(new MfacOptimizerRecipe());
        add(new MfacPruningRecipe());
        add(new ShampooApproximationRecipe());
        add(new HessianSpectrumRecipe());
        add(new ZoSahRecipe());
        add(new BatchScalingRecipe());
    }

    /**
     * Adds or replaces a recipe.
     *
     * @param recipe the recipe
     */
    public void add(Recipe recipe) {
        recipes.put(recipe.name(), recipe);
    }

    /**
     * Finds a recipe.
     *
     * @param name its name
     * @return the recipe
     * @throws IllegalArgumentException naming the allowed names if there is none
     */
    public Recipe get(String name) {
        Recipe recipe = recipes.get(name);
        if (recipe == null) {
            throw new IllegalArgumentException(
                    "unknown recipe '"
                            + name
                            + "'; allowed: "
                            + String.join(", ", recipes.keySet()));
        }
        return recipe;
    }

    /**
     * Returns every recipe.
     *
     * @return the recipes in order
     */
    public List<Recipe> all() {
        return List.copyOf(recipes.values());
    }
}
