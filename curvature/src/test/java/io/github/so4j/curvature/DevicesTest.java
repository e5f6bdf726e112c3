package io.github.so4j.curvature;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import org.junit.jupiter.api.Test;

class DevicesTest {

    @Test
    void automaticChoiceFollowsTheGpuCount() {
        assertEquals(Device.cpu(), Devices.choose("", 0, "PyTorch"));
        assertEquals(Device.gpu(), Devices.choose("", 2, "PyTorch"));
    }

    @Test
    void propertyOverridesTheChoice() {
        assertEquals(Device.cpu(), Devices.choose("cpu", 1, "PyTorch"));
        assertEquals(Device.gpu(), Devices.choose(" GPU ", 1, "PyTorch"));
    }

    @Test
    void gpuWithoutOneIsAClearError() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> Devices.choose("gpu", 0, "PyTorch"));
        assertTrue(
                e.getMessage().startsWith("so4j.device=gpu, but the PyTorch engine sees no GPU"));
    }

    @Test
    void unknownValueIsRejected() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> Devices.choose("tpu", 0, "PyTorch"));
        assertEquals("so4j.device must be cpu or gpu, but was 'tpu'", e.getMessage());
    }

    @Test
    void defaultEngineRunsOnTheChosenDevice() {
        Device device = Devices.preferred();
        assertTrue(device.isGpu() || device.equals(Device.cpu()), device.toString());
    }
}
