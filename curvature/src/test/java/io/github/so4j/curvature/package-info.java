/** Tests of the curvature module's shared pieces. */
package io.github.so4j.curvature;
