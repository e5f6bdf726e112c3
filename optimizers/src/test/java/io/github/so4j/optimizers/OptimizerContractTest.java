package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.so4j.curvature.HostReads;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The contract every so4j optimizer keeps, checked over the {@link So4jOptimizers} registry (in the
 * style of optax's tests over all its optimizers), on a quadratic, the Rosenbrock function and a
 * tiny MLP, in float32 and float64: the loss descends, weights and state stay finite, shapes and
 * dtypes are kept, the same seed gives the same numbers, and a checkpoint resumes bit for bit.
 */
class OptimizerContractTest {

    private static final int STEPS = 12;

    interface Factory {
        ContractProblem make(NDManager parent, DataType type, SecondOrderOptimizer optimizer);
    }

    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        Map<String, Factory> problems =
                Map.of(
                        "quadratic", ContractProblem::quadratic,
                        "rosenbrock", ContractProblem::rosenbrock,
                        "mlp", ContractProblem::mlp);
        for (So4jOptimizers.Entry entry : So4jOptimizers.all()) {
            for (String problem : List.of("quadratic", "rosenbrock", "mlp")) {
                for (DataType type : List.of(DataType.FLOAT32, DataType.FLOAT64)) {
                    cases.add(Arguments.of(entry, problem, problems.get(problem), type));
                }
            }
        }
        return cases.stream();
    }

    /**
     * The loss after {@value #STEPS} steps is below the initial loss, every weight and every state
     * array is finite, shapes and dtypes are unchanged, nothing was skipped, and a second run from
     * the same seed gives bit-identical weights.
     */
    @ParameterizedTest(name = "{0} on {1}, {3}")
    @MethodSource("cases")
    void descendsStaysFiniteKeepsShapesAndRepeatsExactly(
            So4jOptimizers.Entry entry, String name, Factory factory, DataType type) {
        double[] first;
        try (NDManager manager = NDManager.newBaseManager()) {
            SecondOrderOptimizer optimizer = entry.build();
            try (ContractProblem problem = factory.make(manager, type, optimizer)) {
                List<String> signature = problem.signature();
                double before = problem.loss();
                for (int i = 0; i < STEPS; i++) {
                    entry.step(optimizer, problem);
                }
                double after = problem.loss();
                assertTrue(after < before, "loss went from " + before + " to " + after);
                first = problem.weights();
                for (double w : first) {
                    assertTrue(Double.isFinite(w), "a weight is " + w);
                }
                assertEquals(signature, problem.signature());
                assertEquals(0, optimizer.health().skippedSteps(), optimizer.health().toString());
                assertEquals(STEPS, optimizer.health().steps());
                assertStateFinite(optimizer, problem);
            }
        }
        try (NDManager manager = NDManager.newBaseManager()) {
            SecondOrderOptimizer optimizer = entry.build();
            try (ContractProblem problem = factory.make(manager, type, optimizer)) {
                for (int i = 0; i < STEPS; i++) {
                    entry.step(optimizer, problem);
                }
                assertArrayEquals(first, problem.weights(), 0.0);
            }
        }
    }

    /**
     * k steps, a checkpoint of the optimizer (and the weights), a fresh optimizer restored from it
     * in a fresh problem carrying those weights, n more steps: the weights equal those of k + n
     * uninterrupted steps exactly.
     */
    @ParameterizedTest(name = "{0} on {1}, {3}")
    @MethodSource("cases")
    void checkpointResumesBitIdentically(
            So4jOptimizers.Entry entry, String name, Factory factory, DataType type)
            throws IOException {
        int k = 5;
        int n = 5;
        try (NDManager manager = NDManager.newBaseManager()) {
            SecondOrderOptimizer optimizer = entry.build();
            SecondOrderOptimizer resumed = entry.build();
            try (ContractProblem original = factory.make(manager, type, optimizer);
                    ContractProblem restarted = factory.make(manager, type, resumed)) {
                for (int i = 0; i < k; i++) {
                    entry.step(optimizer, original);
                }
                ByteArrayOutputStream state = new ByteArrayOutputStream();
                optimizer.saveState(state, original.block);
                List<NDArray> from = original.parameters();
                List<NDArray> to = restarted.parameters();
                for (int i = 0; i < from.size(); i++) {
                    to.get(i).subi(to.get(i)).addi(from.get(i));
                }
                // a first backward gives the restarted parameters their gradient arrays
                restarted.backward();
                restarted.scaleGradients(0);
                resumed.loadState(new ByteArrayInputStream(state.toByteArray()), restarted.block);
                for (int i = 0; i < n; i++) {
                    entry.step(optimizer, original);
                    entry.step(resumed, restarted);
                }
                assertArrayEquals(original.weights(), restarted.weights(), 0.0);
                assertEquals(optimizer.health(), resumed.health());
            }
        }
    }

    /**
     * {@link SecondOrderOptimizer#stateBytes()} after every step reads nothing from the device and
     * changes nothing (the weights equal those of a run that never asks), and counts at least every
     * array the checkpoint holds (elements times dtype size, summed here from the decoded
     * checkpoint).
     */
    @ParameterizedTest(name = "{0} on {1}, {3}")
    @MethodSource("cases")
    void stateBytesReadsNothingChangesNothingAndCoversTheCheckpoint(
            So4jOptimizers.Entry entry, String name, Factory factory, DataType type)
            throws IOException {
        try (NDManager manager = NDManager.newBaseManager()) {
            SecondOrderOptimizer asked = entry.build();
            SecondOrderOptimizer unasked = entry.build();
            try (ContractProblem measured = factory.make(manager, type, asked);
                    ContractProblem plain = factory.make(manager, type, unasked)) {
                assertEquals(0, asked.stateBytes());
                long bytes = 0;
                for (int i = 0; i < STEPS; i++) {
                    entry.step(asked, measured);
                    entry.step(unasked, plain);
                    long before = HostReads.count();
                    bytes = asked.stateBytes();
                    assertEquals(before, HostReads.count(), "stateBytes read from the device");
                }
                assertArrayEquals(plain.weights(), measured.weights(), 0.0);
                assertEquals(unasked.health(), asked.health());
                long checkpoint = checkpointArrayBytes(asked, measured);
                assertTrue(
                        bytes >= checkpoint,
                        bytes + " bytes counted, but the checkpoint's arrays take " + checkpoint);
            }
        }
    }

    /** The bytes of the arrays of the optimizer's checkpoint, decoded. */
    private static long checkpointArrayBytes(
            SecondOrderOptimizer optimizer, ContractProblem problem) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        optimizer.saveState(bytes, problem.block);
        try (NDManager scratch = problem.manager().newSubManager()) {
            Map<String, String> none = Map.of();
            OptimizerState state = new OptimizerState(none, none, Map.of(), scratch);
            CheckpointFormat.read(new ByteArrayInputStream(bytes.toByteArray()), scratch, state);
            long total = 0;
            for (Object value : state.entries().values()) {
                if (value instanceof NDArray array) {
                    total += array.size() * array.getDataType().getNumOfBytes();
                }
            }
            return total;
        }
    }

    /** Every array in the optimizer's checkpoint state is finite. */
    private static void assertStateFinite(SecondOrderOptimizer optimizer, ContractProblem problem) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            optimizer.saveState(bytes, problem.block);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        try (NDManager scratch = problem.manager().newSubManager()) {
            Map<String, String> none = Map.of();
            OptimizerState state = new OptimizerState(none, none, Map.of(), scratch);
            CheckpointFormat.read(new ByteArrayInputStream(bytes.toByteArray()), scratch, state);
            int arrays = 0;
            for (String entry : state.names()) {
                if (state.entries().get(entry) instanceof NDArray array) {
                    arrays++;
                    double nonFinite =
                            array.toType(DataType.FLOAT64, false).mul(0).sum().getDouble();
                    assertEquals(0.0, nonFinite, "state entry " + entry + " is not finite");
                }
            }
            // subspace Newton and SMB keep counters and scalars only
            assertTrue(
                    arrays > 0 || optimizer instanceof SubspaceNewton || optimizer instanceof Smb,
                    "no state arrays");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
