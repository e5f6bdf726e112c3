package io.github.so4j.bench.compare;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.listener.TrainingListenerAdapter;
import java.util.Map;

/**
 * Keeps the loss of the last training batch, as {@link EasyTrain#trainBatch} reports it to the
 * trainer's listeners (the mean over devices of the loss on each device's split).
 */
public final class BatchLossListener extends TrainingListenerAdapter {

    private double last = Double.NaN;

    /** Creates a listener that has seen no batch. */
    public BatchLossListener() {}

    /** {@inheritDoc} */
    @Override
    public void onTrainingBatch(Trainer trainer, BatchData batchData) {
        double sum = 0;
        int parts = 0;
        for (Map.Entry<Device, NDList> entry : batchData.getPredictions().entrySet()) {
            NDList labels = batchData.getLabels().get(entry.getKey());
            try (NDArray loss = trainer.getLoss().evaluate(labels, entry.getValue())) {
                sum += loss.getFloat();
                parts++;
            }
        }
        last = sum / parts;
    }

    /**
     * Returns the last batch's loss and forgets it.
     *
     * @return the loss, or NaN if no batch was seen since the last call
     */
    public double take() {
        double value = last;
        last = Double.NaN;
        return value;
    }
}
