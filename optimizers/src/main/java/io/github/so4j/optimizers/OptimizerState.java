package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.so4j.curvature.Workspace;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.UncheckedIOException;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * The named contents of an optimizer's checkpoint: arrays, numbers, lists of names and random
 * generators, with the names of the model's parameters in place of the process-local keys the
 * optimizer uses at run time.
 *
 * <p>A subclass of {@link SecondOrderOptimizer} fills one in {@link
 * SecondOrderOptimizer#writeState} and reads one in {@link SecondOrderOptimizer#readState}. Keys
 * (array uids, which change from process to process) are translated to the model's parameter names
 * (which do not) with {@link #nameOf(String)} and back with {@link #keyOf(String)}.
 *
 * <p>Writing stores references: the arrays are encoded when the checkpoint is written, and must not
 * change before. Reading hands out copies owned by the caller's manager ({@link #array(String,
 * NDManager)}).
 */
public final class OptimizerState {

    private final Map<String, Object> entries = new LinkedHashMap<>();
    private final Map<String, String> nameByKey;
    private final Map<String, String> keyByName;
    private final Map<String, Shape> shapeByKey;
    private final NDManager parameterManager;

    OptimizerState(
            Map<String, String> nameByKey,
            Map<String, String> keyByName,
            Map<String, Shape> shapeByKey,
            NDManager parameterManager) {
        this.nameByKey = nameByKey;
        this.keyByName = keyByName;
        this.shapeByKey = shapeByKey;
        this.parameterManager = parameterManager;
    }

    /**
     * Returns the shape of a trained parameter of the model.
     *
     * @param key its key
     * @return its shape
     * @throws IllegalArgumentException if the key is not a trained parameter of the model
     */
    public Shape shapeOf(String key) {
        return shapeByKey.get(key(nameOf(key)));
    }

    private String key(String name) {
        return keyByName.get(name);
    }

    /**
     * Returns the model's name for a parameter key.
     *
     * @param key a key as seen in {@code computeStep} (the weight array's uid)
     * @return the parameter's name in the model, stable across processes
     * @throws IllegalArgumentException if the key is not a trained parameter of the model
     */
    public String nameOf(String key) {
        String name = nameByKey.get(key);
        if (name == null) {
            throw new IllegalArgumentException(
                    "key " + key + " is not a trained parameter of the model");
        }
        return name;
    }

    /**
     * Returns the run-time key of the model parameter with this name.
     *
     * @param name the parameter's name in the model
     * @return its key (the weight array's uid)
     * @throws IllegalArgumentException if the model has no trained parameter of that name
     */
    public String keyOf(String name) {
        String key = keyByName.get(name);
        if (key == null) {
            throw new IllegalArgumentException(
                    "the model has no trained parameter named '" + name + "'");
        }
        return key;
    }

    /**
     * Returns the manager that owns the model's parameters: the natural parent of an optimizer's
     * state manager when it is restored before the first step.
     *
     * @return the manager of the model's parameters
     */
    public NDManager parameterManager() {
        return parameterManager;
    }

    /**
     * Stores an array.
     *
     * @param name the entry's name
     * @param value the array; not copied, so it must not change until the checkpoint is written.
     *     Not modified.
     * @return this state
     */
    public OptimizerState put(String name, NDArray value) {
        return putEntry(name, value);
    }

    /**
     * Stores a whole number.
     *
     * @param name the entry's name
     * @param value the number
     * @return this state
     */
    public OptimizerState putLong(String name, long value) {
        return putEntry(name, value);
    }

    /**
     * Stores a floating-point number, bit for bit.
     *
     * @param name the entry's name
     * @param value the number
     * @return this state
     */
    public OptimizerState putDouble(String name, double value) {
        return putEntry(name, value);
    }

    /**
     * Stores a list of strings (for example parameter names, in an order that matters).
     *
     * @param name the entry's name
     * @param values the strings
     * @return this state
     */
    public OptimizerState putStrings(String name, List<String> values) {
        return putEntry(name, List.copyOf(values));
    }

