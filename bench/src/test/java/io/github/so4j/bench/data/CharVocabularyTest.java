package io.github.so4j.bench.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class CharVocabularyTest {

    @Test
    void idsAreUnknownThenTabNewlineAndPrintableAsciiInCodePointOrder() {
        assertEquals(98, CharVocabulary.SIZE);
        StringBuilder known = new StringBuilder("\t\n");
        for (char c = ' '; c <= '~'; c++) {
            known.append(c);
        }
        assertEquals(CharVocabulary.SIZE - 1, known.length());
        for (int i = 0; i < known.length(); i++) {
            assertEquals(
                    i + 1, CharVocabulary.id(known.charAt(i)), "id of " + (int) known.charAt(i));
            assertEquals(known.charAt(i), CharVocabulary.character(i + 1));
        }
    }

    @Test
    void encodeDecodeRoundTripsAsciiText() {
        String text = "Q:\tWhy?\nA: {42} ~ \"quoted\" \\ back`tick|pipe_\n%\n";
        byte[] ids = CharVocabulary.encode(text);
        assertEquals(text.length(), ids.length);
        for (byte id : ids) {
            assertTrue(id > CharVocabulary.UNKNOWN && id < CharVocabulary.SIZE, "id " + id);
        }
        assertEquals(text, CharVocabulary.decode(ids));
    }

    @Test
    void controlAndNonAsciiCharactersShareTheUnknownId() {
        String text = "a\bb\u0007c\rd\u00e9e\u2014f\uFFFD";
        byte[] ids = CharVocabulary.encode(text);
        byte u = (byte) CharVocabulary.UNKNOWN;
        byte[] expected = {id('a'), u, id('b'), u, id('c'), u, id('d'), u, id('e'), u, id('f'), u};
        assertArrayEquals(expected, ids);
        assertEquals("a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf\uFFFD", CharVocabulary.decode(ids));
    }

    @Test
    void idsOutOfRangeAreRefused() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> CharVocabulary.character(98));
        assertEquals("id must be in [0, 98), but was 98", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CharVocabulary.decode(new byte[] {-1}));
    }

    private static byte id(char c) {
        return (byte) CharVocabulary.id(c);
    }
}
