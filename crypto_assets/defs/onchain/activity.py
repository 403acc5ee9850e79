"""On-chain assets over holders and networks: holder concentration per token, BTC/ETH network
activity (metrics and features), and the coverage report of the whole on-chain domain."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from crypto_assets.defs.onchain.assets import (
    DAY,
    ONCHAIN_GROUP,
    asset_metadata,
    check_spec,
    coins_covered,
    status_check,
    window_days,
)
from crypto_assets.frames import UTC_DTYPE, utc
from crypto_assets.onchain.features import coverage_summary, onchain_coverage
from crypto_assets.onchain.holders import CONCENTRATION_SCHEMA, HOLDER_SCHEMA, concentration_row
from crypto_assets.onchain.labels import LabelBook
from crypto_assets.onchain.network import FEATURE_SCHEMA, METRIC_SCHEMA, network_features
from crypto_assets.onchain.source import (
    HolderSource,
    NetworkMetricsSource,
    SourceStatus,
    attempt,
    conform,
    data_rows,
    empty,
    now_utc,
    status_row,
    status_rows,
    stored_parts,
    stored_table,
)
from crypto_assets.resources.address_labels import AddressLabelsResource
from crypto_assets.resources.onchain import OnchainConfig
from crypto_assets.resources.storage import DuckDBStore

NETWORK_SCHEMA = {**METRIC_SCHEMA, **FEATURE_SCHEMA}
NETWORK_LOOKBACK = pd.Timedelta(days=60)  # the 30-day change needs two full 30-day windows
HOLDER_HISTORY = pd.Timedelta(days=35)  # how far back a previous snapshot is looked for
HOLDER_CHAINS = ("ethereum", "bsc", "polygon")  # chains the holder source (Etherscan) serves
COVERAGE_SCHEMA = {
    "coin": "text",
    "chains": "text",
    "contracts": "float",
    "network_days": "float",
    "whale_transfers": "float",
    "exchange_flow_days": "float",
    "holder_snapshots": "float",
    "has_onchain": "bool",
}


def holder_tokens(
    contracts: pd.DataFrame, tracked: list[tuple[str, str]], limit: int
) -> list[tuple[str, str, str | None]]:
    """(chain, contract, coin) to fetch holders for: the universe's mapped token contracts on
    the holder source's chains, then the source's own tracked tokens, at most ``limit``."""
    mapped = contracts.dropna(subset=["contract"])
    mapped = mapped[mapped["chain"].isin(HOLDER_CHAINS)].drop_duplicates(["chain", "contract"])
    tokens = [(r.chain, r.contract, r.coin) for r in mapped.itertuples()]
    known = {(chain, contract) for chain, contract, _ in tokens}
    extra = [(chain, contract) for chain, contract in tracked if (chain, contract) not in known]
    tokens += [(chain, contract, None) for chain, contract in extra]
    return tokens[: int(limit)]


def _holder_day(
    source: HolderSource, tokens: list, day: pd.Timestamp, previous: pd.DataFrame, book: LabelBook
) -> tuple[pd.DataFrame, list[SourceStatus]]:
    rows, statuses = [], []
    for chain, contract, coin in tokens:
        fetched = attempt(
            f"{source.describe()} {chain}:{contract}",
            lambda c=chain, t=contract: source.fetch_holders(c, t, day),
            HOLDER_SCHEMA,
            now_utc(),
        )
        statuses.append(fetched.status)
        if len(fetched.frame):
            rows.append(concentration_row(fetched.frame, coin, not fetched.notes, previous, book))
    if not tokens:
        reason = "no token to follow: no universe contract is known and none is tracked"
        statuses.append(SourceStatus(source.describe(), "ok", reason, now_utc(), 0))
    data = pd.concat(rows, ignore_index=True) if rows else empty(CONCENTRATION_SCHEMA)
    return data, statuses


def holder_concentration(
    context: dg.AssetExecutionContext,
    coin_contracts: pd.DataFrame,
    onchain_config: OnchainConfig,
    address_labels: AddressLabelsResource,
    etherscan: dg.ResourceParam[HolderSource],
    duckdb: DuckDBStore,
) -> Iterator:
    """Per token with a holder list: top-10 / top-100 share, Gini, HHI, the share held by
    labelled exchanges, and their change since the token's previous snapshot."""
    book = address_labels.book()
    contracts = data_rows(coin_contracts)
    contract_days = pd.to_datetime(contracts["day"], utc=True) if len(contracts) else None
    days = window_days(context)
    previous = data_rows(
        duckdb.read_window("holder_concentration", "day", days[0] - HOLDER_HISTORY, days[0])
    )
    frames, statuses = [], []
    for day in days:
        today = contracts[contract_days == day] if contract_days is not None else contracts
        tokens = holder_tokens(today, etherscan.tracked_tokens(), onchain_config.holder_max_tokens)
        data, day_statuses = _holder_day(etherscan, tokens, day, previous, book)
        previous = pd.concat([previous, data], ignore_index=True)
        frames += stored_parts(data, day_statuses, day)
        statuses += day_statuses
    frame = stored_table(frames, CONCENTRATION_SCHEMA)
    data = data_rows(frame)
    tokens = data[["chain", "contract"]].drop_duplicates() if len(data) else data
    coverage = f"{len(tokens)} tokens with a holder list; " + coins_covered(frame, "a named coin")
    preview = ["contract", "coin", "holders", "top10_share", "gini", "hhi"]
    yield dg.Output(frame, metadata=asset_metadata(frame, statuses, preview, coverage))
    yield status_check("holder_concentration", statuses)


