/** Tests of the recipe list and of {@code so4j reproduce}'s messages. */
package io.github.so4j.bench.reproduce;
