package io.github.so4j.optimizers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.so4j.curvature.HostReads;
import io.github.so4j.optimizers.transform.SecondMoment;
import org.junit.jupiter.api.Test;

/** Transform state commits only where the step is accepted, NaN candidates included. */
class TransformStateTest {

    private static Step step(NDManager scope, long takenBefore) {
        return new Step(
                scope,
                scope.create(true),
                scope.create(takenBefore),
                takenBefore + 1,
                takenBefore + 1,
                new Step.Resolver() {
                    @Override
                    public long takenBefore() {
                        return takenBefore;
                    }

                    @Override
                    public boolean decide(NDArray accepted) {
                        return HostReads.toBoolean(accepted);
                    }
                });
    }

    @Test
    void aRejectedStepLeavesTheStateBitIdenticalAndReadsNothing() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray weight = m.create(new float[] {1, 2, 3});
            TransformState state = new TransformState(SecondMoment.adamChain(0.9f, 0.99f, 1e-8f));
            long reads = HostReads.count();
            try (NDManager scope = m.newSubManager()) {
                Step s = step(scope, 0);
                state.apply(
                        "w",
                        m.create(new float[] {1, -1, 2}),
                        m.create(new float[] {1, -1, 2}),
                        weight,
                        s);
                s.commits().forEach(c -> c.commit(scope.create(true)));
            }
            float[] m1 = state.get("w").get(0).toFloatArray();
            float[] v1 = state.get("w").get(1).toFloatArray();
            try (NDManager scope = m.newSubManager()) {
                Step s = step(scope, 1);
                NDArray nan = m.create(new float[] {Float.NaN, 1, 1});
                state.apply("w", nan, nan, weight, s);
                s.commits().forEach(c -> c.commit(scope.create(false)));
            }
            assertEquals(0, HostReads.count() - reads);
            assertArrayEquals(m1, state.get("w").get(0).toFloatArray(), 0f);
            assertArrayEquals(v1, state.get("w").get(1).toFloatArray(), 0f);
            try (NDManager scope = m.newSubManager()) {
                Step s = step(scope, 1);
                NDArray g = m.create(new float[] {2, 2, 2});
                state.apply("w", g, g, weight, s);
                s.commits().forEach(c -> c.commit(scope.create(true)));
            }
            assertNotEquals(m1[0], state.get("w").get(0).toFloatArray()[0]);
            state.close();
        }
    }
}
