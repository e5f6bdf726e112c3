package io.github.so4j.bench.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The English text of the {@code charlm} workload: the fortune cookies of Debian's packages {@code
 * fortunes} and {@code fortunes-min}, read offline from their plain files and split, without any
 * randomness, into a training and a validation text encoded by {@link CharVocabulary}.
 *
 * <p>A fortune file holds fortunes separated by lines that hold only "%". The folder is the one
 * given ({@code --data DIR}) or {@link #DEBIAN_DIRECTORY}. In the Debian folder the corpus is
 * exactly the 43 files of the two packages ({@link #DEBIAN_FILES}, about 2.6 MB), so that other
 * fortune packages installed into the same folder do not change it; in any other folder it is every
 * regular file whose name does not end in {@code .dat} (strfile's index files); symbolic links (the
 * {@code .u8} links of the Debian folder) are skipped. Files are read in the order of their names,
 * as UTF-8 (a malformed byte becomes U+FFFD, the unknown id).
 *
 * <p>The split is by whole fortunes: counting the non-empty fortunes from 0 over all files in that
 * order, every tenth (index 9, 19, 29, ...) goes to validation, the rest to training, so both texts
 * sample every file. Each text is its fortunes in order, each followed by the separator line "%\n"
 * as in the files. Reading costs one pass over the files.
 */
public final class FortuneCorpus {

    /** Where Debian's packages {@code fortunes} and {@code fortunes-min} put the files. */
    public static final Path DEBIAN_DIRECTORY = Path.of("/usr/share/games/fortunes");

    /** The Debian package that brings the whole corpus (it depends on {@code fortunes-min}). */
    public static final String PACKAGE = "fortunes";

    /** The command that installs the corpus on Debian or Ubuntu. */
    public static final String INSTALL_COMMAND = "apt-get update && apt-get install -y " + PACKAGE;

    /**
     * The corpus in the Debian folder: the fortune files of {@code fortunes} (1:1.99.1, Debian 12)
     * and of {@code fortunes-min} ({@code fortunes}, {@code literature}, {@code riddles}), sorted.
     */
    public static final List<String> DEBIAN_FILES =
            List.of(
                    "art",
                    "ascii-art",
                    "computers",
                    "cookie",
                    "debian",
                    "definitions",
                    "disclaimer",
                    "drugs",
                    "education",
                    "ethnic",
                    "food",
                    "fortunes",
                    "goedel",
                    "humorists",
                    "kids",
                    "knghtbrd",
                    "law",
                    "linux",
                    "linuxcookie",
                    "literature",
                    "love",
                    "magic",
                    "medicine",
                    "men-women",
                    "miscellaneous",
                    "news",
                    "paradoxum",
                    "people",
                    "perl",
                    "pets",
                    "platitudes",
                    "politics",
                    "pratchett",
                    "riddles",
                    "science",
                    "songs-poems",
                    "sports",
                    "startrek",
                    "tao",
                    "translate-me",
                    "wisdom",
                    "work",
                    "zippy");

    /** Every this-many-th fortune goes to validation. */
    public static final int VALIDATION_EVERY = 10;

    /** The line that ends every fortune in the texts, as in the files. */
    public static final String SEPARATOR = "%\n";

    private final Path directory;
    private final List<String> files;
    private final int trainFortunes;
    private final int validationFortunes;
    private final byte[] train;
    private final byte[] validation;

    private FortuneCorpus(
            Path directory,
            List<String> files,
            int trainFortunes,
            int validationFortunes,
            byte[] train,
            byte[] validation) {
        this.directory = directory;
        this.files = files;
        this.trainFortunes = trainFortunes;
        this.validationFortunes = validationFortunes;
        this.train = train;
        this.validation = validation;
    }

    /**
     * Chooses the folder to read from.
     *
     * @param explicit a folder given by the user, or {@code null}
     * @return {@code explicit}, or {@link #DEBIAN_DIRECTORY}
     */
    public static Path chooseDirectory(Path explicit) {
        return explicit != null ? explicit : DEBIAN_DIRECTORY;
    }

    /**
     * Reads the corpus from a folder.
     *
     * @param directory the folder
     * @return the corpus
     * @throws DatasetException if the folder holds no fortune files (the message names the package
     *     and the command that installs it), if the Debian folder lacks some of {@link
     *     #DEBIAN_FILES}, if a file cannot be read, or if there are fewer than {@value
     *     #VALIDATION_EVERY} fortunes (no validation text)
     */
    public static FortuneCorpus read(Path directory) throws DatasetException {
        List<String> names = fileNames(directory);
        StringBuilder trainText = new StringBuilder();
        StringBuilder validationText = new StringBuilder();
        int index = 0;
        for (String name : names) {
            Path file = directory.resolve(name);
            String content;
            try {
                content = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new DatasetException(file + " cannot be read: " + e.getMessage(), e);
            }
            for (String fortune : fortunes(content)) {
                StringBuilder target =
                        index % VALIDATION_EVERY == VALIDATION_EVERY - 1
                                ? validationText
                                : trainText;
                target.append(fortune).append(SEPARATOR);
                index++;
            }
        }
        int validationCount = index / VALIDATION_EVERY;
        if (validationCount == 0) {
            throw new DatasetException(
                    "the fortune files in "
                            + directory
                            + " hold "
                            + index
                            + " fortune(s); the validation split needs at least "
                            + VALIDATION_EVERY);
        }
        return new FortuneCorpus(
                directory,
                List.copyOf(names),
                index - validationCount,
                validationCount,
                CharVocabulary.encode(trainText),
                CharVocabulary.encode(validationText));
    }

    /**
     * Splits the content of a fortune file into its non-empty fortunes: the lines between lines
     * that hold only "%", each line ending in "\n".
     *
     * @param content the file's text
     * @return the fortunes, in order
     */
    static List<String> fortunes(String content) {
        List<String> fortunes = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        int start = 0;
        while (start < content.length()) {
            int end = content.indexOf('\n', start);
            String line = content.substring(start, end < 0 ? content.length() : end);
            start = end < 0 ? content.length() : end + 1;
            if (line.equals("%")) {
                add(fortunes, current);
            } else {
                current.append(line).append('\n');
            }
        }
        add(fortunes, current);
        return fortunes;
    }

    private static void add(List<String> fortunes, StringBuilder current) {
        if (current.length() > 0) {
            fortunes.add(current.toString());
            current.setLength(0);
        }
    }

    private static List<String> fileNames(Path directory) throws DatasetException {
        String remedy =
                ". Install Debian's package "
                        + PACKAGE
                        + " with '"
                        + INSTALL_COMMAND
                        + "' (as root; it puts the files in "
                        + DEBIAN_DIRECTORY
                        + "), or point --data DIR at a folder of fortune files.";
        if (!Files.isDirectory(directory)) {
            throw new DatasetException(
                    "fortune corpus not found: " + directory + " is not a folder" + remedy);
        }
        if (directory.toAbsolutePath().normalize().equals(DEBIAN_DIRECTORY)) {
            List<String> missing = new ArrayList<>();
            for (String name : DEBIAN_FILES) {
                if (!Files.isRegularFile(directory.resolve(name))) {
                    missing.add(name);
                }
            }
            if (!missing.isEmpty()) {
                throw new DatasetException(
                        "fortune corpus incomplete: "
                                + directory
                                + " lacks "
                                + missing.size()
                                + " of its "
                                + DEBIAN_FILES.size()
                                + " files "
                                + missing
                                + remedy);
            }
            return DEBIAN_FILES;
        }
        List<String> names;
        try (Stream<Path> listing = Files.list(directory)) {
            names =
                    listing.filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS))
                            .map(p -> p.getFileName().toString())
                            .filter(name -> !name.endsWith(".dat"))
                            .sorted()
                            .toList();
        } catch (IOException e) {
            throw new DatasetException(directory + " cannot be listed: " + e.getMessage(), e);
        }
        if (names.isEmpty()) {
            throw new DatasetException(
                    "fortune corpus not found: " + directory + " holds no fortune files" + remedy);
        }
        return names;
    }

    /**
     * Returns the folder read.
     *
     * @return the folder
     */
    public Path directory() {
        return directory;
    }

    /**
     * Returns the names of the files read, in the order read.
     *
     * @return the file names
     */
    public List<String> files() {
        return files;
    }

    /**
     * Returns the number of fortunes in the training text.
     *
     * @return the count
     */
    public int trainFortunes() {
        return trainFortunes;
    }

    /**
     * Returns the number of fortunes in the validation text.
     *
     * @return the count
     */
    public int validationFortunes() {
        return validationFortunes;
    }

    /**
     * Returns the training text, encoded.
     *
     * @return a copy of the ids, one per character
     */
    public byte[] train() {
        return train.clone();
    }

    /**
     * Returns the validation text, encoded.
     *
     * @return a copy of the ids, one per character
     */
    public byte[] validation() {
        return validation.clone();
    }
}
