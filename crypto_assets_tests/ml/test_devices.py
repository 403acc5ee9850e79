"""GPU paths through their fallbacks (CI and this machine have no GPU: these tests prove that a
request for CUDA trains on the CPU and SAYS so; they do not prove training on a GPU works)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch
import xgboost as xgb

from crypto_assets.ml.estimators import make_estimator, recurrent
from crypto_assets.ml.estimators import xgboost as xgb_family


@pytest.fixture(autouse=True)
def _fresh_probes():
    xgb_family.xgboost_device.cache_clear()
    recurrent.torch_device.cache_clear()
    yield
    xgb_family.xgboost_device.cache_clear()
    recurrent.torch_device.cache_clear()


def test_xgboost_without_cuda_trains_on_the_cpu_and_logs_why(caplog) -> None:
    caplog.set_level(logging.INFO, logger="crypto_assets.ml.estimators.xgboost")
    assert not xgb.build_info().get("USE_CUDA")  # the pinned xgboost-cpu wheel
    assert xgb_family.xgboost_device() == "cpu"
    assert "no CUDA" in caplog.text
    estimator = make_estimator("xgboost", {"n_estimators": 2, "n_seeds": 1}, device="cuda")
    assert estimator.device == "cpu"
    assert "cuda requested but none is usable" in caplog.text


def test_xgboost_probe_reads_the_device_xgboost_really_used(monkeypatch, caplog) -> None:
    """A CUDA build on a machine without a GPU: XGBoost silently falls back to the CPU, and the
    probe must notice from the trained booster's own configuration (the build flag is faked;
    the tiny fit and XGBoost's fallback are real)."""
    caplog.set_level(logging.INFO, logger="crypto_assets.ml.estimators.xgboost")
    monkeypatch.setattr(xgb, "build_info", lambda: {"USE_CUDA": True})
    assert xgb_family.xgboost_device() == "cpu"
    assert "no GPU answered" in caplog.text


def test_torch_without_a_gpu_trains_the_sequence_family_on_the_cpu(caplog) -> None:
    caplog.set_level(logging.INFO, logger="crypto_assets.ml.estimators.recurrent")
    assert not torch.cuda.is_available()
    assert recurrent.torch_device() == "cpu"
    assert "no CUDA device" in caplog.text
    estimator = make_estimator("rnn", {"hidden": 4, "length": 2, "max_epochs": 1}, "cuda")
    assert estimator.device == "cpu"
    assert "torch sees none" in caplog.text
    with recurrent._cudnn_off("cuda"):  # the switch SHAP needs on a GPU is harmless here
        assert not torch.backends.cudnn.enabled
    assert torch.backends.cudnn.enabled


def test_a_requested_cpu_stays_on_the_cpu() -> None:
    frame = pd.DataFrame(
        {
            "symbol": ["A"] * 40 + ["B"] * 40,
            "date": list(pd.date_range("2024-01-01", periods=40, freq="D", tz="UTC")) * 2,
            "x": np.r_[np.linspace(0, 1, 40), np.linspace(1, 0, 40)],
        }
    )
    frame["y_rank"] = frame.groupby("date")["x"].rank(pct=True)
    frame["y_up"] = (frame["x"] > 0.5).astype(float)
    for family in ("xgboost", "rnn"):
        params = {"n_seeds": 1, "max_epochs": 1} if family == "rnn" else {"n_estimators": 2}
        estimator = make_estimator(family, params, "cpu")
        estimator.fit(frame, ["x"])
        assert estimator.device == "cpu" and estimator.params()["device"] == "cpu"
