"""Feature assets: technical features, realised labels, and the model-ready feature table.

Features and labels are computed from the stored clean candles, reading only the look-back
(features) or look-ahead (labels) a partition needs, so a daily run costs the same whatever the
stored history, and a daily run, a backfill and the whole history give identical numbers.
"""

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import Partitions
from crypto_assets.features.external import SENTIMENT_COLUMNS, asof_join_sentiment
from crypto_assets.features.indicators import lookback
from crypto_assets.features.labels import forward_returns
from crypto_assets.features.pipeline import (
    FEATURE_SET,
    build_feature_frame,
    feature_names,
    feature_set_id,
)
from crypto_assets.frames import pin_dtypes, utc, utc_columns
from crypto_assets.horizons import (
    HORIZON_NAMES,
    LABEL_LOOKAHEAD_DAYS,
    TIMEFRAMES,
    days_covering,
    label_lookahead,
)
from crypto_assets.market.schemas import to_canonical
from crypto_assets.onchain.features import (
    ONCHAIN_LOOKBACK,
    asof_join_onchain,
    onchain_feature_coverage,
)
from crypto_assets.onchain.source import data_rows
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets.social.features import TEXT_FEATURES, asof_join_text_signals

FEATURES_GROUP = "features"
TEXT_COLUMNS = ("symbol", "timeframe")


FEATURE_COLUMNS = sorted({c for tf in TIMEFRAMES for c in feature_names(tf)})
LABEL_COLUMNS = [c for h in HORIZON_NAMES for c in (f"fwd_ret_{h}", f"label_end_{h}")]
# on-chain tables the feature table joins as of each candle (read with ONCHAIN_LOOKBACK)
ONCHAIN_TABLES = ("network_activity", "whale_transfers", "exchange_flows", "holder_concentration")


def clean_candles(
    duckdb: DuckDBStore, timeframe: str, start: object = None, end: object = None
) -> pd.DataFrame:
    """Stored clean candles of one timeframe with open time in ``[start, end)`` (unbounded
    where None), canonical."""
    where, params = ["timeframe = ?"], [timeframe]
    for op, bound in ((">=", start), ("<", end)):
        if bound is not None:
            where.append(f"date {op} ?")
            params.append(utc(bound).to_pydatetime())
    frame = duckdb.read_table("clean_ohlcv", " and ".join(where), params)
    return to_canonical(frame) if len(frame) else frame


def technical_features(context: dg.AssetExecutionContext, duckdb: DuckDBStore) -> dg.Output:
    """Per coin per candle (both timeframes): returns, RSI, MACD, EMA distances, OBV slope, ATR,
    volatility, Bollinger width, volume z-scores, range, drawdown, listing age, on daily candles
    the return profile and the risk factors (beta, idiosyncratic volatility, skewness, largest
    day, illiquidity), their cross-sectional ranks, and the market regime (trend, breadth,
    dispersion, volatility, Bitcoin's trend: the same for every coin of a time; see
    ``features.pipeline``). Each partition reads only the look-back its longest indicator needs
    (``lookback(timeframe)``), and gives exactly the numbers the whole history would (tested);
    only candles at or before each row's time are used (tested)."""
    window = context.partition_time_window
    start = utc(window.start)
    parts = []
    for timeframe in TIMEFRAMES:
        candles = clean_candles(duckdb, timeframe, start - lookback(timeframe), window.end)
        if candles.empty:
            continue
        features = build_feature_frame(
            candles,
            timeframe,
            start=start,
            first_candle=duckdb.first_candle_by_symbol(timeframe),
        )
        # each row says which feature set computed it (``features.pipeline.feature_set_id``)
        parts.append(
            features.assign(timeframe=timeframe, **{FEATURE_SET: feature_set_id(timeframe)})
        )
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    frame = pin_dtypes(
        frame,
        ["symbol", "date", "timeframe", FEATURE_SET, *FEATURE_COLUMNS],
        times=("date",),
        texts=(*TEXT_COLUMNS, FEATURE_SET),
    )
    return dg.Output(
        frame,
        metadata={
            "rows": len(frame),
            "coins": int(frame["symbol"].nunique()),
            "features": len(FEATURE_COLUMNS),
            "first": str(frame["date"].min()) if len(frame) else "-",
            "last": str(frame["date"].max()) if len(frame) else "-",
            "lookback": ", ".join(f"{tf}: {lookback(tf)}" for tf in TIMEFRAMES),
            "feature_set": ", ".join(f"{tf}: {feature_set_id(tf)}" for tf in TIMEFRAMES),
        },
    )


