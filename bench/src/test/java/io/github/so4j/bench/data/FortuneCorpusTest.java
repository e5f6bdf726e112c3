package io.github.so4j.bench.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FortuneCorpusTest {

    @TempDir Path folder;

    /** Fortune {@code i} of the test corpora: distinct text, two lines, one with a tab. */
    private static String fortune(int i) {
        return "Fortune number " + i + ".\n\t-- Author " + (char) ('A' + i % 26) + "\n";
    }

    /** Writes fortunes {@code from} to {@code to - 1} as a fortune file. */
    private void write(String name, int from, int to) throws IOException {
        StringBuilder file = new StringBuilder();
        for (int i = from; i < to; i++) {
            file.append(fortune(i)).append("%\n");
        }
        Files.writeString(folder.resolve(name), file, StandardCharsets.UTF_8);
    }

    @Test
    void everyTenthFortuneInFileNameOrderGoesToValidation() throws IOException {
        // written out of name order; fortunes 0-11 in "a", 12-24 in "b"
        write("b", 12, 25);
        write("a", 0, 12);
        Files.writeString(folder.resolve("a.dat"), "strfile index, not text");
        Files.createSymbolicLink(folder.resolve("a.u8"), folder.resolve("a"));
        FortuneCorpus corpus = FortuneCorpus.read(folder);
        assertEquals(List.of("a", "b"), corpus.files());
        StringBuilder train = new StringBuilder();
        StringBuilder validation = new StringBuilder();
        for (int i = 0; i < 25; i++) {
            (i == 9 || i == 19 ? validation : train).append(fortune(i)).append("%\n");
        }
        assertEquals(23, corpus.trainFortunes());
        assertEquals(2, corpus.validationFortunes());
        assertEquals(train.toString(), CharVocabulary.decode(corpus.train()));
        assertEquals(validation.toString(), CharVocabulary.decode(corpus.validation()));
    }

    @Test
    void fortunesAreTheLinesBetweenPercentLinesAndEmptyOnesAreSkipped() {
        String content = "%\none\n  two %\n%\n%\n\nthree\n%\nlast, no newline";
        assertEquals(
                List.of("one\n  two %\n", "\nthree\n", "last, no newline\n"),
                FortuneCorpus.fortunes(content));
    }

    @Test
    void readingTwiceGivesTheSameTexts() throws IOException {
        write("one", 0, 30);
        write("two", 30, 41);
        FortuneCorpus first = FortuneCorpus.read(folder);
        FortuneCorpus second = FortuneCorpus.read(folder);
        assertArrayEquals(first.train(), second.train());
        assertArrayEquals(first.validation(), second.validation());
    }

    @Test
    void aMissingCorpusNamesThePackageAndTheInstallCommand() {
        Path nowhere = folder.resolve("nowhere");
        DatasetException missing =
                assertThrows(DatasetException.class, () -> FortuneCorpus.read(nowhere));
        assertTrue(
                missing.getMessage().contains(nowhere + " is not a folder"), missing.getMessage());
        assertTrue(
                missing.getMessage().contains("apt-get install -y fortunes"), missing.getMessage());
        DatasetException empty =
                assertThrows(DatasetException.class, () -> FortuneCorpus.read(folder));
        assertTrue(empty.getMessage().contains("holds no fortune files"), empty.getMessage());
        assertTrue(empty.getMessage().contains("package fortunes"), empty.getMessage());
    }

    @Test
    void fewerThanTenFortunesLeaveNoValidationText() throws IOException {
        write("few", 0, 9);
        DatasetException e = assertThrows(DatasetException.class, () -> FortuneCorpus.read(folder));
        assertTrue(e.getMessage().contains("hold 9 fortune(s)"), e.getMessage());
    }

    /**
     * Debian's corpus (fortunes and fortunes-min 1:1.99.1, Debian 12): the documented split sizes,
     * and every one of the 97 known characters occurs, the rarest ('}') 28 times.
     */
    @Test
    void debianCorpusHasTheDocumentedSplitAndVocabulary() throws IOException {
        FortuneCorpus corpus = FortuneCorpus.read(FortuneCorpus.DEBIAN_DIRECTORY);
        assertEquals(FortuneCorpus.DEBIAN_FILES, corpus.files());
        assertEquals(13_696, corpus.trainFortunes());
        assertEquals(1_521, corpus.validationFortunes());
        assertEquals(
                corpus.validationFortunes(),
                (corpus.trainFortunes() + corpus.validationFortunes()) / 10);
        assertEquals(2_313_954, corpus.train().length);
        assertEquals(262_675, corpus.validation().length);
        long[] counts = new long[CharVocabulary.SIZE];
        for (byte[] text : List.of(corpus.train(), corpus.validation())) {
            for (byte id : text) {
                counts[id]++;
            }
        }
        List<Integer> absent = new ArrayList<>();
        for (int id = 1; id < CharVocabulary.SIZE; id++) {
            if (counts[id] == 0) {
                absent.add(id);
            }
        }
        assertEquals(List.of(), absent, "known ids that never occur");
        assertEquals(28, counts[CharVocabulary.id('}')]);
        for (int id = 1; id < CharVocabulary.SIZE; id++) {
            assertTrue(counts[id] >= 28, "id " + id + " occurs " + counts[id] + " times");
        }
        // backspaces, bells and the few non-ASCII characters: well under 0.1% of the text
        long total = corpus.train().length + (long) corpus.validation().length;
        assertTrue(counts[CharVocabulary.UNKNOWN] * 1000 < total, counts[0] + " unknown");
    }
}
