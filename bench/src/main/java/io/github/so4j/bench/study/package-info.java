/**
 * Studies that reproduce a paper's measurement rather than train to a target: reusable classes that
 * return tables, for {@code ./so4j reproduce} and for {@code docs/}.
 */
package io.github.so4j.bench.study;
