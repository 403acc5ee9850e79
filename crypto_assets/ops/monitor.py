"""Host resources: CPU, memory, disk and NVIDIA GPUs (through NVML, ``nvidia-ml-py``), sampled
into plain records, judged against thresholds, and tracked during a training call.

Pure (no Dagster): the ``resource_monitor`` sensor in ``crypto_assets.defs.ops`` samples on a
schedule and alerts on sustained overload; model training wraps its fit in
:class:`ResourceUsage` and logs :meth:`ResourceUsage.metrics` into its MLflow run.

Without an NVIDIA driver NVML cannot load: every sample then says ``gpu_status = "none: ..."``
and the reason is logged once per process, never as an error.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil

log = logging.getLogger(__name__)
_MB = 1024**2
_GB = 1024**3
_no_gpu_said = False


@dataclass(frozen=True)
class GpuSample:
    index: int
    name: str
    util_percent: float
    memory_util_percent: float
    memory_used_mb: float
    memory_total_mb: float
    temperature_c: float | None
    power_w: float | None

    @property
    def memory_percent(self) -> float:
        return 100.0 * self.memory_used_mb / self.memory_total_mb if self.memory_total_mb else 0.0


@dataclass(frozen=True)
class DiskSample:
    path: str
    free_gb: float
    used_percent: float


@dataclass(frozen=True)
class HostSample:
    time: float  # unix seconds
    cpu_percent: float
    load_per_core: float  # 1-minute load average / logical cores
    memory_percent: float
    memory_used_gb: float
    memory_total_gb: float
    disks: list[DiskSample]
    gpus: list[GpuSample]
    gpu_status: str  # "ok: N GPU(s)" or "none: <why>"

    def metrics(self) -> dict[str, float | str]:
        """Flat numbers (and the GPU status) for observation metadata and table rows."""
        out: dict[str, float | str] = {
            "cpu_percent": self.cpu_percent,
            "load_per_core": round(self.load_per_core, 3),
            "memory_percent": self.memory_percent,
            "memory_used_gb": round(self.memory_used_gb, 3),
            "memory_total_gb": round(self.memory_total_gb, 3),
            "gpu_count": float(len(self.gpus)),
            "gpu_status": self.gpu_status,
        }
        if self.disks:
            out["disk_free_gb_min"] = round(min(d.free_gb for d in self.disks), 3)
            out["disk_used_percent_max"] = max(d.used_percent for d in self.disks)
        if self.gpus:
            out["gpu_util_percent_max"] = max(g.util_percent for g in self.gpus)
            out["gpu_memory_percent_max"] = round(max(g.memory_percent for g in self.gpus), 2)
            temps = [g.temperature_c for g in self.gpus if g.temperature_c is not None]
            if temps:
                out["gpu_temperature_c_max"] = max(temps)
        return out


@dataclass(frozen=True)
class Thresholds:
    cpu_percent: float = 95.0
    memory_percent: float = 90.0
    disk_min_free_gb: float = 5.0
    gpu_memory_percent: float = 95.0
    gpu_temperature_c: float = 85.0


@dataclass(frozen=True)
class Overload:
    resource: str  # cpu | memory | disk:<path> | gpu<i>_memory | gpu<i>_temperature
    value: float
    limit: float
    message: str


def _nvml() -> ModuleType:
    import pynvml

    return pynvml


def _say_no_gpu_once(reason: str) -> None:
    global _no_gpu_said
    if not _no_gpu_said:
        _no_gpu_said = True
        log.info("no NVIDIA GPU: %s (GPU metrics are left out)", reason)


def _optional(nvml: Any, call, *args) -> Any:
    """An NVML reading a device may not support (power on some boards) is None, not an error."""
    try:
        return call(*args)
    except nvml.NVMLError:
        return None


def gpu_sample(nvml: Any, handle: Any, index: int) -> GpuSample:
    """One device's reading from NVML's own structs (``c_nvmlUtilization_t`` in percent,
    ``c_nvmlMemory_t`` in bytes, power in milliwatts)."""
    name = nvml.nvmlDeviceGetName(handle)
    util = nvml.nvmlDeviceGetUtilizationRates(handle)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    temperature = _optional(nvml, nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
    power_mw = _optional(nvml, nvml.nvmlDeviceGetPowerUsage, handle)
    return GpuSample(
        index=index,
        name=name.decode() if isinstance(name, bytes) else str(name),
        util_percent=float(util.gpu),
        memory_util_percent=float(util.memory),
        memory_used_mb=round(memory.used / _MB, 1),
        memory_total_mb=round(memory.total / _MB, 1),
        temperature_c=None if temperature is None else float(temperature),
        power_w=None if power_mw is None else round(power_mw / 1000.0, 1),
    )


def read_gpus(nvml: Any | None = None) -> tuple[list[GpuSample], str]:
    """(samples, status) for every NVIDIA GPU; no driver or no device is a status, not an error."""
    nvml = nvml or _nvml()
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        reason = f"NVML unavailable ({exc})"
        _say_no_gpu_once(reason)
        return [], f"none: {reason}"
    try:
        count = nvml.nvmlDeviceGetCount()
        samples = [gpu_sample(nvml, nvml.nvmlDeviceGetHandleByIndex(i), i) for i in range(count)]
    except nvml.NVMLError as exc:
        return [], f"none: NVML error ({exc})"
    finally:
        nvml.nvmlShutdown()
    if not samples:
        _say_no_gpu_once("NVML found no device")
        return [], "none: NVML found no device"
    return samples, f"ok: {len(samples)} GPU(s)"


def sample_host(
    disk_paths: Sequence[str | Path], cpu_interval: float = 1.0, nvml: Any | None = None
) -> HostSample:
    """CPU over ``cpu_interval`` seconds, memory, free space of each path's disk, GPUs."""
    cpu = psutil.cpu_percent(interval=cpu_interval)
    memory = psutil.virtual_memory()
    disks = []
    for path in dict.fromkeys(str(p) for p in disk_paths):
        existing = Path(path)
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent  # a data folder not created yet: its disk still counts
        usage = shutil.disk_usage(existing)
        disks.append(
            DiskSample(path, round(usage.free / _GB, 3), round(100 * usage.used / usage.total, 2))
        )
    gpus, status = read_gpus(nvml)
    return HostSample(
        time=time.time(),
        cpu_percent=float(cpu),
        load_per_core=os.getloadavg()[0] / (psutil.cpu_count() or 1),
        memory_percent=float(memory.percent),
        memory_used_gb=(memory.total - memory.available) / _GB,
        memory_total_gb=memory.total / _GB,
        disks=disks,
        gpus=gpus,
        gpu_status=status,
    )


