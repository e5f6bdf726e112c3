package io.github.so4j.it;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.pooling.Pool;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.BatchSampler;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.translate.TranslateException;
import io.github.so4j.bench.compare.Evaluation;
import io.github.so4j.bench.data.FashionMnistFiles;
import io.github.so4j.bench.data.SeededShuffleSampler;
import io.github.so4j.curvature.Devices;
import io.github.so4j.optimizers.Kfac;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Iterator;
import java.util.function.Supplier;

/**
 * The K-FAC end-to-end workloads and a training loop that mirrors {@code ./so4j compare} ({@code
 * TrainingRun}): the seed fixes the initialization and the order of the batches; each step is
 * {@link EasyTrain#trainBatch} then {@code Trainer.step()}; the model is evaluated afterwards in
 * inference mode. A {@link Kfac} optimizer gets the block through {@link Kfac#instrument} first,
 * the one change K-FAC asks of a training loop.
 */
final class KfacWorkloads {

    private KfacWorkloads() {}

    /**
     * The deep autoencoder of the K-FAC paper (Martens and Grosse 2015, after Hinton and
     * Salakhutdinov 2006): 784-1000-500-250-30-250-500-1000-784, logistic sigmoid units everywhere
     * except the linear 30-unit code layer, and logits out (the loss applies the sigmoid). About
     * 2.8 million parameters.
     *
     * @return a new block
     */
    static Block autoencoder() {
        return autoencoder(1);
    }

    /**
     * The deep autoencoder of {@link #autoencoder()} with its hidden layers narrowed: widths 1000,
     * 500 and 250 divided by {@code divisor} (rounded up), the 30-unit code and the depth kept
     * (divisor 4: 784-250-125-63-30-63-125-250-784, about 0.47 million parameters).
     *
     * @param divisor how many times narrower, at least 1
     * @return a new block
     */
    static Block autoencoder(int divisor) {
        int[] widths = {1000, 500, 250, 30, 250, 500, 1000};
        SequentialBlock block = new SequentialBlock();
        for (int i = 0; i < widths.length; i++) {
            int width = widths[i] == 30 ? 30 : (widths[i] + divisor - 1) / divisor;
            block.add(Linear.builder().setUnits(width).build());
            if (widths[i] != 30) {
                block.add(Activation::sigmoid);
            }
        }
        return block.add(Linear.builder().setUnits(784).build());
    }

    /**
     * The autoencoder's loss: sigmoid cross-entropy of the logits against the pixels, summed over
     * the 784 pixels and averaged over the batch (the K-FAC paper's reconstruction objective; DJL's
     * {@code SigmoidBinaryCrossEntropyLoss} would average over the pixels too, dividing the loss by
     * 784 and the Fisher by 784 squared).
     */
    static final class PixelCrossEntropy extends Loss {

        PixelCrossEntropy() {
            super("PixelCrossEntropy");
        }

        /** {@inheritDoc} */
        @Override
        public NDArray evaluate(NDList labels, NDList predictions) {
            NDArray z = predictions.singletonOrThrow();
            NDArray x = labels.singletonOrThrow().reshape(z.getShape());
            // max(z, 0) - z x + log(1 + exp(-|z|)), stable for any z
            NDArray perPixel =
                    Activation.relu(z).sub(z.mul(x)).add(Activation.softPlus(z.abs().neg()));
            return perPixel.sum(new int[] {1}).mean();
        }
    }

