package io.github.so4j.bench.data;

/**
 * The fixed character vocabulary of the {@code charlm} workload: 98 ids.
 *
 * <p>Id 0 ({@link #UNKNOWN}) stands for every character outside the vocabulary; ids 1 and 2 are tab
 * and newline, and ids 3 to 97 the 95 printable ASCII characters, space (32) to tilde (126), in
 * code-point order. These are the characters of the fortune corpus ({@link FortuneCorpus}) that
 * occur there in text: every one of the 97 occurs (the rarest, '}', 28 times in 2.6 million
 * characters). What the unknown id covers there: the backspaces and bells of overstruck and "beep"
 * fortunes (311 and 54) and about 50 non-ASCII characters. The vocabulary does not depend on the
 * files read, so the model's size is the same for every corpus.
 *
 * <p>Encoding and decoding cost one table look-up per character.
 */
public final class CharVocabulary {

    /** The number of ids. */
    public static final int SIZE = 98;

    /** The id of every character outside the vocabulary. */
    public static final int UNKNOWN = 0;

    /** How {@link #decode} writes the unknown id: U+FFFD, the replacement character. */
    public static final char UNKNOWN_CHARACTER = '\uFFFD';

    private static final int FIRST_PRINTABLE = ' ';
    private static final int LAST_PRINTABLE = '~';
    private static final int PRINTABLE_OFFSET = 3 - FIRST_PRINTABLE;

    private CharVocabulary() {}

    /**
     * Returns the id of a character.
     *
     * @param c the character (a UTF-16 code unit; each half of a surrogate pair is unknown)
     * @return its id in {@code [0, 98)}
     */
    public static int id(char c) {
        if (c >= FIRST_PRINTABLE && c <= LAST_PRINTABLE) {
            return c + PRINTABLE_OFFSET;
        }
        if (c == '\t') {
            return 1;
        }
        if (c == '\n') {
            return 2;
        }
        return UNKNOWN;
    }

    /**
     * Returns the character of an id.
     *
     * @param id an id in {@code [0, 98)}
     * @return its character, {@link #UNKNOWN_CHARACTER} for {@link #UNKNOWN}
     * @throws IllegalArgumentException if the id is out of range
     */
    public static char character(int id) {
        if (id < 0 || id >= SIZE) {
            throw new IllegalArgumentException("id must be in [0, " + SIZE + "), but was " + id);
        }
        return switch (id) {
            case UNKNOWN -> UNKNOWN_CHARACTER;
            case 1 -> '\t';
            case 2 -> '\n';
            default -> (char) (id - PRINTABLE_OFFSET);
        };
    }

    /**
     * Encodes a text.
     *
     * @param text the text
     * @return one id per UTF-16 code unit
     */
    public static byte[] encode(CharSequence text) {
        byte[] ids = new byte[text.length()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = (byte) id(text.charAt(i));
        }
        return ids;
    }

    /**
     * Decodes ids.
     *
     * @param ids the ids, each in {@code [0, 98)}
     * @return the text, with {@link #UNKNOWN_CHARACTER} for every unknown id
     * @throws IllegalArgumentException if an id is out of range
     */
    public static String decode(byte[] ids) {
        StringBuilder text = new StringBuilder(ids.length);
        for (byte id : ids) {
            text.append(character(id));
        }
        return text.toString();
    }
}