def _network_metrics(
    sources: tuple[NetworkMetricsSource, ...], start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, list[SourceStatus]]:
    frames, statuses = [], []
    for source in sources:
        coins = source.network_coins()
        if not coins:
            continue  # this source serves no coin in this environment (e.g. a replay)
        fetched = attempt(
            source.describe(),
            lambda s=source, c=coins: s.fetch_network_metrics(c, start - NETWORK_LOOKBACK, end),
            METRIC_SCHEMA,
            now_utc(),
        )
        frames.append(fetched.frame)
        in_window = int((fetched.frame["metric_day"] >= start).sum())
        statuses.append(SourceStatus(**{**status_row(fetched.status), "rows": in_window}))
    metrics = pd.concat(frames, ignore_index=True) if frames else empty(METRIC_SCHEMA)
    return metrics.drop_duplicates(["coin", "metric_day"], keep="first"), statuses


def network_activity(
    context: dg.AssetExecutionContext,
    network_metrics: dg.ResourceParam[NetworkMetricsSource],
    etherscan: dg.ResourceParam[NetworkMetricsSource],
) -> Iterator:
    """BTC / ETH daily network metrics (transactions, addresses, fees, hash rate) and their
    7/30-day log changes as features; a day's row is known once the day has ended."""
    days = window_days(context)
    metrics, statuses = _network_metrics((network_metrics, etherscan), days[0], days[-1] + DAY)
    features = network_features(metrics).drop(columns=["source"])
    joined = metrics.merge(features, on=["coin", "metric_day"], how="left")
    frames = []
    for day in days:  # data rows and one status row per source, day by day
        today = joined[joined["metric_day"] == day]
        frames += stored_parts(today, statuses, day)
    frame = stored_table(frames, NETWORK_SCHEMA)
    preview = ["coin", "metric_day", "tx_count", "net_tx_logchg_7d"]
    data = data_rows(frame)
    coverage = coins_covered(frame, "network metrics") + (
        f" ({data['metric_day'].min().date()}..{data['metric_day'].max().date()})"
        if len(data)
        else " in this window"
    )
    yield dg.Output(frame, metadata=asset_metadata(frame, statuses, preview, coverage))
    yield status_check("network_activity", statuses)


