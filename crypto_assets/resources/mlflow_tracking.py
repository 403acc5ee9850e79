"""MLflow as a Dagster resource (key ``mlflow_tracking``): local sqlite store + ``mlruns/`` by
default, a server URI in production, chosen by configuration only."""

from __future__ import annotations

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from crypto_assets.ml import registry


class MlflowTracking(ConfigurableResource):
    tracking_uri: str
    artifact_root: str

    _configured: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.configure()

    def configure(self) -> None:
        registry.configure_tracking(self.tracking_uri, self.artifact_root)
        self._configured = True

    def experiment_id(self, name: str) -> str:
        if not self._configured:
            self.configure()
        return registry.ensure_experiment(name, self.artifact_root)
