package io.github.so4j.bench.tune;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.ArrayList;
import java.util.List;

/**
 * Log-spaced grids of a positive setting: {@code v_i = center * ratio^(i - floor((n - 1) / 2))} for
 * {@code i = 0 .. n - 1} ({@link #around}), so that neighbours differ by the same factor and the
 * center is always a point, or {@code v_i = lo * (hi / lo)^(i / (n - 1))} ({@link #between}).
 * Values are rounded to three significant digits ({@link #format}) so that they read well as
 * settings and as file names; the rounding moves a ratio by at most 0.5% / 100 = 0.005 relative.
 * Cost: n values.
 */
public final class LogGrid {

    private LogGrid() {}

    /**
     * Returns {@code points} values around {@code center}, neighbours {@code ratio} apart, the
     * center included (with an even count, one more point above it than below).
     *
     * @param center the middle value, positive and finite
     * @param ratio the factor between neighbours, above 1
     * @param points how many values, at least 1
     * @return the values in increasing order, each rounded to three significant digits
     * @throws IllegalArgumentException naming the parameter and its value if one is invalid
     */
    public static List<Double> around(double center, double ratio, int points) {
        checkPositive("center", center);
        if (!(ratio > 1) || Double.isInfinite(ratio)) {
            throw new IllegalArgumentException(
                    "ratio must be a finite number above 1, but was " + ratio);
        }
        checkPoints(points);
        int below = (points - 1) / 2;
        List<Double> values = new ArrayList<>(points);
        for (int i = 0; i < points; i++) {
            values.add(round(center * Math.pow(ratio, i - below)));
        }
        return values;
    }

    /**
     * Returns {@code points} values from {@code lo} to {@code hi}, log-spaced.
     *
     * @param lo the smallest value, positive and finite
     * @param hi the largest value, at least {@code lo} (equal only with one point)
     * @param points how many values, at least 1 (one point gives {@code lo})
     * @return the values in increasing order, each rounded to three significant digits
     * @throws IllegalArgumentException naming the parameter and its value if one is invalid
     */
    public static List<Double> between(double lo, double hi, int points) {
        checkPositive("lo", lo);
        checkPositive("hi", hi);
        checkPoints(points);
        if (hi < lo || (hi == lo && points > 1)) {
            throw new IllegalArgumentException(
                    "hi must be above lo (" + lo + ") for " + points + " points, but was " + hi);
        }
        List<Double> values = new ArrayList<>(points);
        for (int i = 0; i < points; i++) {
            double t = points == 1 ? 0 : (double) i / (points - 1);
            values.add(round(lo * Math.pow(hi / lo, t)));
        }
        return values;
    }

    /**
     * Parses {@code LO:HI:N} ({@link #between}) or a single value.
     *
     * @param spec the text, such as {@code 1e-4:1e-2:5}
     * @return the values
     * @throws IllegalArgumentException naming the text if it is not such a grid
     */
    public static List<Double> parse(String spec) {
        String[] parts = spec.split(":", -1);
        try {
            if (parts.length == 1) {
                return between(Double.parseDouble(parts[0]), Double.parseDouble(parts[0]), 1);
            }
            if (parts.length == 3) {
                return between(
                        Double.parseDouble(parts[0]),
                        Double.parseDouble(parts[1]),
                        Integer.parseInt(parts[2]));
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    "a grid is LO:HI:N or one value, such as 1e-4:1e-2:5, but was '" + spec + "'",
                    e);
        }
        throw new IllegalArgumentException(
                "a grid is LO:HI:N or one value, such as 1e-4:1e-2:5, but was '" + spec + "'");
    }

    /**
     * Writes a value as a setting: three significant digits, no exponent, no trailing zeros.
     *
     * @param value a positive value
     * @return such as {@code 0.0025} or {@code 3}
     */
    public static String format(double value) {
        return BigDecimal.valueOf(value)
                .round(new MathContext(3))
                .stripTrailingZeros()
                .toPlainString();
    }

    private static double round(double value) {
        return Double.parseDouble(format(value));
    }

    private static void checkPositive(String name, double value) {
        if (!(value > 0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException(
                    name + " must be a positive finite number, but was " + value);
        }
    }

    private static void checkPoints(int points) {
        if (points < 1) {
            throw new IllegalArgumentException("points must be at least 1, but was " + points);
        }
    }
}
