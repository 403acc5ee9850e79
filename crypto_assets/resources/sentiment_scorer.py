"""The sentiment scorer as a resource, so assets get it from configuration (MLflow champion, or a
local Hugging Face classifier) instead of reading settings themselves."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from pydantic import PrivateAttr

from crypto_assets.ml import registry
from crypto_assets.sentiment.model import ModelNotAvailableError, SentimentScorer
from crypto_assets.sentiment.tracking import NoChampionError, load_champion

log = logging.getLogger(__name__)


class SentimentScorerResource(ConfigurableResource):
    tracking_uri: str
    artifact_root: str
    models_dir: str
    hf_model: str | None = None
    label_map: dict[str, str] | None = None
    device: str = "auto"
    batch_size: int = 64

    _scorer: SentimentScorer | None = PrivateAttr(default=None)

    def load(self) -> tuple[SentimentScorer | None, str]:
        """(scorer, "") or (None, why not): no trained model is a reason, not a crash, so text
        signals still carry volumes and events with sentiment left null."""
        if self._scorer is not None:
            return self._scorer, ""
        try:
            if self.hf_model:
                self._scorer = SentimentScorer.load(
                    self.hf_model,
                    device=self.device,
                    batch_size=self.batch_size,
                    label_map=self.label_map,
                )
            else:
                registry.configure_tracking(self.tracking_uri, Path(self.artifact_root))
                self._scorer = load_champion(
                    Path(self.models_dir), device=self.device, batch_size=self.batch_size
                )
        except (NoChampionError, ModelNotAvailableError) as exc:
            log.warning("no sentiment scorer: %s", exc)
            return None, str(exc)
        return self._scorer, ""


def sentiment_scorer_resource(settings: Any) -> SentimentScorerResource:
    """The scorer resource for ``settings`` (a ``crypto_assets.settings.Settings``)."""
    return SentimentScorerResource(
        tracking_uri=settings.mlflow_tracking_uri,
        artifact_root=str(settings.mlflow_artifact_root),
        models_dir=str(Path(settings.data_dir) / "models" / "sentiment"),
        hf_model=settings.sentiment_hf_model,
        label_map=settings.sentiment_label_map,
        device=settings.sentiment_device,
        batch_size=settings.sentiment_batch_size,
    )
