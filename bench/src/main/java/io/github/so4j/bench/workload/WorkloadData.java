package io.github.so4j.bench.workload;

import ai.djl.training.dataset.RandomAccessDataset;

/**
 * What a workload trains and is evaluated on, loaded by {@link Workload#load}.
 *
 * @param train the examples training draws its batches from
 * @param trainEvaluation the examples of the final training loss: {@code train} itself, or a fixed
 *     part of it where evaluating all of it would take longer than training
 * @param test the examples of the test (or validation) loss and accuracy
 * @param source where the data came from, for the report's heading
 */
public record WorkloadData(
        RandomAccessDataset train,
        RandomAccessDataset trainEvaluation,
        RandomAccessDataset test,
        String source) {}
