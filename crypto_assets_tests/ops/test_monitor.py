"""Host sampling, overload rules, and GPU readings parsed from nvidia-ml-py's own structs.

No GPU on the CI machines: the no-GPU path runs for real; the GPU path runs against an NVML
stand-in that returns pynvml's real ctypes structs and raises pynvml's real error classes (the
hardware is the only thing replaced). The GPU path has not been run on a real GPU here."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pynvml
import pytest

from crypto_assets.ops import monitor
from crypto_assets.ops.monitor import (
    DiskSample,
    GpuSample,
    HostSample,
    ResourceUsage,
    Thresholds,
    overloads,
    read_gpus,
    sample_host,
)

GIB = 1024**3


class FakeNvml:
    """NVML's Python API for two devices (an RTX 2000-like board without power readings, and a
    busy one); values come back in pynvml's own structs, in NVML's units."""

    NVMLError = pynvml.NVMLError
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU

    def __init__(self, busy_util: int = 97) -> None:
        self.inits = 0
        self.shutdowns = 0
        self.busy_util = busy_util

    def nvmlInit(self) -> None:
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return ["NVIDIA RTX 2000 Ada Generation", "NVIDIA H100"][handle]

    def nvmlDeviceGetUtilizationRates(self, handle: int):
        return pynvml.c_nvmlUtilization_t(gpu=[12, self.busy_util][handle], memory=[5, 60][handle])

    def nvmlDeviceGetMemoryInfo(self, handle: int):
        total = [16 * GIB, 80 * GIB][handle]
        used = [2 * GIB, 78 * GIB][handle]
        return pynvml.c_nvmlMemory_t(total=total, free=total - used, used=used)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return [45, 88][handle]

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        if handle == 0:
            raise pynvml.NVMLError_NotSupported()
        return 312_500  # milliwatts


def _nvml_present() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


def test_gpu_readings_parsed_from_nvml_structs() -> None:
    nvml = FakeNvml()
    gpus, status = read_gpus(nvml)
    assert status == "ok: 2 GPU(s)" and nvml.inits == nvml.shutdowns == 1
    small, big = gpus
    assert small == GpuSample(
        0, "NVIDIA RTX 2000 Ada Generation", 12.0, 5.0, 2048.0, 16384.0, 45.0, None
    )
    assert big.power_w == 312.5 and big.memory_percent == pytest.approx(97.5)


def test_no_gpu_is_said_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if _nvml_present():
        pytest.skip("this machine has an NVIDIA driver: the no-GPU path cannot be observed")
    monkeypatch.setattr(monitor, "_no_gpu_said", False)
    with caplog.at_level(logging.INFO, logger="crypto_assets.ops.monitor"):
        first = read_gpus()
        second = read_gpus()
    assert first == second
    assert first[0] == [] and first[1].startswith("none: NVML unavailable (NVML Shared Library")
    assert caplog.text.count("no NVIDIA GPU") == 1


def test_host_sample_is_real(tmp_path: Path) -> None:
    sample = sample_host([tmp_path, tmp_path / "not" / "yet"], cpu_interval=0.1)
    assert 0.0 <= sample.cpu_percent <= 100.0 and 0.0 < sample.memory_percent < 100.0
    assert sample.memory_total_gb > 0.1 and len(sample.disks) == 2
    assert all(d.free_gb > 0 for d in sample.disks)
    metrics = sample.metrics()
    assert metrics["gpu_status"] == sample.gpu_status
    assert metrics["gpu_count"] == float(len(sample.gpus))
    assert metrics["disk_free_gb_min"] == min(d.free_gb for d in sample.disks)
    if not _nvml_present():
        assert sample.gpus == [] and "gpu_util_percent_max" not in metrics


def _sample(**changes: object) -> HostSample:
    gpus, _ = read_gpus(FakeNvml())
    base = dict(
        time=0.0,
        cpu_percent=40.0,
        load_per_core=0.5,
        memory_percent=50.0,
        memory_used_gb=16.0,
        memory_total_gb=32.0,
        disks=[DiskSample("/data", 120.0, 40.0)],
        gpus=gpus,
        gpu_status="ok: 2 GPU(s)",
    )
    return HostSample(**{**base, **changes})


def test_overload_rules() -> None:
    limits = Thresholds(
        cpu_percent=95,
        memory_percent=90,
        disk_min_free_gb=5,
        gpu_memory_percent=95,
        gpu_temperature_c=85,
    )
    calm = _sample(gpus=[])
    assert overloads(calm, limits) == []
    busy = _sample(cpu_percent=99.0, memory_percent=93.5, disks=[DiskSample("/data", 2.5, 98.0)])
    found = {o.resource: o for o in overloads(busy, limits)}
    assert set(found) == {"cpu", "memory", "disk:/data", "gpu1_memory", "gpu1_temperature"}
    assert found["disk:/data"].message == "only 2.5 GB free on the disk of /data"
    assert found["gpu1_temperature"].value == 88.0 and found["memory"].limit == 90


def _work() -> float:
    rng = np.random.default_rng(0)
    total = 0.0
    for _ in range(12):
        matrix = rng.standard_normal((300, 300))
        total += float(np.linalg.norm(matrix @ matrix))
    return total


def test_usage_during_a_call_without_gpu() -> None:
    if _nvml_present():
        pytest.skip("this machine has an NVIDIA driver")
    with ResourceUsage(interval_s=0.02) as usage:
        _work()
    metrics = usage.metrics()
    assert usage.samples >= 2 and metrics["usage_samples"] == usage.samples
    assert metrics["process_rss_mb_max"] >= metrics["process_rss_mb_mean"] > 10
    assert not any(key.startswith("gpu") for key in metrics)
    assert usage.tags()["gpu"].startswith("none: NVML unavailable")


def test_usage_during_a_call_with_gpus() -> None:
    nvml = FakeNvml(busy_util=90)
    with ResourceUsage(interval_s=0.02, nvml=nvml) as usage:
        _work()
    metrics = usage.metrics()
    assert metrics["gpu_util_percent_mean"] == pytest.approx((12 + 90) / 2)
    assert metrics["gpu_memory_used_mb_max"] == 80 * 1024.0
    assert metrics["gpu_memory_total_mb"] == 96 * 1024.0
    assert usage.tags() == {"gpu": "NVIDIA RTX 2000 Ada Generation, NVIDIA H100"}
    assert nvml.inits == usage.samples
