"""The CUDA device runtime (graphc.backends.cuda.device) end to end over FakeDriver, whose launches run the
host-compiled kernels: uploads, the step's graph or its launches, the status word, residency of parameters."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import graphc as gc
from tests.backends.cuda_host import FakeDriver, build_library

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")


def _mlp_step(backend, seed=0):
    rng = np.random.default_rng(seed)
    x, y = gc.input("x", (None, 6)), gc.input("y", (None,), gc.int64)
    w1 = gc.param("w1", rng.normal(size=(6, 20)).astype(np.float32))
    w2 = gc.param("w2", rng.normal(size=(20, 3)).astype(np.float32))
    loss = gc.losses.cross_entropy(gc.tanh(x @ w1) @ w2, y)
    g1, g2 = gc.grad(loss, [w1, w2])
    fn = gc.compile(loss, updates={w1: w1 - 0.1 * g1, w2: w2 - 0.1 * g2}, backend=backend)
    return fn, (w1, w2)


def _batch(n, seed=1):
    return dict(x=np.random.default_rng(seed).normal(size=(n, 6)).astype(np.float32), y=np.arange(n) % 3)


def _on_fake_device(fn, feeds, tmp_path, use_graph=True, debug=False, fake=None):
    """Specialise fn for `feeds` (the call fails: no device here), then run its step over a FakeDriver."""
    from graphc.backends.cuda.device import DeviceStep, Driver, Gpu

    with pytest.raises(gc.DeviceError):
        fn(**feeds)
    spec = fn.backend.last
    folder = tmp_path / f"lib{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    library = build_library({"": spec.program}, folder, debug=debug)
    fake = fake or FakeDriver(library)
    fake.library = library
    step = DeviceStep(spec.fn.printed, b"ptx", Gpu(Driver(fake)), use_graph=use_graph)
    spec.run = step.bind(spec.arena, spec.externals)
    return step, fake


@pytest.mark.parametrize("use_graph", [True, False], ids=["graph", "launches"])
def test_the_device_runtime_trains_like_the_cpu(tmp_path, use_graph):
    data = _batch(17)
    cpu, cpu_params = _mlp_step("llvm")
    gpu_fn, gpu_params = _mlp_step("cuda")
    step, fake = _on_fake_device(gpu_fn, data, tmp_path, use_graph)
    for _ in range(4):
        np.testing.assert_allclose(gpu_fn(**data), cpu(**data), rtol=2e-5)
    for a, b in zip(gpu_params, cpu_params):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-4, atol=1e-6)
    assert len(fake.calls) == 4 * len(step.printed.launches)
    bad = dict(data, y=np.full(17, 7))  # labels out of range: the device's status word names the check
    with pytest.raises(gc.IndexRangeError, match=r"must be in \[0, 3\)"):
        gpu_fn(**bad)
    step.close()
    assert not fake.memory and not fake.handles


def test_parameters_stay_on_the_device_between_steps_and_come_back_when_read(tmp_path):
    data = _batch(17)
    cpu, cpu_params = _mlp_step("llvm")
    gpu_fn, (w1, w2) = _mlp_step("cuda")
    step, fake = _on_fake_device(gpu_fn, data, tmp_path)
    gpu_fn(**data), cpu(**data)
    fake.copies.clear()
    for _ in range(3):
        gpu_fn(**data), cpu(**data)
    batch_bytes = data["x"].nbytes + data["y"].nbytes
    # per step: the batch goes up; the status word and the loss come down; nothing else
    assert fake.copies == [("up", 6 * 17 * 4), ("up", 17 * 8), ("down", 4), ("down", 4)] * 3, fake.copies
    assert batch_bytes == 6 * 17 * 4 + 17 * 8
    assert w1.variable.holder is step
    np.testing.assert_allclose(w1.value, cpu_params[0].value, rtol=1e-4, atol=1e-6)  # a read brings it back
    assert w1.variable.holder is None and w2.variable.holder is step
    # a change made through the host array is seen by the next step, as on the CPU
    w1.value[0, :] = 0.5
    cpu_params[0].value[0, :] = 0.5
    fake.copies.clear()
    np.testing.assert_allclose(gpu_fn(**data), cpu(**data), rtol=2e-5)
    assert ("up", w1.value.nbytes) in fake.copies
    gpu_fn.to_host()
    assert w1.variable.holder is None and w2.variable.holder is None
    for a, b in zip((w1, w2), cpu_params):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-4, atol=1e-6)
    w2.variable.holder = step
    step.close()  # closing brings held values home before the memory goes
    assert w2.variable.holder is None and not fake.memory


def _sgd_on(w1, w2):
    """An update-only function on w1, w2 compiled for the CPU (LLVM)."""
    loss = gc.sum(gc.tanh(gc.input("x", (None, 6)) @ w1) @ w2)
    g1, g2 = gc.grad(loss, [w1, w2])
    return gc.compile([], updates={w1: w1 - 0.01 * g1, w2: w2 - 0.01 * g2})


def test_two_batch_sizes_and_a_cpu_function_share_the_same_parameters(tmp_path):
    """Each specialisation has its own device copy; a step takes the newest one wherever it is (the other
    step's memory, or the host array a CPU function just updated)."""
    cpu, cpu_params = _mlp_step("llvm")
    gpu_fn, gpu_params = _mlp_step("cuda")
    on_cpu, cpu_twin = _sgd_on(*gpu_params), _sgd_on(*cpu_params)
    big, small = _batch(17), _batch(5, seed=2)
    step_big, _ = _on_fake_device(gpu_fn, big, tmp_path)
    step_small, _ = _on_fake_device(gpu_fn, small, tmp_path)
    for feeds in (big, small, small, big, None, big, None, None, small):
        if feeds is None:
            on_cpu(x=big["x"]), cpu_twin(x=big["x"])
        else:
            np.testing.assert_allclose(gpu_fn(**feeds), cpu(**feeds), rtol=2e-5)
    for a, b in zip(gpu_params, cpu_params):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-4, atol=1e-6)
    step_big.close(), step_small.close()