def labels(
    context: dg.AssetExecutionContext, settings: PipelineSettings, duckdb: DuckDBStore
) -> dg.Output:
    """Realised NET forward returns (1h, 24h, 7d, 30d; the configured round-trip cost deducted)
    per coin and candle. A partition reads its own candles and those of the look-ahead only
    (the longest horizon plus its exit candle); a horizon that has not fully passed is null,
    so re-materializing a partition later fills it (the labels schedule does)."""
    window = context.partition_time_window
    cost = settings.round_trip_cost
    parts = []
    for timeframe in TIMEFRAMES:
        until = utc(window.end) + label_lookahead(timeframe)
        candles = clean_candles(duckdb, timeframe, window.start, until)
        if candles.empty:
            continue
        returns = forward_returns(candles, timeframe, round_trip_cost=cost)
        in_window = (returns["date"] >= utc(window.start)) & (returns["date"] < utc(window.end))
        parts.append(returns[in_window].assign(timeframe=timeframe))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    label_ends = tuple(c for c in LABEL_COLUMNS if c.startswith("label_end_"))
    frame = pin_dtypes(
        frame,
        ["symbol", "date", "timeframe", *LABEL_COLUMNS],
        times=("date", *label_ends),
        texts=TEXT_COLUMNS,
    )
    known = {h: int(frame[f"fwd_ret_{h}"].notna().sum()) for h in HORIZON_NAMES}
    return dg.Output(
        frame,
        metadata={
            "rows": len(frame),
            "round_trip_cost": cost,
            **{f"known_{h}": n for h, n in known.items()},
        },
    )


def feature_table(
    context: dg.AssetExecutionContext, technical_features: pd.DataFrame, duckdb: DuckDBStore
) -> dg.Output:
    """One row per coin per timestamp: technical features plus, by as-of join, market-wide text
    sentiment of the preceding 24 hours, the coin's own text signals (``text_*`` columns from
    ``coin_text_signals``: day D's mentions, sentiment and authors from D+1 00:00 UTC on) and
    the on-chain features public at the row's candle close (network metrics of day D only after
    D ends; whale transfers at their block time; see ``onchain.features``): only what was public
    when the row is known. A source without data leaves its columns null, it does not fail the
    table.

    The ``text_*`` and on-chain columns are stored for inspection and later use; the models do
    NOT use them: their inputs are ``features.pipeline.feature_names`` (technical and regime
    features only), because on the recorded data text, on-chain data and candles barely overlap
    and showed no rank-IC gain (``benchmarks/README.md``, "Text signals in the models" and
    "On-chain sources")."""
    window = context.partition_time_window
    frame = utc_columns(technical_features, "date")
    texts = duckdb.read_table("text_sentiment")
    frame = asof_join_sentiment(frame, texts, TIMEFRAMES)
    # a row known at t uses day floor(t) - 1: the day before the window's first day and on
    signals = duckdb.read_window(
        "coin_text_signals", "day", utc(window.start) - pd.Timedelta(days=1), window.end
    )
    frame = asof_join_text_signals(frame, signals, TIMEFRAMES)
    onchain = {
        table: data_rows(
            duckdb.read_window(table, "day", utc(window.start) - ONCHAIN_LOOKBACK, window.end)
        )
        for table in ONCHAIN_TABLES
    }
    frame = asof_join_onchain(
        frame,
        TIMEFRAMES,
        network=onchain["network_activity"],
        whales=onchain["whale_transfers"],
        flows=onchain["exchange_flows"],
        holders=onchain["holder_concentration"],
    )
    covered = int(frame["sentiment_count_24h"].gt(0).sum()) if len(frame) else 0
    with_text = int(frame["text_mentions"].gt(0).sum()) if len(frame) else 0
    return dg.Output(
        frame,
        metadata={
            "rows": len(frame),
            "coins": int(frame["symbol"].nunique()) if len(frame) else 0,
            "rows_with_sentiment": covered,
            "sentiment_columns": ", ".join(SENTIMENT_COLUMNS),
            **onchain_feature_coverage(frame),
            "rows_with_coin_mentions": with_text,
            "text_columns": ", ".join(TEXT_FEATURES.values()) + " (stored, not model inputs)",
        },
    )


def build_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """The feature assets on the code location's daily partitions."""
    daily = {
        "group_name": FEATURES_GROUP,
        "partitions_def": partitions.daily,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "metadata": {"partition_expr": "date"},
    }
    lookahead = dg.TimeWindowPartitionMapping(
        start_offset=0, end_offset=LABEL_LOOKAHEAD_DAYS, allow_nonexistent_upstream_partitions=True
    )
    lookback_days = max(days_covering(lookback(tf)) for tf in TIMEFRAMES)
    look_back = dg.TimeWindowPartitionMapping(
        start_offset=-lookback_days, end_offset=0, allow_nonexistent_upstream_partitions=True
    )
    onchain_back = dg.TimeWindowPartitionMapping(
        start_offset=-days_covering(ONCHAIN_LOOKBACK),
        end_offset=0,
        allow_nonexistent_upstream_partitions=True,
    )
    day_before = dg.TimeWindowPartitionMapping(
        start_offset=-1, end_offset=0, allow_nonexistent_upstream_partitions=True
    )
    return [
        dg.asset(
            deps=[dg.AssetDep("clean_ohlcv", partition_mapping=look_back)],
            kinds={"numpy", "duckdb"},
            **daily,
        )(technical_features),
        dg.asset(
            deps=[dg.AssetDep("clean_ohlcv", partition_mapping=lookahead)],
            kinds={"duckdb"},
            **daily,
        )(labels),
        # text_sentiment, coin_text_signals and the on-chain tables are read from storage, not
        # loaded as inputs: before their first run there is no table, and the join leaves nulls.
        dg.asset(
            deps=[
                "text_sentiment",
                dg.AssetDep("coin_text_signals", partition_mapping=day_before),
                *(dg.AssetDep(t, partition_mapping=onchain_back) for t in ONCHAIN_TABLES),
            ],
            kinds={"duckdb"},
            **daily,
        )(feature_table),
    ]
