package io.github.so4j.examples;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.listener.TrainingListenerAdapter;
import ai.djl.training.loss.Loss;
import ai.djl.translate.TranslateException;
import io.github.so4j.optimizers.Muon;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Trains a small MLP with so4j's Muon through DJL's {@code EasyTrain.fit} and prints the loss.
 *
 * <p>The data are synthetic, so that the example needs no download: 2,048 points \( x \sim N(0, I)
 * \) in 32 dimensions, each labelled by the largest entry of \( x T \) for a fixed random 32 x 10
 * matrix T. The model is 32 - 64 (ReLU) - 10, trained for a few epochs of batch 64 (32 steps an
 * epoch; seconds on a CPU).
 *
 * <p>The so4j part is two lines: the optimizer given to {@code DefaultTrainingConfig.optOptimizer},
 * and {@code muon.nameParameters(block)}, from which Muon learns which layer is the output layer
 * (it moves that one, and the biases, by AdamW). Every other so4j optimizer goes in the same place.
 */
public final class TrainWithMuon {

    static final int EXAMPLES = 2048;
    static final int FEATURES = 32;
    static final int CLASSES = 10;
    static final int BATCH = 64;

    private TrainWithMuon() {}

    /**
     * What a run measured.
     *
     * @param initialLoss the mean cross-entropy over all examples before training
     * @param finalLoss the same after training
     * @param epochLosses DJL's training loss of each epoch (the mean over its batches)
     * @param steps the optimizer's steps
     * @param skippedSteps the steps it rejected (a NaN or infinite gradient)
     */
    public record Result(
            float initialLoss,
            float finalLoss,
            List<Float> epochLosses,
            long steps,
            long skippedSteps) {}

    /**
     * Trains for the epochs given as the first argument (default 5) and prints the losses.
     *
     * @param args the number of epochs, optional
     * @throws IOException if the data set cannot be prepared
     * @throws TranslateException if a batch cannot be made
     */
    public static void main(String[] args) throws IOException, TranslateException {
        int epochs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        Result result = train(epochs, 42);
        System.out.printf(
                "loss over all %d examples: %.4f before training, %.4f after %d epochs"
                        + " (%d steps, %d skipped)%n",
                EXAMPLES,
                result.initialLoss(),
                result.finalLoss(),
                epochs,
                result.steps(),
                result.skippedSteps());
    }

    /**
     * Builds the data and the model from the seed, and trains it with Muon.
     *
     * @param epochs passes over the data
     * @param seed the engine's random seed (data and initial weights)
     * @return the losses and the optimizer's step counts
     * @throws IOException if the data set cannot be prepared
     * @throws TranslateException if a batch cannot be made
     */
    public static Result train(int epochs, int seed) throws IOException, TranslateException {
        Engine.getInstance().setRandomSeed(seed);
        try (NDManager manager = NDManager.newBaseManager();
                Model model = Model.newInstance("mlp")) {
            NDArray x = manager.randomNormal(new Shape(EXAMPLES, FEATURES));
            NDArray teacher = manager.randomNormal(new Shape(FEATURES, CLASSES));
            NDArray y = x.matMul(teacher).argMax(1);
            ArrayDataset data =
                    new ArrayDataset.Builder()
                            .setData(x)
                            .optLabels(y)
                            .setSampling(BATCH, true)
                            .build();

            SequentialBlock block =
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(64).build())
                            .add(Activation::relu)
                            .add(Linear.builder().setUnits(CLASSES).build());
            model.setBlock(block);

            Muon muon = Muon.builder().optLearningRate(0.02f).build();
            muon.nameParameters(block);

            List<Float> epochLosses = new ArrayList<>();
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                            .optOptimizer(muon)
                            .addTrainingListeners(TrainingListener.Defaults.basic())
                            .addTrainingListeners(new EpochLoss(epochLosses));
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(BATCH, FEATURES));
                float initialLoss = loss(trainer, x, y);
                EasyTrain.fit(trainer, epochs, data, null);
                float finalLoss = loss(trainer, x, y);
                return new Result(
                        initialLoss,
                        finalLoss,
                        List.copyOf(epochLosses),
                        muon.health().steps(),
                        muon.health().skippedSteps());
            }
        }
    }

    /** The mean cross-entropy over all examples, the model in inference mode. */
    private static float loss(Trainer trainer, NDArray x, NDArray y) {
        NDList predictions = trainer.evaluate(new NDList(x));
        return trainer.getLoss().evaluate(new NDList(y), predictions).getFloat();
    }

    /** Prints and keeps each epoch's training loss (listed after DJL's evaluator listener). */
    private static final class EpochLoss extends TrainingListenerAdapter {

        private final List<Float> losses;

        EpochLoss(List<Float> losses) {
            this.losses = losses;
        }

        @Override
        public void onEpoch(Trainer trainer) {
            float loss = trainer.getTrainingResult().getTrainLoss();
            losses.add(loss);
            System.out.printf("epoch %d: training loss %.4f%n", losses.size(), loss);
        }
    }
}
