/** Tests of the paper studies against closed forms and independent computations. */
package io.github.so4j.bench.study;