def overloads(sample: HostSample, limits: Thresholds) -> list[Overload]:
    """Every reading over its limit in this one sample (sustained-ness is the caller's call)."""
    found = []
    if sample.cpu_percent >= limits.cpu_percent:
        found.append(
            Overload(
                "cpu", sample.cpu_percent, limits.cpu_percent, f"CPU {sample.cpu_percent:.0f} %"
            )
        )
    if sample.memory_percent >= limits.memory_percent:
        found.append(
            Overload(
                "memory",
                sample.memory_percent,
                limits.memory_percent,
                f"memory {sample.memory_percent:.0f} % ({sample.memory_used_gb:.1f} of "
                f"{sample.memory_total_gb:.1f} GB)",
            )
        )
    for disk in sample.disks:
        if disk.free_gb < limits.disk_min_free_gb:
            found.append(
                Overload(
                    f"disk:{disk.path}",
                    disk.free_gb,
                    limits.disk_min_free_gb,
                    f"only {disk.free_gb:.1f} GB free on the disk of {disk.path}",
                )
            )
    for gpu in sample.gpus:
        if gpu.memory_percent >= limits.gpu_memory_percent:
            found.append(
                Overload(
                    f"gpu{gpu.index}_memory",
                    gpu.memory_percent,
                    limits.gpu_memory_percent,
                    f"GPU {gpu.index} ({gpu.name}) memory {gpu.memory_percent:.0f} %",
                )
            )
        if gpu.temperature_c is not None and gpu.temperature_c >= limits.gpu_temperature_c:
            found.append(
                Overload(
                    f"gpu{gpu.index}_temperature",
                    gpu.temperature_c,
                    limits.gpu_temperature_c,
                    f"GPU {gpu.index} ({gpu.name}) at {gpu.temperature_c:.0f} °C",
                )
            )
    return found


