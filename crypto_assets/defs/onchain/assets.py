"""On-chain assets: coin contracts, whale transfers and exchange flows (holders, networks and the
coverage report are in ``activity.py``), one daily partition each.

Thin by design: resources fetch (live APIs or replays of recorded real files, through the
contracts in ``crypto_assets.onchain.source``), pure functions in ``crypto_assets.onchain``
decide, the DuckDB IO manager stores. Every table keeps its data rows and one status row per
source and day (``row_kind``), so a source without a key or network shows up as a status row
and a failed WARN ``source_status`` check (``defs.checks.source_status_check``), never as
invented rows. A single-run backfill covers many days: each asset works day by day in the run.
"""

from collections.abc import Iterator, Sequence

import dagster as dg
import pandas as pd

from crypto_assets.defs.checks import source_status_check
from crypto_assets.defs.partitions import partition_days
from crypto_assets.onchain.contracts import (
    CONTRACT_SCHEMA,
    base_coins,
    contract_lookup,
    map_universe,
)
from crypto_assets.onchain.flows import FLOW_SCHEMA, exchange_flows
from crypto_assets.onchain.source import (
    GOOD_STATUSES,
    CoinListSource,
    OnchainResult,
    SourceStatus,
    TransferSource,
    attempt,
    combined_status,
    data_rows,
    now_utc,
    status_row,
    status_rows,
    stored_parts,
    stored_table,
)
from crypto_assets.onchain.transfers import (
    LABELLED_SCHEMA,
    TRANSFER_SCHEMA,
    classify_whales,
    daily_closes_from_candles,
    map_token_coins,
    price_transfers,
)
from crypto_assets.resources.address_labels import AddressLabelsResource
from crypto_assets.resources.onchain import OnchainConfig
from crypto_assets.resources.storage import DuckDBStore

ONCHAIN_GROUP = "onchain"
DAY = pd.Timedelta(days=1)
STATUS_CHECK = "source_status"
TRANSFERS = dg.ResourceParam[TransferSource]
COIN_LIST = dg.ResourceParam[CoinListSource]


class CoinContractsConfig(dg.Config):
    coins: list[str] | None = None  # None: each day's universe from exchange_markets


def window_days(context: dg.AssetExecutionContext) -> list[pd.Timestamp]:
    return partition_days(context.partition_time_window)


def check_spec(name: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        STATUS_CHECK,
        asset=name,
        description="Every on-chain source answered for every day (live or a recording); a "
        "failure names the worst status and every failed source with its reason.",
    )


def status_check(name: str, statuses: Sequence[SourceStatus]) -> dg.AssetCheckResult:
    """The house's WARN source check over every source and day of the run (metadata
    ``status`` is ok/replay only when no source failed: alerting reads it as an outage)."""
    return source_status_check(STATUS_CHECK, combined_status(statuses, name))


def asset_metadata(
    frame: pd.DataFrame, statuses: Sequence[SourceStatus], preview: list[str], coverage: str
) -> dict[str, object]:
    """What a user reads in the UI: rows, coverage, sources and their status, as-of, a preview."""
    data = data_rows(frame)
    table = pd.DataFrame([status_row(s) for s in statuses])
    table = table.drop_duplicates(["source", "status"]) if len(table) else table
    return {
        "rows": len(data),
        "status_rows": len(statuses),
        "coverage": coverage,
        "source": ", ".join(sorted({s.source for s in statuses})) or "-",
        "source_status": dg.MetadataValue.md(table.to_markdown(index=False) if len(table) else "-"),
        "as_of": max(str(s.as_of) for s in statuses) if statuses else "-",
        "preview": dg.MetadataValue.md(
            data[preview].head(20).to_markdown(index=False) if len(data) else "no data rows"
        ),
    }


def coins_covered(frame: pd.DataFrame, what: str) -> str:
    """``"N coins with <what>: A, B"`` over the data rows (the coverage line of a table)."""
    data = data_rows(frame)
    coins = sorted(data["coin"].dropna().astype(str).unique()) if len(data) else []
    return f"{len(coins)} coins with {what}" + (f": {', '.join(coins[:30])}" if coins else "")


def _universe(duckdb: DuckDBStore, day: pd.Timestamp, coins: list[str] | None) -> list[str]:
    if coins:
        return sorted({c.upper() for c in coins})
    markets = duckdb.read_table("exchange_markets", "day = ?", [day.to_pydatetime()])
    if markets.empty:
        return []
    return base_coins(markets.loc[markets["in_universe"].astype(bool), "symbol"])


