"""The status row every source fetch gives (the shape later text / on-chain sources share)."""

from __future__ import annotations

import pandas as pd
import pytest

from crypto_assets.market.source import FetchResult, empty_candles, failures_frame
from crypto_assets.sources import STATUS_COLUMNS, SourceStatus, status_frame

AS_OF = pd.Timestamp("2024-09-06", tz="UTC")


def _result(requests: int, failures: int, notes: list[str] | None = None) -> FetchResult:
    rows = [(f"C{i}/USD", "BadSymbol", "unknown") for i in range(failures)]
    return FetchResult(empty_candles(), failures_frame(rows), requests, AS_OF, "src", notes or [])


def test_fetch_status_replay_ok_and_error() -> None:
    assert _result(0, 0).status(3).status == "replay"
    live = _result(5, 1, ["Kraken serves 720 candles"]).status(3)
    assert (live.status, live.usable) == ("ok", True)
    assert live.reason == "1 of 3 symbols failed; Kraken serves 720 candles"
    broken = _result(3, 3).status(3)
    assert (broken.status, broken.usable) == ("error", False)


def test_status_frame_is_typed_and_statuses_are_checked() -> None:
    frame = SourceStatus("reddit", "no_key", "no API key set", AS_OF, 0).frame()
    assert list(frame.columns) == STATUS_COLUMNS
    assert str(frame["as_of"].dtype) == "datetime64[ns, UTC]" and frame["rows"].iloc[0] == 0
    assert list(status_frame([]).columns) == STATUS_COLUMNS
    with pytest.raises(ValueError, match="not one of"):
        SourceStatus("x", "fine", "", AS_OF, 0)
