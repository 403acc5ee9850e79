"""History bootstrap from another exchange: ccxt's real Binance code over HTTP against a local
replay of REAL Binance daily candles; the result is its own labelled daily-only snapshot."""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crypto_assets.cli import app
from crypto_assets.market.bootstrap import (
    PURPOSE,
    BootstrapError,
    bootstrap_history,
    map_bases,
    universe_bases,
)
from crypto_assets.market.snapshot import read_snapshot
from crypto_assets.resources.market_source import ExchangeResource, SnapshotSource
from crypto_assets_tests.binance_replay_server import BinanceReplayServer, recorded_daily
from crypto_assets_tests.resources.helpers import replay_markets

LISTED = ["ARB/USDT", "BTC/USDT", "ETH/USDT"]
HALTED = "BETA/USDT"  # listed, but status BREAK in this replay's market list


def binance(server: BinanceReplayServer, **overrides: object) -> ExchangeResource:
    """An ExchangeResource on the Binance replay, spot markets only, fast retries."""
    config: dict[str, object] = {
        "exchange_id": "binance",
        "api_url": server.url,
        "market_types": ["spot"],
        "rate_limit_ms": 5,
        "backoff_base_s": 0.01,
        "max_retries": 1,
        "timeout_ms": 5000,
        "frozen_clock": server.now.isoformat(),
    }
    return ExchangeResource(**(config | overrides))


def expected_rows(symbols: list[str], since: str, now: pd.Timestamp) -> pd.DataFrame:
    """The recording's complete candles of ``symbols`` from ``since`` (read straight from it)."""
    frame = recorded_daily()
    keep = (
        frame["symbol"].isin(symbols)
        & (frame["date"] >= pd.Timestamp(since, tz="UTC"))
        & (frame["date"] + pd.Timedelta(days=1) <= now)
    )
    return frame.loc[keep].reset_index(drop=True)


