package io.github.so4j.optimizers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The smallest subclass of the base: plain gradient steps, optionally throwing inside a chosen
 * step, to test what the base class guarantees by itself.
 */
final class GradientStepOptimizer extends SecondOrderOptimizer {

    private final int throwingCall;
    private int calls;

    private GradientStepOptimizer(Builder builder) {
        super(builder);
        this.throwingCall = builder.throwingCall;
    }

    static Builder builder() {
        return new Builder();
    }

    @Override
    protected Map<String, NDArray> computeStep(
            List<ParameterGradient> parameters, NDManager owner, Step step) {
        calls++;
        Map<String, NDArray> directions = new HashMap<>();
        for (ParameterGradient p : parameters) {
            NDArray d = p.gradient().duplicate();
            d.attach(owner);
            directions.put(p.key(), d);
        }
        if (calls == throwingCall) {
            throw new IllegalStateException("computeStep failed on purpose");
        }
        return directions;
    }

    @Override
    protected boolean parametersChanged(List<String> keys) {
        return false;
    }

    @Override
    protected void writeState(OptimizerState state) {}

    @Override
    protected void readState(OptimizerState state) {}

    static final class Builder extends BaseBuilder<Builder> {

        private int throwingCall = -1;

        Builder() {
            super(0.1f);
        }

        Builder throwingAtCall(int call) {
            this.throwingCall = call;
            return this;
        }

        @Override
        protected Builder self() {
            return this;
        }

        GradientStepOptimizer build() {
            return new GradientStepOptimizer(this);
        }
    }
}
