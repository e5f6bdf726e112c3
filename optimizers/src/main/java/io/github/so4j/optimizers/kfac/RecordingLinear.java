package io.github.so4j.optimizers.kfac;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.Parameter;
import ai.djl.nn.ParameterList;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.PairList;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The {@link RecordingBlock} of a {@link Linear} layer: a {@code Linear} itself, so that it fits a
 * parent's field of type {@code Linear} as well as its children.
 *
 * <p>It is built as a {@code Linear} of one unit whose own parameters are never initialized; every
 * public method, and {@code forwardInternal}, which DJL's final {@code forward} calls, goes to the
 * layer.
 */
final class RecordingLinear extends Linear implements RecordingBlock {

    private final Linear layer;
    private final CapturedLayer captured;

    RecordingLinear(Linear layer, CapturedLayer captured) {
        super(Linear.builder().setUnits(1));
        this.layer = layer;
        this.captured = captured;
    }

    /** {@inheritDoc} */
    @Override
    public CapturedLayer captured() {
        return captured;
    }

    /** {@inheritDoc} */
    @Override
    public Block layer() {
        return layer;
    }

    /** The layer's forward, recorded when training; the final {@code forward} calls this. */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDList outputs = layer.forward(parameterStore, inputs, training, params);
        return training ? captured.record(inputs, outputs) : outputs;
    }

    /** {@inheritDoc} */
    @Override
    public NDList forward(
            ParameterStore parameterStore,
            NDList data,
            NDList labels,
            PairList<String, Object> params) {
        return captured.record(data, layer.forward(parameterStore, data, labels, params));
    }

    /** {@inheritDoc} */
    @Override
    public void setInitializer(Initializer initializer, Parameter.Type type) {
        layer.setInitializer(initializer, type);
    }

    /** {@inheritDoc} */
    @Override
    public void setInitializer(Initializer initializer, String paramName) {
        layer.setInitializer(initializer, paramName);
    }

    /** {@inheritDoc} */
    @Override
    public void setInitializer(Initializer initializer, Predicate<Parameter> predicate) {
        layer.setInitializer(initializer, predicate);
    }

    /** {@inheritDoc} */
    @Override
    public void initialize(NDManager manager, DataType dataType, Shape... inputShapes) {
        layer.initialize(manager, dataType, inputShapes);
    }

    /** {@inheritDoc} */
    @Override
    public boolean isInitialized() {
        return layer.isInitialized();
    }

    /** {@inheritDoc} */
    @Override
    public void cast(DataType dataType) {
        layer.cast(dataType);
    }

    /** {@inheritDoc} */
    @Override
    public void clear() {
        layer.clear();
    }

    /** {@inheritDoc} */
    @Override
    public PairList<String, Shape> describeInput() {
        return layer.describeInput();
    }

    /** {@inheritDoc} */
    @Override
    public BlockList getChildren() {
        return layer.getChildren();
    }

    /** {@inheritDoc} */
    @Override
    public ParameterList getDirectParameters() {
        return layer.getDirectParameters();
    }

    /** {@inheritDoc} */
    @Override
    public ParameterList getParameters() {
        return layer.getParameters();
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return layer.getOutputShapes(inputShapes);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes, DataType[] inputDataTypes) {
        return layer.getOutputShapes(inputShapes, inputDataTypes);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getInputShapes() {
        return layer.getInputShapes();
    }

    /** {@inheritDoc} */
    @Override
    public DataType[] getOutputDataTypes() {
        return layer.getOutputDataTypes();
    }

    /** {@inheritDoc} */
    @Override
    public void saveParameters(DataOutputStream os) throws IOException {
        layer.saveParameters(os);
    }

    /** {@inheritDoc} */
    @Override
    public void loadParameters(NDManager manager, DataInputStream is)
            throws IOException, MalformedModelException {
        layer.loadParameters(manager, is);
    }

    /** {@inheritDoc} */
    @Override
    public void loadMetadata(byte loadVersion, DataInputStream is)
            throws IOException, MalformedModelException {
        layer.loadMetadata(loadVersion, is);
    }

    /** {@inheritDoc} */
    @Override
    public void freezeParameters(boolean freeze) {
        layer.freezeParameters(freeze);
    }

    /** {@inheritDoc} */
    @Override
    public void freezeParameters(boolean freeze, Predicate<Parameter> pred) {
        layer.freezeParameters(freeze, pred);
    }

    /** {@inheritDoc} */
    @Override
    public Map<String, String> getCustomMetadata() {
        return layer.getCustomMetadata();
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return layer.toString();
    }

    /** {@inheritDoc} */
    @Override
    public void prepare(Shape[] inputShapes) {
        layer.prepare(inputShapes);
    }
}
