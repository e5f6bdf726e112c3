package io.github.so4j.bench.data;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.dataset.Record;
import ai.djl.util.Progress;
import java.util.Objects;

/**
 * Windows of an encoded text as a DJL data set for next-character prediction: example {@code i} is
 * the {@code context} ids starting at {@code start(i)} (int64, shape {@code (context)}) and, as its
 * label, the {@code context} ids starting one later (int64), so that the label at position {@code
 * t} is the character that follows input position {@code t}.
 *
 * <p>Two kinds of windows ({@link Builder#optTiled}): every start ({@code text.length - context}
 * examples, for training: a seeded shuffle of the indices, such as the harness's {@link
 * SeededShuffleSampler}, then draws random windows, reproducibly), or non-overlapping windows
 * (starts {@code 0, context, 2 context, ...}: every character but the first is predicted once), of
 * which at most {@code maxWindows} evenly spread ones are kept (for a fixed evaluation set).
 *
 * <p>The text stays on the host, one byte per character; {@link #get} copies one window into two
 * arrays: O(context).
 */
public final class CharWindowDataset extends RandomAccessDataset {

    private final byte[] text;
    private final int context;
    private final boolean tiled;
    private final long windows;
    private final long tiles;

    private CharWindowDataset(Builder builder) {
        super(builder);
        this.text = builder.text;
        this.context = builder.context;
        this.tiled = builder.tiled;
        this.tiles = (text.length - 1L) / context;
        this.windows = tiled ? Math.min(tiles, builder.maxWindows) : text.length - (long) context;
    }

    /**
     * Returns a builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the number of ids per window.
     *
     * @return the context length
     */
    public int context() {
        return context;
    }

    /**
     * Returns the position in the text of a window's first input id.
     *
     * @param index the window, in {@code [0, size())}
     * @return its start
     */
    public long start(long index) {
        Objects.checkIndex(index, windows);
        // evenly spread tiles: floor(index * tiles / windows), exact in long for any text that fits
        // in a byte array
        return tiled ? index * tiles / windows * context : index;
    }

    /** {@inheritDoc} */
    @Override
    public Record get(NDManager manager, long index) {
        int start = Math.toIntExact(start(index));
        long[] input = new long[context];
        long[] next = new long[context];
        for (int t = 0; t < context; t++) {
            input[t] = text[start + t];
            next[t] = text[start + t + 1];
        }
        return new Record(new NDList(manager.create(input)), new NDList(manager.create(next)));
    }

    /** {@inheritDoc} */
    @Override
    protected long availableSize() {
        return windows;
    }

    /** {@inheritDoc} */
    @Override
    public void prepare(Progress progress) {
        // the text is given to the builder: nothing to read
    }

    /** Builds a {@link CharWindowDataset}; the text, the context and a sampling are required. */
    public static final class Builder extends BaseBuilder<Builder> {

        private byte[] text;
        private int context;
        private boolean tiled;
        private long maxWindows = Long.MAX_VALUE;

        Builder() {}

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }

        /**
         * Sets the encoded text (required).
         *
         * @param ids the ids, one per character, as {@link CharVocabulary#encode} gives them; not
         *     copied, and not to be modified afterwards
         * @return this {@code Builder}
         */
        public Builder setText(byte[] ids) {
            this.text = ids;
            return this;
        }

        /**
         * Sets the number of ids per window (required).
         *
         * @param context the context length, at least 1
         * @return this {@code Builder}
         */
        public Builder setContext(int context) {
            this.context = context;
            return this;
        }

        /**
         * Makes the examples non-overlapping windows, at most {@code maxWindows} of them evenly
         * spread over the text, instead of a window at every start.
         *
         * @param maxWindows the most windows to keep, at least 1
         * @return this {@code Builder}
         */
        public Builder optTiled(long maxWindows) {
            this.tiled = true;
            this.maxWindows = maxWindows;
            return this;
        }

        /**
         * Builds the data set.
         *
         * @return the data set
         * @throws IllegalArgumentException naming the setting if the context or the maximum number
         *     of windows is below 1, or the text is too short for one window ({@code context + 1}
         *     ids)
         * @throws NullPointerException if the text or the sampling is missing
         */
        public CharWindowDataset build() {
            Objects.requireNonNull(text, "text (setText) is required");
            Objects.requireNonNull(sampler, "sampling (setSampling) is required");
            if (context < 1) {
                throw new IllegalArgumentException(
                        "context must be at least 1, but was " + context);
            }
            if (maxWindows < 1) {
                throw new IllegalArgumentException(
                        "maxWindows must be at least 1, but was " + maxWindows);
            }
            if (text.length < context + 1L) {
                throw new IllegalArgumentException(
                        "text must hold at least context + 1 = "
                                + (context + 1L)
                                + " ids for one window, but held "
                                + text.length);
            }
            return new CharWindowDataset(this);
        }
    }
}