def onchain_coverage_report(
    context: dg.AssetExecutionContext,
    coin_contracts: pd.DataFrame,
    whale_transfers: pd.DataFrame,
    exchange_flows: pd.DataFrame,
    holder_concentration: pd.DataFrame,
    network_activity: pd.DataFrame,
) -> dg.Output:
    """Which universe coins have on-chain data for the day (contracts, network metrics,
    whale transfers, exchange flows, holder snapshots) and which have none."""
    tables = {
        "coin_contracts": coin_contracts,
        "whale_transfers": whale_transfers,
        "exchange_flows": exchange_flows,
        "holder_concentration": holder_concentration,
        "network_activity": network_activity,
    }
    data = {name: _by_day(table) for name, table in tables.items()}
    frames, coverage = [], pd.DataFrame(columns=["coin", "has_onchain"])
    for day in window_days(context):
        today = {name: days.get(day, empty_rows) for name, (days, empty_rows) in data.items()}
        contracts = today["coin_contracts"]
        coverage = onchain_coverage(
            contracts["coin"].dropna().unique() if len(contracts) else [],
            contracts,
            network=today["network_activity"],
            whales=today["whale_transfers"],
            flows=today["exchange_flows"],
            holders=today["holder_concentration"],
        )
        frames.append(coverage.assign(day=day))
    frame = conform(pd.concat(frames, ignore_index=True), {**COVERAGE_SCHEMA, "day": "time"})
    summary = coverage_summary(coverage)
    context.log.info(summary)
    statuses = pd.concat([status_rows(t) for t in tables.values()], ignore_index=True)
    statuses = statuses.drop_duplicates(["source", "status"])
    covered = frame.loc[frame["has_onchain"].fillna(False).astype(bool), "coin"]
    return dg.Output(
        frame,
        metadata={
            "coverage": summary,
            "universe": len(coverage),
            "coins_with_onchain": int(coverage["has_onchain"].sum()) if len(coverage) else 0,
            "covered_in_window": ", ".join(sorted(covered.unique())) or "-",
            "coins_without": ", ".join(coverage.loc[~coverage["has_onchain"], "coin"]) or "-",
            "source": "the five on-chain tables of the day (data rows)",
            "as_of": str(window_days(context)[-1].date()),
            "sources": dg.MetadataValue.md(
                statuses.to_markdown(index=False) if len(statuses) else "-"
            ),
            "preview": dg.MetadataValue.md(coverage.head(30).to_markdown(index=False)),
        },
    )


def _by_day(table: pd.DataFrame) -> tuple[dict[pd.Timestamp, pd.DataFrame], pd.DataFrame]:
    """A table's data rows per partition day, and the empty frame for a day without any."""
    data = data_rows(table)
    if data.empty:
        return {}, data
    days = pd.to_datetime(data["day"], utc=True).astype(UTC_DTYPE)
    return {utc(day): rows for day, rows in data.groupby(days)}, data.iloc[0:0]


ACTIVITY_METADATA = {
    "holder_concentration": (
        "Etherscan API V2 token holder lists (API Pro endpoint, key) or the recorded real "
        "holder export (etherscan_tokenholders_*.csv); labels: address_labels",
        "a holder snapshot is public at its fetch time (as_of); the export at its date",
    ),
    "network_activity": (
        "blockchain.com charts (BTC, no key) + Etherscan daily stats (ETH, API Pro key), or "
        "the recorded Kaggle daily files (BTC 2010-02-23..2018-02-20, ETH 2015-07-30..)",
        "metrics of day D are complete, hence public, when D ends: known_at = D + 1 day",
    ),
    "onchain_coverage": (
        "coin_contracts, whale_transfers, exchange_flows, holder_concentration, "
        "network_activity (derived)",
        "the day's tables as stored",
    ),
}


def build_activity_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """holder_concentration, network_activity and onchain_coverage on the daily partitions."""

    def common(name: str, kinds: set[str]) -> dict:
        source, as_of_rule = ACTIVITY_METADATA[name]
        return {
            "group_name": ONCHAIN_GROUP,
            "partitions_def": partitions_def,
            "backfill_policy": dg.BackfillPolicy.single_run(),
            "metadata": {"partition_expr": "day", "source": source, "as_of_rule": as_of_rule},
            "kinds": kinds | {"duckdb"},
        }

    return [
        dg.asset(
            check_specs=[check_spec("holder_concentration")],
            **common("holder_concentration", {"etherscan"}),
        )(holder_concentration),
        dg.asset(
            check_specs=[check_spec("network_activity")], **common("network_activity", {"pandas"})
        )(network_activity),
        dg.asset(name="onchain_coverage", **common("onchain_coverage", {"pandas"}))(
            onchain_coverage_report
        ),
    ]
