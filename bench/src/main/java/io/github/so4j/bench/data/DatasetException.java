package io.github.so4j.bench.data;

import java.io.IOException;

/** A data set that cannot be found or read: missing, truncated or corrupt files. */
public class DatasetException extends IOException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception with a message that says what is wrong and what to do.
     *
     * @param message the message
     */
    public DatasetException(String message) {
        super(message);
    }

    /**
     * Creates an exception with a message and the low-level cause.
     *
     * @param message the message
     * @param cause the cause
     */
    public DatasetException(String message, Throwable cause) {
        super(message, cause);
    }
}
