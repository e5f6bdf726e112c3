/** Checks that the examples train. */
package io.github.so4j.examples;