def test_debug_mode_on_the_device_names_the_first_kernel_that_wrote_a_nan(tmp_path):
    x = gc.input("x", (4,))
    y = gc.exp(gc.log(x, name="the_log") * 2.0)
    fn = gc.compile(y, backend="cuda", debug=True)
    assert "_finite(" in fn.source
    _on_fake_device(fn, dict(x=np.ones(4, np.float32)), tmp_path, debug=True)
    np.testing.assert_allclose(fn(x=np.full(4, 2.0, np.float32)), np.full(4, 4.0), rtol=1e-6)
    with pytest.raises(gc.NonFiniteError, match="NaN first produced by log 'the_log'"):
        fn(x=np.array([1.0, -1.0, 2.0, 3.0], np.float32))
    with pytest.raises(gc.NonFiniteError, match="Inf first produced by"):
        fn(x=np.array([1.0, 0.0, 2.0, 3.0], np.float32))


def test_graphc_info_names_the_device_its_compute_capability_the_driver_and_nvrtc(monkeypatch):
    from graphc.backends.cuda import device, function, nvrtc
    from graphc.backends.cuda.device import Driver, Gpu

    assert "cannot run here" in function.CudaBackend.describe()  # this machine: no driver or no device
    monkeypatch.setattr(function, "unavailable", lambda: None)
    monkeypatch.setattr(nvrtc, "version", lambda: "13.5")
    monkeypatch.setattr(device, "_gpu", Gpu(Driver(FakeDriver(None))))
    line = function.CudaBackend.describe()
    assert line.startswith("runs on host emulation (compute capability 8.0), driver for CUDA 13.0, NVRTC 13.5"), line


def test_a_failed_copy_back_hands_the_variable_to_the_host_and_says_so(tmp_path):
    from graphc.ops.leaves import RESIDENT

    data = _batch(17)
    gpu_fn, (w1, _) = _mlp_step("cuda")
    step, fake = _on_fake_device(gpu_fn, data, tmp_path)
    assert RESIDENT[0] >= 1
    gpu_fn(**data)
    assert w1.variable.holder is step
    fake.cuMemcpyDtoHAsync = lambda *args: (1,)  # the driver fails every copy from now on
    with pytest.raises(gc.DeviceError, match="cuMemcpyDtoHAsync failed"):
        w1.value  # noqa: B018
    assert w1.variable.holder is None and isinstance(w1.value, np.ndarray)
    live = RESIDENT[0]
    step.close()
    assert RESIDENT[0] == live - 1