def coin_contracts(
    context: dg.AssetExecutionContext,
    config: CoinContractsConfig,
    coin_list: COIN_LIST,
    duckdb: DuckDBStore,
) -> Iterator:
    """Which universe coins have which contracts on which chains (CoinGecko's coin list with
    platforms; native coins by protocol), and how each mapping was made."""
    fetched = attempt(coin_list.describe(), coin_list.fetch_coin_list, CONTRACT_SCHEMA, now_utc())
    listed = fetched.frame if fetched.status.status in GOOD_STATUSES else None
    frames, mapped = [], pd.DataFrame()
    for day in window_days(context):
        coins = _universe(duckdb, day, config.coins)
        mapped = map_universe(coins, listed, source=fetched.source, as_of=fetched.as_of)
        frames += stored_parts(mapped, [fetched.status], day)
    frame = stored_table(frames, CONTRACT_SCHEMA)
    universe = mapped["coin"].nunique() if len(mapped) else 0
    located = mapped.dropna(subset=["chain"])["coin"].nunique() if len(mapped) else 0
    matches = mapped.drop_duplicates("coin")["match"].value_counts() if len(mapped) else {}
    coverage = f"{located} of {universe} universe coins have a known chain"
    preview = ["coin", "chain", "contract", "match"]
    yield dg.Output(
        frame,
        metadata={
            **asset_metadata(frame, [fetched.status], preview, coverage),
            "universe": int(universe),
            "matches": dg.MetadataValue.json({str(k): int(v) for k, v in dict(matches).items()}),
        },
    )
    yield status_check("coin_contracts", [fetched.status])


def _fetch_transfers(
    context: dg.AssetExecutionContext,
    sources: Sequence[TransferSource],
    start: pd.Timestamp,
    watch: pd.DataFrame,
    floor: float,
) -> list[OnchainResult]:
    results = [
        attempt(
            source.describe(),
            lambda s=source: s.fetch_transfers(start, start + DAY, floor, watch),
            TRANSFER_SCHEMA,
            now_utc(),
        )
        for source in sources
    ]
    for r in results:
        for note in r.notes:
            context.log.info(f"{r.source}: {note}")
    return results


def whale_transfers(
    context: dg.AssetExecutionContext,
    coin_contracts: pd.DataFrame,
    onchain_config: OnchainConfig,
    address_labels: AddressLabelsResource,
    whale_alert: TRANSFERS,
    etherscan: TRANSFERS,
    bitcoin_explorer: TRANSFERS,
    duckdb: DuckDBStore,
) -> Iterator:
    """Transfers worth at least the whale threshold, labelled (from/to owner, category, and
    who says so) with their direction: to an exchange = potential sell pressure, from an
    exchange = accumulation. Priced with the previous day's close (public at the transfer)."""
    book = address_labels.book()
    watch = book.labels[book.labels["category"] == "exchange"][["chain", "address"]]
    lookup = contract_lookup(data_rows(coin_contracts))
    days = window_days(context)
    candles = duckdb.read_table(
        "clean_ohlcv",
        "timeframe = '1d' and date >= ? and date < ?",
        [(days[0] - DAY).to_pydatetime(), days[-1].to_pydatetime()],
    )
    closes = daily_closes_from_candles(candles)
    sources = (whale_alert, etherscan, bitcoin_explorer)
    frames, statuses, counts = [], [], {}
    for day in days:
        results = _fetch_transfers(context, sources, day, watch, onchain_config.query_min_usd)
        fetched = pd.concat([r.frame for r in results], ignore_index=True)
        fetched, priceable = map_token_coins(fetched, lookup)
        priced = price_transfers(fetched, closes, priceable)
        whales, day_counts = classify_whales(priced, book, onchain_config.whale_min_usd)
        frames += stored_parts(whales, [r.status for r in results], day)
        statuses += [r.status for r in results]
        counts = {k: counts.get(k, 0) + v for k, v in day_counts.items()}
    frame = stored_table(frames, LABELLED_SCHEMA)
    directions = data_rows(frame)["direction"].value_counts().to_dict()
    preview = ["time", "coin", "amount_usd", "direction"]
    yield dg.Output(
        frame,
        metadata={
            **asset_metadata(frame, statuses, preview, coins_covered(frame, "whale transfers")),
            **counts,
            "min_usd": float(onchain_config.whale_min_usd),
            "labels": len(book),
            "directions": dg.MetadataValue.json({str(k): int(v) for k, v in directions.items()}),
        },
    )
    yield status_check("whale_transfers", statuses)


