"""One status for an asset fed by several sources and days: what its ``source_status`` check
reports, in the house's shape (``sources.SourceStatus``), so alerting reads it like any source."""

from __future__ import annotations

import pandas as pd
import pytest

from crypto_assets.defs.onchain.assets import status_check
from crypto_assets.onchain.source import (
    combined_status,
    conform,
    data_rows,
    status_row,
    status_rows,
    stored_frame,
)
from crypto_assets.sources import SourceStatus

T0 = pd.Timestamp("2024-01-02", tz="UTC")


def _status(source: str, status: str, rows: int = 0, reason: str = "") -> SourceStatus:
    return SourceStatus(source, status, reason, T0, rows)


def test_no_failure_is_ok_or_replay() -> None:
    replay = combined_status([_status("a", "replay", 2), _status("b", "replay", 1)], "x")
    assert (replay.status, replay.rows, replay.reason) == ("replay", 3, "")
    assert combined_status([_status("a", "replay"), _status("b", "ok")], "x").status == "ok"


@pytest.mark.parametrize(
    ("statuses", "worst"),
    [
        (["ok", "no_key"], "no_key"),
        (["no_key", "unavailable", "replay"], "unavailable"),
        (["unavailable", "error", "no_key"], "error"),
    ],
)
def test_the_worst_failure_names_the_status(statuses: list[str], worst: str) -> None:
    rows = [_status(f"s{i}", s, reason=f"why {i}") for i, s in enumerate(statuses)]
    combined = combined_status(rows, "x")
    assert combined.status == worst and not combined.usable
    failed = [f"s{i}: {s} (why {i})" for i, s in enumerate(statuses) if s not in ("ok", "replay")]
    assert combined.reason == "; ".join(failed)  # every failed source, never hidden
    assert combined.source == ", ".join(f"s{i}" for i in range(len(statuses)))


def test_nothing_asked_is_an_error() -> None:
    assert combined_status([], "whale_transfers").status == "error"


def test_the_check_carries_the_status_alerting_reads() -> None:
    result = status_check("whale_transfers", [_status("a", "replay"), _status("b", "no_key")])
    assert result.check_name == "source_status" and not result.passed
    assert result.metadata["status"].value == "no_key"  # not ok/replay: a source outage
    assert "b: no_key" in result.metadata["reason"].value
    ok = status_check("network_activity", [_status("a", "replay", 3)])
    assert ok.passed and ok.metadata["status"].value == "replay"


def test_stored_frame_keeps_data_and_status_rows_apart() -> None:
    schema = {"coin": "text", "value": "float", "flag": "bool", "source": "text", "as_of": "time"}
    data = pd.DataFrame({"coin": ["BTC"], "value": [1.5], "flag": [True], "source": ["a"]})
    frame = stored_frame(data.assign(as_of=T0), [_status("a", "replay", 1)], schema, T0)
    assert frame["row_kind"].tolist() == ["data", "status"]
    assert data_rows(frame)["value"].tolist() == [1.5]
    assert status_rows(frame).iloc[0].to_dict() | {"as_of": T0} == status_row(
        _status("a", "replay", 1)
    ) | {"rows": 1.0}
    empty = conform(pd.DataFrame(), schema)
    assert list(empty.columns) == list(schema) and str(empty["flag"].dtype) == "boolean"
