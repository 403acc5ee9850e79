"""On-chain assets: coin contracts, whale transfers and exchange flows (holders, networks and the
coverage report are in ``activity.py``), one daily partition each.

Thin by design: resources fetch (live APIs or replays of recorded real files), pure functions in
``crypto_assets.onchain`` decide, the DuckDB IO manager stores. Every table keeps its data rows
and one status row per source and day (``row_kind``), so a source without a key or network
shows up as a status row and a failed WARN check, never as invented rows. A single-run backfill
covers many days: each asset works day by day inside the run.
"""

from collections.abc import Iterator, Sequence

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import partition_days
from crypto_assets.defs.storage import read_table
from crypto_assets.onchain.contracts import (
    CONTRACT_SCHEMA,
    base_coins,
    contract_lookup,
    map_universe,
)
from crypto_assets.onchain.flows import FLOW_SCHEMA, exchange_flows
from crypto_assets.onchain.source import (
    GOOD_STATUSES,
    SourceStatus,
    attempt,
    data_rows,
    failed_statuses,
    now_utc,
    status_rows,
    stored_frame,
)
from crypto_assets.onchain.transfers import (
    LABELLED_SCHEMA,
    TRANSFER_SCHEMA,
    classify_whales,
    daily_closes_from_candles,
    map_token_coins,
    price_transfers,
)

ONCHAIN_GROUP = "onchain"
TRANSFER_SOURCES = ("whale_alert", "etherscan", "bitcoin_explorer")
DAY = pd.Timedelta(days=1)


class CoinContractsConfig(dg.Config):
    coins: list[str] | None = None  # None: each day's universe from kraken_markets


def window_days(context: dg.AssetExecutionContext) -> list[pd.Timestamp]:
    return partition_days(context.partition_time_window)


def check_spec(name: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        "source_status", asset=name, description="Every on-chain source answered for the day."
    )


def status_check(name: str, statuses: Sequence[SourceStatus]) -> dg.AssetCheckResult:
    """WARN when any source did not answer: the reasons are the description."""
    failed = failed_statuses(statuses)
    reasons = sorted({f"{s.source}: {s.status} ({s.reason})" for s in failed})
    return dg.AssetCheckResult(
        check_name="source_status",
        asset_key=name,
        passed=not failed,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(reasons) or "every source answered (live or replay of a recording)",
        metadata={"failed": len(failed), "attempts": len(statuses)},
    )


def asset_metadata(
    frame: pd.DataFrame, statuses: Sequence[SourceStatus], preview: list[str]
) -> dict[str, object]:
    """What a user reads in the UI: rows, sources and their status, as-of, a preview."""
    data = data_rows(frame)
    table = pd.DataFrame([s.as_row() for s in statuses]).drop_duplicates(["source", "status"])
    return {
        "rows": len(data),
        "status_rows": len(statuses),
        "source": ", ".join(sorted({s.source for s in statuses})) or "-",
        "source_status": dg.MetadataValue.md(table.to_markdown(index=False) if len(table) else "-"),
        "as_of": max(str(s.as_of) for s in statuses) if statuses else "-",
        "preview": dg.MetadataValue.md(
            data[preview].head(20).to_markdown(index=False) if len(data) else "no data rows"
        ),
    }


def _universe(context: dg.AssetExecutionContext, day: pd.Timestamp, coins: list[str] | None):
    if coins:
        return sorted({c.upper() for c in coins})
    markets = read_table(
        context.resources.duckdb, "kraken_markets", "day = ?", [day.to_pydatetime()]
    )
    if markets.empty:
        return []
    return base_coins(markets.loc[markets["in_universe"].astype(bool), "symbol"])


def _fetch_transfers(context, start: pd.Timestamp, watch: pd.DataFrame, floor: float) -> list:
    results = []
    for key in TRANSFER_SOURCES:
        source = getattr(context.resources, key)
        results.append(
            attempt(
                source.describe(),
                lambda s=source: s.fetch_transfers(start, start + DAY, floor, watch),
                TRANSFER_SCHEMA,
                now_utc(),
            )
        )
    for r in results:
        for note in r.notes:
            context.log.info(f"{r.source}: {note}")
    return results


def build_onchain_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """coin_contracts, whale_transfers and exchange_flows on ``partitions_def`` (the project's
    daily partitions; tests pass one that reaches back to the recorded 2010-2019 data)."""
    return [
        _coin_contracts_asset(partitions_def),
        _whale_transfers_asset(partitions_def),
        _exchange_flows_asset(partitions_def),
    ]


