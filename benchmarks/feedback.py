"""Cost of one daily partition of the feedback loop's domain work, against the labels the daily
job computes anyway (the reference, measured in the same run).

Run from the repository root:

    .venv/bin/python benchmarks/feedback.py [--repeats 3] [--scale 1]

On the real Binance candles (../shared/data/market/binance_2024, 136 coins, hourly and daily)
it times, for the day 2024-06-30:

* reference: ``forward_returns`` over the 41 days of hourly + daily candles that day's outcome
  look-back covers (what the ``labels`` asset computes for those days);
* ``record_outcomes``: every prediction of the 40-day look-back (4 horizons x coins x days)
  joined to those labels, against a log already holding the earlier days' outcomes;
* ``model_health``: every horizon's rolling window (defaults: 14 / 30 / 60 / 90 days) of
  outcomes, all figures and the reliability curve;
* ``feature_psi``: the hourly features of a 90-day training window (sampled to the default
  200,000 rows, as the asset reads it) against a 30-day live window, with the baseline blocks.

Predictions come from a stated rule on the real candles (expected return = the coin's trailing
return over the horizon, probability = its percentile rank that day): timing input only, not a
model. ``--scale`` repeats the coins under new symbols ("BTC/USDT#2") to show how the cost grows
with the universe (~730 coins at 5x): a scale test, not more market data. Prints a table.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto_assets.features.indicators import add_cross_sectional_ranks, build_technical_features
from crypto_assets.features.labels import forward_returns
from crypto_assets.feedback.drift import feature_psi
from crypto_assets.feedback.health import model_health
from crypto_assets.feedback.outcomes import latest_outcomes, record_outcomes
from crypto_assets.feedback.policy import FeedbackPolicy
from crypto_assets.horizons import HORIZON_NAMES, HORIZONS, TIMEFRAMES
from crypto_assets.settings import SHARED_DATA_DIR, Settings

SNAPSHOT = SHARED_DATA_DIR / "market" / "binance_2024"
COLUMNS = ["symbol", "date", "open", "high", "low", "close", "volume"]
DAY = pd.Timestamp("2024-06-30", tz="UTC")
UTC_DAY = pd.Timedelta(days=1)


def candles(timeframe: str, start: pd.Timestamp, end: pd.Timestamp, scale: int) -> pd.DataFrame:
    frame = pd.read_parquet(SNAPSHOT / f"ohlcv_{timeframe}.parquet", columns=COLUMNS)
    frame = frame[(frame["date"] >= start) & (frame["date"] < end)]
    copies = [frame] + [
        frame.assign(symbol=frame["symbol"].astype(str) + f"#{k}") for k in range(2, scale + 1)
    ]
    return pd.concat(copies, ignore_index=True)


def labels_for(by_tf: dict[str, pd.DataFrame]) -> pd.DataFrame:
    parts = [forward_returns(c, tf).assign(timeframe=tf) for tf, c in by_tf.items()]
    return pd.concat(parts, ignore_index=True)


def rule_predictions(by_tf: dict[str, pd.DataFrame], first: pd.Timestamp) -> pd.DataFrame:
    """One prediction per coin, horizon and day from the day's last candle (as the
    ``predictions`` asset picks it)."""
    parts = []
    for name, horizon in HORIZONS.items():
        frame = by_tf[horizon.timeframe].sort_values(["symbol", "date"])
        bars = horizon.bars
        frame = frame.assign(
            momentum=frame.groupby("symbol")["close"].pct_change(bars),
            day=frame["date"].dt.floor("D"),
        )
        last = frame[(frame["day"] >= first) & frame["momentum"].notna()]
        last = last[last["date"] == last.groupby(["symbol", "day"])["date"].transform("max")]
        parts.append(
            pd.DataFrame(
                {
                    "day": last["day"],
                    "symbol": last["symbol"],
                    "horizon": name,
                    "as_of": last["date"] + TIMEFRAMES[horizon.timeframe],
                    "expected_return": last["momentum"],
                    "probability": last.groupby("day")["momentum"].rank(pct=True),
                    "model_version": "1",
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def best(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def run(repeats: int, scale: int) -> list[tuple[str, int, float]]:
    policy = FeedbackPolicy.from_settings(Settings(_env_file=None))
    first = DAY - pd.Timedelta(days=policy.outcome_lookback_days)
    history_start = first - pd.Timedelta(days=95)  # health windows + momentum look-back
    by_tf = {tf: candles(tf, history_start, DAY + UTC_DAY, scale) for tf in ("1h", "1d")}
    look_back = {tf: c[c["date"] >= first] for tf, c in by_tf.items()}
    rows = []
    t_ref, labels = best(lambda: labels_for(look_back), repeats)
    rows.append(
        ("reference: forward_returns, 41 days 1h + 1d", sum(map(len, look_back.values())), t_ref)
    )

    all_labels = labels_for(by_tf)
    predictions = rule_predictions(by_tf, history_start + pd.Timedelta(days=31))
    earlier = record_outcomes(
        predictions,
        all_labels,
        pd.DataFrame(),
        start=history_start,
        end=DAY,
        recorded_at=DAY,
    )
    in_look_back = predictions[predictions["day"] >= first]
    t_rec, _ = best(
        lambda: record_outcomes(
            in_look_back, labels, earlier, start=DAY, end=DAY + UTC_DAY, recorded_at=DAY
        ),
        repeats,
    )
    rows.append(("record_outcomes (one day, 40-day look-back)", len(in_look_back), t_rec))

    latest = latest_outcomes(earlier)
    t_health, _ = best(
        lambda: model_health(
            latest,
            pd.DataFrame(),
            day=DAY,
            policy=policy,
            versions=dict.fromkeys(HORIZON_NAMES, "1"),
        ),
        repeats,
    )
    rows.append(("model_health (4 horizons, rolling windows)", len(latest), t_health))

    features = add_cross_sectional_ranks(build_technical_features(by_tf["1h"], "1h"))
    names = [c for c in features.columns if c not in ("symbol", "date")]
    live = features[features["date"] >= DAY + UTC_DAY - pd.Timedelta(days=policy.psi_live_days)]
    training = features[features["date"] < DAY + UTC_DAY - pd.Timedelta(days=policy.psi_live_days)]
    training = training.sample(
        min(len(training), policy.psi_reference_max_rows), random_state=7
    ).sort_values("date")
    t_psi, _ = best(
        lambda: feature_psi(training, live, names, policy.psi_bins, policy.psi_live_days),
        repeats,
    )
    rows.append((f"feature_psi (1h, {len(names)} features)", len(training) + len(live), t_psi))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=int, default=1)
    args = parser.parse_args()
    rows = run(args.repeats, args.scale)
    reference = rows[0][2]
    print(f"scale {args.scale} ({136 * args.scale} coins), best of {args.repeats}\n")
    print("| step | rows in | seconds | x reference |")
    print("|---|---|---|---|")
    for name, n, seconds in rows:
        print(f"| {name} | {n:,} | {seconds:.3f} | {seconds / reference:.2f} |")


if __name__ == "__main__":
    main()