@dataclass
class _Series:
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    def summary(self, prefix: str) -> dict[str, float]:
        if not self.values:
            return {}
        return {
            f"{prefix}_mean": round(sum(self.values) / len(self.values), 2),
            f"{prefix}_max": round(max(self.values), 2),
        }


class ResourceUsage:
    """Samples this process (with its children) and every GPU while a block runs, e.g. a model
    fit; :meth:`metrics` and :meth:`tags` are ready for ``mlflow.log_metrics`` / ``set_tags``::

        with ResourceUsage() as usage:
            estimator.fit(...)
        mlflow.log_metrics(usage.metrics()); mlflow.set_tags(usage.tags())

    One sample at the start, one per ``interval_s`` in a daemon thread, one at the end, so even
    a short call has readings. GPU metrics appear only when NVML sees a device."""

    def __init__(self, interval_s: float = 1.0, nvml: Any | None = None) -> None:
        self.interval_s = interval_s
        self._nvml = nvml
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = psutil.Process()
        self._series: dict[str, _Series] = {}
        self._gpu_names: list[str] = []
        self._gpu_total_mb = 0.0
        self.gpu_status = "not sampled"
        self.samples = 0
        self._started = 0.0
        self.duration_s = 0.0

    def _rss_mb(self) -> float:
        total = self._process.memory_info().rss
        for child in self._process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:  # a child that just ended
                continue
        return total / _MB

    def _sample(self) -> None:
        self._series.setdefault("process_rss_mb", _Series()).add(self._rss_mb())
        self._series.setdefault("process_cpu_percent", _Series()).add(self._process.cpu_percent())
        if self.gpu_status.startswith("none"):
            gpus = []  # said once at the first sample; no need to ask NVML every second
        else:
            gpus, self.gpu_status = read_gpus(self._nvml)
        if gpus:
            self._gpu_names = [g.name for g in gpus]
            self._gpu_total_mb = sum(g.memory_total_mb for g in gpus)
            self._series.setdefault("gpu_util_percent", _Series()).add(
                sum(g.util_percent for g in gpus) / len(gpus)
            )
            self._series.setdefault("gpu_memory_used_mb", _Series()).add(
                sum(g.memory_used_mb for g in gpus)
            )
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> ResourceUsage:
        self._started = time.perf_counter()
        self._process.cpu_percent()  # the first reading only sets psutil's baseline
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="resource-usage", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self.duration_s = time.perf_counter() - self._started

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {
            "usage_duration_s": round(self.duration_s, 3),
            "usage_samples": float(self.samples),
        }
        for name, series in self._series.items():
            out.update(series.summary(name))
        if self._gpu_total_mb:
            out["gpu_memory_total_mb"] = self._gpu_total_mb
        return out

    def tags(self) -> dict[str, str]:
        gpus = ", ".join(self._gpu_names) if self._gpu_names else self.gpu_status
        return {"gpu": gpus}


def sample_dict(sample: HostSample) -> dict[str, Any]:
    """The whole sample as plain data (JSON-ready), e.g. for ``doctor --json``."""
    return asdict(sample)
