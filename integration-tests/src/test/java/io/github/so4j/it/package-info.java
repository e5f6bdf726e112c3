/** End-to-end DJL training on Fashion-MNIST with the PyTorch engine. */
package io.github.so4j.it;
