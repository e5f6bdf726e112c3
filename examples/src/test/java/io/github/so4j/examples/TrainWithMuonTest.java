package io.github.so4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The example trains: the loss over the data set goes down, and every step is taken. */
class TrainWithMuonTest {

    @Test
    void theLossGoesDown() throws Exception {
        int epochs = 5;
        TrainWithMuon.Result result = TrainWithMuon.train(epochs, 42);

        // The untrained model scores 3.19 nats here (its random logits are not small) and the
        // uniform guess ln 10 = 2.30; the labels are the argmax of a linear map, which the MLP can
        // fit (0.39 after five epochs). Half the lower of the two is far from both ends: a run that
        // learns little cannot pass, one that trains passes with room.
        double uniformGuess = Math.log(TrainWithMuon.CLASSES);
        assertTrue(
                result.finalLoss() < 0.5 * Math.min(result.initialLoss(), uniformGuess),
                "loss " + result.initialLoss() + " -> " + result.finalLoss());
        List<Float> epochLosses = result.epochLosses();
        assertEquals(epochs, epochLosses.size());
        assertTrue(
                epochLosses.get(epochs - 1) < epochLosses.get(0),
                "training loss by epoch " + epochLosses);
        int stepsPerEpoch = TrainWithMuon.EXAMPLES / TrainWithMuon.BATCH;
        assertEquals((long) epochs * stepsPerEpoch, result.steps());
        assertEquals(0, result.skippedSteps());
    }
}