    /**
     * Stores the exact state of a random generator, so that the restored one continues the same
     * sequence.
     *
     * @param name the entry's name
     * @param random the generator. Not modified.
     * @return this state
     */
    public OptimizerState putRandom(String name, Random random) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(random);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return putEntry(name, bytes.toByteArray());
    }

    private OptimizerState putEntry(String name, Object value) {
        if (entries.putIfAbsent(name, value) != null) {
            throw new IllegalArgumentException("duplicate optimizer state entry '" + name + "'");
        }
        return this;
    }

    /**
     * Whether an entry exists.
     *
     * @param name the entry's name
     * @return whether the state has it
     */
    public boolean contains(String name) {
        return entries.containsKey(name);
    }

    /**
     * Returns a copy of a stored array.
     *
     * @param name the entry's name
     * @param owner the manager that will own the copy (and whose device it lands on)
     * @return the copy
     * @throws IllegalArgumentException if there is no such array entry
     */
    public NDArray array(String name, NDManager owner) {
        return Workspace.copy(get(name, NDArray.class), owner);
    }

    /**
     * Returns a stored whole number.
     *
     * @param name the entry's name
     * @return the number
     * @throws IllegalArgumentException if there is no such entry
     */
    public long getLong(String name) {
        return get(name, Long.class);
    }

    /**
     * Returns a stored floating-point number.
     *
     * @param name the entry's name
     * @return the number
     * @throws IllegalArgumentException if there is no such entry
     */
    public double getDouble(String name) {
        return get(name, Double.class);
    }

    /**
     * Returns a stored list of strings.
     *
     * @param name the entry's name
     * @return the strings
     * @throws IllegalArgumentException if there is no such entry
     */
    @SuppressWarnings("unchecked")
    public List<String> getStrings(String name) {
        return get(name, List.class);
    }

    /**
     * Returns a new generator in the stored state.
     *
     * @param name the entry's name
     * @return the generator
     * @throws IllegalArgumentException if there is no such entry or it is not a generator
     */
    public Random getRandom(String name) {
        byte[] bytes = get(name, byte[].class);
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes))) {
            return (Random) in.readObject();
        } catch (IOException | ClassNotFoundException | ClassCastException e) {
            throw new IllegalArgumentException(
                    "optimizer state entry '" + name + "' is not a random generator", e);
        }
    }

    private <T> T get(String name, Class<T> type) {
        Object value = entries.get(name);
        if (value == null) {
            throw new IllegalArgumentException("the checkpoint has no entry '" + name + "'");
        }
        if (!type.isInstance(value)) {
            throw new IllegalArgumentException(
                    "optimizer state entry '"
                            + name
                            + "' is a "
                            + kind(value)
                            + ", not a "
                            + type.getSimpleName());
        }
        return type.cast(value);
    }

    /** The entries in insertion order (for the codec). */
    Map<String, Object> entries() {
        return Collections.unmodifiableMap(entries);
    }

    /** Stores a decoded entry (for the codec). */
    void putDecoded(String name, Object value) {
        putEntry(name, value);
    }

    /**
     * The bytes of the distinct arrays among the entries (each array counted once): elements times
     * the dtype's size, from shapes and dtypes, which the host knows; nothing is read from the
     * device.
     */
    long arrayBytes() {
        Set<NDArray> counted = Collections.newSetFromMap(new IdentityHashMap<>());
        long bytes = 0;
        for (Object value : entries.values()) {
            if (value instanceof NDArray array && counted.add(array)) {
                bytes += array.size() * array.getDataType().getNumOfBytes();
            }
        }
        return bytes;
    }

    /** The names of all entries, in insertion order. */
    Set<String> names() {
        return entries().keySet();
    }

    static String kind(Object value) {
        if (value instanceof NDArray) {
            return "NDArray";
        }
        if (value instanceof byte[]) {
            return "random generator";
        }
        return value.getClass().getSimpleName();
    }
}
