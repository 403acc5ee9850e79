"""The host the code runs on as a Dagster resource: which disks to watch and the overload limits
(from settings), sampled by the ``resource_monitor`` sensor."""

from __future__ import annotations

import dagster as dg

from crypto_assets.ops.monitor import HostSample, Thresholds, sample_host


class HostMonitor(dg.ConfigurableResource):
    disk_paths: list[str]
    interval_seconds: int = 60
    consecutive_samples: int = 3
    cpu_overload_percent: float = 95.0
    memory_overload_percent: float = 90.0
    disk_min_free_gb: float = 5.0
    gpu_memory_overload_percent: float = 95.0
    gpu_temperature_overload_c: float = 85.0

    def thresholds(self) -> Thresholds:
        return Thresholds(
            cpu_percent=self.cpu_overload_percent,
            memory_percent=self.memory_overload_percent,
            disk_min_free_gb=self.disk_min_free_gb,
            gpu_memory_percent=self.gpu_memory_overload_percent,
            gpu_temperature_c=self.gpu_temperature_overload_c,
        )

    def sample(self) -> HostSample:
        return sample_host(self.disk_paths)