    /**
     * A small 10-class CNN for 1 x 28 x 28 images: Conv2d 16 5x5 (padding 2), ReLU, 2x2 max-pool,
     * Conv2d 32 3x3 (padding 1), ReLU, 2x2 max-pool, flatten, Linear 10; 16,954 parameters.
     *
     * @return a new block
     */
    static Block cnn() {
        return new SequentialBlock()
                .add(
                        Conv2d.builder()
                                .setFilters(16)
                                .setKernelShape(new Shape(5, 5))
                                .optPadding(new Shape(2, 2))
                                .build())
                .add(Activation::relu)
                .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))
                .add(
                        Conv2d.builder()
                                .setFilters(32)
                                .setKernelShape(new Shape(3, 3))
                                .optPadding(new Shape(1, 1))
                                .build())
                .add(Activation::relu)
                .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))
                .add(Blocks.batchFlattenBlock())
                .add(Linear.builder().setUnits(10).build());
    }

    /**
     * The first {@code size} Fashion-MNIST images as an autoencoder data set: data and labels are
     * both the flattened pixels in [0, 1].
     */
    static RandomAccessDataset images(NDManager manager, Dataset.Usage usage, int size)
            throws IOException {
        FashionMnistFiles.Split split =
                FashionMnistFiles.read(
                        FashionMnistFiles.chooseDirectory(null, System.getenv()), usage);
        int count = Math.min(size, split.size());
        ByteBuffer bytes = ByteBuffer.wrap(split.pixels(), 0, count * 784).slice();
        NDArray pixels;
        try (NDArray raw = manager.create(bytes, new Shape(count, 784), DataType.UINT8)) {
            pixels = raw.toType(DataType.FLOAT32, false).divi(255f);
        }
        return new ArrayDataset.Builder()
                .setData(pixels)
                .optLabels(pixels)
                .setSampling(128, false)
                .build();
    }

    /** What a run left: losses over the training data and the test data, and test accuracy. */
    record Result(double trainLoss, double testLoss, double testAccuracy) {}

    /**
     * Trains a fresh model for a number of steps and evaluates it.
     *
     * @param block a new, uninstrumented block
     * @param loss the loss
     * @param optimizer the optimizer (a {@link Kfac} gets the block through {@code instrument})
     * @param inputShape the shape of one input, batch axis first
     * @param train the training data
     * @param test the data to evaluate on besides the training data, or {@code null}
     * @param steps the number of steps
     * @param batchSize the batch size
     * @param seed the seed of the initialization and of the batch order
     * @param classification whether to compute accuracy
     * @param listeners training listeners (for progress reports)
     * @return the evaluation after training
     */
    static Result train(
            Supplier<Block> block,
            Loss loss,
            Optimizer optimizer,
            Shape inputShape,
            RandomAccessDataset train,
            RandomAccessDataset test,
            int steps,
            int batchSize,
            long seed,
            boolean classification,
            TrainingListener... listeners)
            throws IOException, TranslateException {
        Engine.getInstance().setRandomSeed(Math.toIntExact(seed));
        try (Model model = Model.newInstance("kfac-it", Devices.preferred())) {
            Block b = block.get();
            model.setBlock(optimizer instanceof Kfac ? ((Kfac) optimizer).instrument(b) : b);
            try (Trainer trainer =
                    model.newTrainer(
                            new DefaultTrainingConfig(loss)
                                    .optOptimizer(optimizer)
                                    .addTrainingListeners(listeners))) {
                trainer.initialize(inputShape);
                BatchSampler sampler =
                        new BatchSampler(new SeededShuffleSampler(seed), batchSize, false);
                Iterator<Batch> batches = null;
                for (int step = 0; step < steps; step++) {
                    if (batches == null || !batches.hasNext()) {
                        batches = train.getData(trainer.getManager(), sampler).iterator();
                    }
                    try (Batch batch = batches.next()) {
                        EasyTrain.trainBatch(trainer, batch);
                        trainer.step();
                    }
                }
                Evaluation onTrain = Evaluation.of(trainer, train, classification);
                Evaluation onTest =
                        test == null ? null : Evaluation.of(trainer, test, classification);
                return new Result(
                        onTrain.meanLoss(),
                        onTest == null ? Double.NaN : onTest.meanLoss(),
                        onTest == null ? Double.NaN : onTest.accuracy());
            }
        }
    }
}
