package io.github.so4j.optimizers.kfac;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.EasyTrain;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.util.Pair;

/**
 * The training step for K-FAC with the Monte-Carlo Fisher: the output-side factors come from labels
 * sampled from the model's predictive distribution instead of the training labels.
 *
 * <p>Use it in place of {@link EasyTrain#trainBatch}, then call {@code trainer.step()} as usual:
 *
 * <pre>{@code
 * Kfac kfac = Kfac.builder().optFisher(Kfac.Fisher.MONTE_CARLO).build();
 * model.setBlock(kfac.instrument(block));
 * ...
 * for (Batch batch : trainer.iterateDataset(data)) {
 *     MonteCarloFisher.trainBatch(trainer, batch, kfac.instrumentation(),
 *             LabelSampler.softmaxCrossEntropy());
 *     trainer.step();
 *     batch.close();
 * }
 * }</pre>
 *
 * <p>On steps that update the factors it runs two passes: a forward and a backward of the loss at
 * labels drawn by the sampler, whose output gradients the instrumentation records and holds; then,
 * after zeroing the parameter gradients that pass left, {@link EasyTrain#trainBatch} with the
 * training labels, which gives the gradient the step follows (and the metrics). Other steps run
 * only the second pass. The factor steps therefore cost a second forward and backward; the steps
 * after them do not, since with a factor period above 1 the host decides each factor step and so
 * knows the next step's index.
 *
 * <p>For sequences the sampler draws one label per token: (N, T) classes for (N, T, V) logits
 * ({@link LabelSampler#softmaxCrossEntropy()}), given to the loss in the shape of the training
 * labels ((N, T, 1) for DJL's {@code SoftmaxCrossEntropyLoss}).
 *
 * <p>The labels of the step with index t among taken steps come from a generator seeded by the
 * optimizer's seed and t ({@link Instrumentation#sampleLabels}): a rejected step leaves the labels
 * of every later step as they would have been without it, and a resumed run draws what the
 * uninterrupted one draws.
 */
public final class MonteCarloFisher {

    private MonteCarloFisher() {}

    /**
     * Runs one training batch: the sampled pass when the instrumentation records, then the training
     * pass.
     *
     * @param trainer the trainer of the instrumented model
     * @param batch the batch. Not modified.
     * @param instrumentation the optimizer's instrumentation ({@code kfac.instrumentation()})
     * @param sampler draws labels from the model's predictive distribution for the trainer's loss
     */
    public static void trainBatch(
            Trainer trainer, Batch batch, Instrumentation instrumentation, LabelSampler sampler) {
        if (instrumentation.isRecording()) {
            sampledPass(trainer, batch, instrumentation, sampler);
        }
        EasyTrain.trainBatch(trainer, batch);
    }

    /**
     * Runs the sampled pass alone: a forward and a backward of the loss at labels drawn by the
     * sampler, whose recordings the instrumentation holds; the parameter gradients it left are
     * zeroed. No training listener hears of it.
     *
     * @param trainer the trainer of the instrumented model
     * @param batch the batch. Not modified.
     * @param instrumentation the optimizer's instrumentation, recording
     * @param sampler draws labels from the model's predictive distribution for the trainer's loss
     */
    public static void sampledPass(
            Trainer trainer, Batch batch, Instrumentation instrumentation, LabelSampler sampler) {
        try (GradientCollector collector = trainer.newGradientCollector()) {
            NDList predictions = trainer.forward(batch.getData(), batch.getLabels());
            NDList sampled =
                    shapedLike(
                            instrumentation.sampleLabels(sampler, predictions), batch.getLabels());
            NDArray loss = trainer.getLoss().evaluate(sampled, predictions);
            collector.backward(loss);
        }
        instrumentation.hold();
        zeroGradients(trainer);
    }

    /**
     * The drawn labels in the shapes of the training labels where only the shape differs: one class
     * per token is drawn as (N, T) for (N, T, V) logits, and DJL's {@code SoftmaxCrossEntropyLoss}
     * takes the labels of such logits as (N, T, 1).
     */
    private static NDList shapedLike(NDList sampled, NDList labels) {
        if (labels == null || labels.size() != sampled.size()) {
            return sampled;
        }
        NDList shaped = new NDList(sampled.size());
        for (int i = 0; i < sampled.size(); i++) {
            NDArray draw = sampled.get(i);
            Shape shape = labels.get(i).getShape();
            boolean reshape = !draw.getShape().equals(shape) && draw.size() == shape.size();
            shaped.add(reshape ? draw.reshape(shape) : draw);
        }
        return shaped;
    }

    /**
     * Fills every parameter gradient with zeros (NaN included), in a scope: fills allocate.
     *
     * @param trainer the trainer whose model's gradients are zeroed
     */
    public static void zeroGradients(Trainer trainer) {
        for (Pair<String, Parameter> pair : trainer.getModel().getBlock().getParameters()) {
            Parameter parameter = pair.getValue();
            if (!parameter.requiresGradient() || !parameter.isInitialized()) {
                continue;
            }
            NDArray weight = parameter.getArray();
            if (!weight.hasGradient()) {
                continue;
            }
            try (NDArray gradient = weight.getGradient();
                    NDManager scope = weight.getManager().newSubManager()) {
                scope.tempAttachAll(gradient);
                gradient.set(new NDIndex("..."), 0);
            }
        }
    }
}