def test_bootstrap_paginates_the_whole_window_into_a_labelled_snapshot(tmp_path: Path) -> None:
    with BinanceReplayServer(symbols=[*LISTED, HALTED], halted=[HALTED]) as server:
        summary = bootstrap_history(
            binance(server, ohlcv_limit=100),  # 100 per page: every coin needs 3 pages
            "binance",
            tmp_path / "boot",
            ["BTC", "ETH", "ARB", "BETA", "XMR"],
            bases_from="--bases",
            since="2017-01-01",
        )
        pages = server.count("/api/v3/klines")
    want = expected_rows(LISTED, "2017-01-01", server.now)
    assert len(want) > 700  # ~250 days per coin
    min_pages = sum(math.ceil(n / 100) for n in want.groupby("symbol").size())
    assert min_pages <= pages <= min_pages + len(LISTED)  # at most one empty page per coin

    written = pd.read_parquet(tmp_path / "boot" / "ohlcv_1d.parquet")
    assert set(written["source"]) == {"binance"}
    got = written.drop(columns="source").sort_values(["symbol", "date"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want[got.columns.tolist()], check_dtype=False)

    on_disk = json.loads((tmp_path / "boot" / "SOURCE.json").read_text())
    assert on_disk == json.loads(json.dumps(summary, default=str))
    assert on_disk["purpose"] == PURPOSE and on_disk["exchange"] == "binance"
    assert on_disk["fetched_at"] == server.now.isoformat()
    assert on_disk["since"].startswith("2017-01-01")
    assert on_disk["mapping"] == {"BTC": "BTC/USDT", "ETH": "ETH/USDT", "ARB": "ARB/USDT"}
    assert [row["base"] for row in on_disk["not_listed"]] == ["BETA", "XMR"]
    assert "not trading (status BREAK)" in on_disk["not_listed"][0]["reason"]
    assert on_disk["requests"] == pages and on_disk["failures"] == []
    assert on_disk["files"] == ["ohlcv_1d.parquet", "markets.parquet"]
    assert not (tmp_path / "boot" / "ohlcv_1h.parquet").exists()  # daily only

    frames = read_snapshot(tmp_path / "boot")  # the standard layout: any command can read it
    assert set(frames) == {"1d"} and len(frames["1d"]) == len(want)
    markets = SnapshotSource(snapshot_dir=str(tmp_path / "boot")).fetch_markets()
    assert markets["symbol"].tolist() == LISTED


def test_nothing_listed_or_no_candle_writes_nothing(tmp_path: Path) -> None:
    with BinanceReplayServer(symbols=LISTED) as server:
        with pytest.raises(BootstrapError, match="lists none of the 2 base coins"):
            bootstrap_history(
                binance(server), "binance", tmp_path / "a", ["XMR", "ZEC"], bases_from="--bases"
            )
        with pytest.raises(BootstrapError, match="served no daily candle"):
            bootstrap_history(
                binance(server),
                "binance",
                tmp_path / "b",
                ["BTC"],
                bases_from="--bases",
                since="2024-09-07",
            )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_default_bases_are_the_kraken_universe_mapped_by_unified_code() -> None:
    kraken = replay_markets("2026-01-12")  # ccxt's real Kraken parsing of a recorded listing
    bases = universe_bases(kraken, ["USD", "USDT", "USDC"])
    assert {"BTC", "ETH", "DOGE"} <= set(bases) and "XBT" not in bases and "XDG" not in bases
    with BinanceReplayServer() as server:
        listing = binance(server).fetch_markets()
    mapping, not_listed = map_bases(listing, bases, "usdt")
    assert mapping["BTC"] == "BTC/USDT" and mapping["DOGE"] == "DOGE/USDT"
    assert len(mapping) + len(not_listed) == len(bases)
    assert all(row["reason"] == f"no {row['base']}/USDT spot market" for row in not_listed)


def _cli(*args: str) -> object:
    return CliRunner().invoke(app, ["snapshot", "bootstrap", *args])


def test_cli_bootstrap_refusals_and_unreachable_exchange(
    tmp_path: Path, project_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_MAX_RETRIES", "0")  # a refused connection fails at once
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with BinanceReplayServer(symbols=LISTED) as server:
        refused = _cli(str(busy), "--bases", "BTC", "--api-url", server.url)
        assert server.requests == []  # refused before any request
    assert refused.exit_code == 2 and "is not empty: pass --overwrite" in refused.output
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    target = tmp_path / "never"
    down = _cli(str(target), "--bases", "BTC", "--api-url", closed)
    assert down.exit_code == 1
    assert down.output.strip().count("\n") == 0 and "Binance cannot be reached" in down.output
    assert not target.exists()

    for bad in (["--exchange", "nosuchexchange"], ["--since", "yesterday-ish"], ["--bases", ","]):
        assert _cli(str(tmp_path / "x"), *bad).exit_code == 2
    assert _cli(str(tmp_path / "x"), "--exchange", "kraken", "--bases", "BTC").exit_code == 2
    assert not (tmp_path / "x").exists()


def test_cli_bootstrap_then_backtest_on_the_daily_only_folder(
    tmp_path: Path, project_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    coins = ["ARB/USDT", "AVAX/USDT", "BTC/USDT", "DOGE/USDT", "ETH/USDT", "SOL/USDT"]
    out = tmp_path / "deep"
    with BinanceReplayServer(symbols=coins) as server:
        args = ["--bases", "btc,eth,arb,avax,doge,sol,xmr", "--since", "2024-01-01"]
        result = _cli(str(out), *args, "--api-url", server.url)
        pages = server.count("/api/v3/klines")
    assert result.exit_code == 3, result.output  # XMR is not on the replayed Binance
    assert "not on binance as BASE/USDT: XMR" in result.output
    assert pages == 2 * len(coins)  # Binance's 1000 per page: one page, then an empty one
    info = json.loads((out / "SOURCE.json").read_text())
    assert sorted(info["symbols"]) == coins and info["bases_from"] == "--bases"
    with BinanceReplayServer(symbols=coins) as server:
        again = _cli(str(out), "--bases", "BTC", "--overwrite", "--api-url", server.url)
    assert again.exit_code == 0, again.output
    assert set(pd.read_parquet(out / "ohlcv_1d.parquet")["symbol"]) == {"BTC/USDT"}
    with BinanceReplayServer(symbols=coins) as server:
        assert _cli(str(out), *args, "--overwrite", "--api-url", server.url).exit_code == 3

    monkeypatch.setenv("CRYPTO_ASSETS_MODEL_FAMILIES", "lightgbm")
    monkeypatch.setenv("CRYPTO_ASSETS_MODEL_TUNING_SECONDS", "0")
    monkeypatch.setenv("CRYPTO_ASSETS_MODEL_N_ESTIMATORS", "60")
    backtest = CliRunner().invoke(
        app, ["backtest", "--snapshot", str(out), "--horizons", "7d", "--json", "--no-onchain"]
    )
    assert backtest.exit_code == 0, backtest.output
    payload = json.loads(backtest.stdout)
    assert payload["horizons"]["7d"]["n_folds"] >= 1
    assert payload["horizons"]["7d"]["n_predictions"] > 0