def exchange_flows_asset(context: dg.AssetExecutionContext, whale_transfers: pd.DataFrame):
    """Per coin and day: whale-size USD flows into (sell pressure) and out of (accumulation)
    labelled exchange wallets, and the net flow."""
    frames, statuses = [], []
    days = pd.to_datetime(whale_transfers["day"], utc=True) if len(whale_transfers) else None
    for day in window_days(context):
        upstream = whale_transfers[days == day] if days is not None else whale_transfers
        flows = exchange_flows(data_rows(upstream))
        status = derived_status("whale_transfers", status_rows(upstream), len(flows))
        frames += stored_parts(flows, [status], day)
        statuses.append(status)
    frame = stored_table(frames, FLOW_SCHEMA)
    preview = ["coin", "flow_day", "inflow_usd", "outflow_usd", "netflow_usd"]
    coverage = coins_covered(frame, "exchange flows")
    yield dg.Output(frame, metadata=asset_metadata(frame, statuses, preview, coverage))
    yield status_check("exchange_flows", statuses)


def derived_status(upstream_name: str, upstream: pd.DataFrame, rows: int) -> SourceStatus:
    """The status of a table computed from another: ok (or replay) when any upstream source
    answered, otherwise unavailable with the upstream reasons."""
    good = upstream["status"].isin(GOOD_STATUSES) if len(upstream) else pd.Series(dtype=bool)
    failed = upstream[~good] if len(upstream) else upstream
    reason = "; ".join(f"{r.source}: {r.status} ({r.reason})" for r in failed.itertuples())
    if len(upstream) and good.any():
        status = "replay" if (upstream.loc[good, "status"] == "replay").all() else "ok"
    else:
        status, reason = "unavailable", reason or f"{upstream_name} has no status rows"
    return SourceStatus(f"{upstream_name} (derived)", status, reason, now_utc(), rows)


SOURCES_METADATA = {
    "coin_contracts": (
        "CoinGecko /coins/list?include_platform=true (live, optional demo key) or a recording "
        "(CRYPTO_ASSETS_COINGECKO_COIN_LIST_FILE); native coins by protocol",
        "the coin list as fetched (as_of = fetch time or the recording's date)",
    ),
    "whale_transfers": (
        "Whale Alert /v1/transactions (key), Etherscan API V2 token transfers of labelled "
        "exchange wallets (key), Esplora/mempool.space (no key); labels: address_labels",
        "a transfer is public at its block time; priced with the previous day's close",
    ),
    "exchange_flows": (
        "whale_transfers (derived)",
        "flows of day D are complete, hence public, when D ends (D + 1 day)",
    ),
}


def build_onchain_assets(
    partitions_def: dg.PartitionsDefinition,
) -> list[dg.AssetsDefinition]:
    """coin_contracts, whale_transfers and exchange_flows on the daily partitions."""

    def common(name: str, kinds: set[str]) -> dict:
        source, as_of_rule = SOURCES_METADATA[name]
        return {
            "group_name": ONCHAIN_GROUP,
            "partitions_def": partitions_def,
            "backfill_policy": dg.BackfillPolicy.single_run(),
            "metadata": {"partition_expr": "day", "source": source, "as_of_rule": as_of_rule},
            "check_specs": [check_spec(name)],
            "kinds": kinds | {"duckdb"},
        }

    previous_day = dg.TimeWindowPartitionMapping(
        start_offset=-1, end_offset=0, allow_nonexistent_upstream_partitions=True
    )
    return [
        dg.asset(deps=["exchange_markets"], **common("coin_contracts", {"coingecko"}))(
            coin_contracts
        ),
        dg.asset(
            deps=[dg.AssetDep("clean_ohlcv", partition_mapping=previous_day)],
            **common("whale_transfers", {"etherscan"}),
        )(whale_transfers),
        dg.asset(name="exchange_flows", **common("exchange_flows", {"pandas"}))(
            exchange_flows_asset
        ),
    ]
