/** Tests of the workload definitions. */
package io.github.so4j.bench.workload;