def _coin_contracts_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        group_name=ONCHAIN_GROUP,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[dg.AssetKey("kraken_markets")],
        required_resource_keys={"coin_list", "duckdb"},
        metadata={"partition_expr": "day"},
        check_specs=[check_spec("coin_contracts")],
        kinds={"coingecko", "duckdb"},
    )
    def coin_contracts(context: dg.AssetExecutionContext, config: CoinContractsConfig) -> Iterator:
        """Which universe coins have which contracts on which chains (CoinGecko's coin list with
        platforms; native coins by protocol), and how each mapping was made."""
        source = context.resources.coin_list
        fetched = attempt(source.describe(), source.fetch_coin_list, CONTRACT_SCHEMA, now_utc())
        coin_list = fetched.frame if fetched.status.status in GOOD_STATUSES else None
        frames, mapped = [], pd.DataFrame()
        for day in window_days(context):
            coins = _universe(context, day, config.coins)
            mapped = map_universe(coins, coin_list, source=fetched.source, as_of=fetched.as_of)
            frames.append(stored_frame(mapped, [fetched.status], CONTRACT_SCHEMA, day))
        frame = pd.concat(frames, ignore_index=True)
        universe = mapped["coin"].nunique() if len(mapped) else 0
        located = mapped.dropna(subset=["chain"])["coin"].nunique() if len(mapped) else 0
        matches = mapped.drop_duplicates("coin")["match"].value_counts() if len(mapped) else {}
        yield dg.Output(
            frame,
            metadata={
                **asset_metadata(frame, [fetched.status], ["coin", "chain", "contract", "match"]),
                "universe": int(universe),
                "coverage": f"{located} of {universe} universe coins have a known chain",
                "matches": dg.MetadataValue.json(
                    {str(k): int(v) for k, v in dict(matches).items()}
                ),
            },
        )
        yield status_check("coin_contracts", [fetched.status])

    return coin_contracts


def _whale_transfers_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        group_name=ONCHAIN_GROUP,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[dg.AssetKey("clean_ohlcv")],
        required_resource_keys={"onchain_config", "address_labels", "duckdb", *TRANSFER_SOURCES},
        metadata={"partition_expr": "day"},
        check_specs=[check_spec("whale_transfers")],
        kinds={"etherscan", "duckdb"},
    )
    def whale_transfers(
        context: dg.AssetExecutionContext, coin_contracts: pd.DataFrame
    ) -> Iterator:
        """Transfers worth at least the whale threshold, labelled (from/to owner, category, and
        who says so) with their direction: to an exchange = potential sell pressure, from an
        exchange = accumulation."""
        config, book = context.resources.onchain_config, context.resources.address_labels.book()
        watch = book.labels[book.labels["category"] == "exchange"][["chain", "address"]]
        lookup = contract_lookup(data_rows(coin_contracts))
        days = window_days(context)
        candles = read_table(
            context.resources.duckdb,
            "clean_ohlcv",
            "timeframe = '1d' and date >= ? and date < ?",
            [(days[0] - DAY).to_pydatetime(), days[-1].to_pydatetime()],
        )
        closes = daily_closes_from_candles(candles)
        frames, statuses, counts = [], [], {}
        for day in days:
            results = _fetch_transfers(context, day, watch, config.query_min_usd)
            fetched = pd.concat([r.frame for r in results], ignore_index=True)
            fetched, priceable = map_token_coins(fetched, lookup)
            priced = price_transfers(fetched, closes, priceable)
            whales, day_counts = classify_whales(priced, book, config.whale_min_usd)
            frames.append(stored_frame(whales, [r.status for r in results], LABELLED_SCHEMA, day))
            statuses += [r.status for r in results]
            counts = {k: counts.get(k, 0) + v for k, v in day_counts.items()}
        frame = pd.concat(frames, ignore_index=True)
        directions = data_rows(frame)["direction"].value_counts().to_dict()
        yield dg.Output(
            frame,
            metadata={
                **asset_metadata(frame, statuses, ["time", "coin", "amount_usd", "direction"]),
                **counts,
                "min_usd": float(config.whale_min_usd),
                "labels": len(book),
                "directions": dg.MetadataValue.json(
                    {str(k): int(v) for k, v in directions.items()}
                ),
            },
        )
        yield status_check("whale_transfers", statuses)

    return whale_transfers


def _exchange_flows_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="exchange_flows",
        group_name=ONCHAIN_GROUP,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"partition_expr": "day"},
        check_specs=[check_spec("exchange_flows")],
        kinds={"pandas", "duckdb"},
    )
    def exchange_flows_asset(
        context: dg.AssetExecutionContext, whale_transfers: pd.DataFrame
    ) -> Iterator:
        """Per coin and day: whale-size USD flows into (sell pressure) and out of (accumulation)
        labelled exchange wallets, and the net flow."""
        frames, statuses = [], []
        days = pd.to_datetime(whale_transfers["day"], utc=True) if len(whale_transfers) else None
        for day in window_days(context):
            upstream = whale_transfers[days == day] if days is not None else whale_transfers
            flows = exchange_flows(data_rows(upstream))
            status = derived_status("whale_transfers", status_rows(upstream), len(flows))
            frames.append(stored_frame(flows, [status], FLOW_SCHEMA, day))
            statuses.append(status)
        frame = pd.concat(frames, ignore_index=True)
        preview = ["coin", "flow_day", "inflow_usd", "outflow_usd", "netflow_usd"]
        yield dg.Output(frame, metadata=asset_metadata(frame, statuses, preview))
        yield status_check("exchange_flows", statuses)

    return exchange_flows_asset


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
