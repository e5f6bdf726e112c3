/** Training a DJL model with a so4j optimizer, from a project that depends on so4j. */
package io.github.so4j.examples;
