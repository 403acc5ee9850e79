"""Parsers of the REAL recorded news and event formats (read in place).

- CryptoPanic headlines scraped from the site (Time, Title, Source, Votes) -> posts
  (``POST_COLUMNS``: the headline is ``text``, the news site is ``channel``, total votes are
  ``engagement``); no URL or id was recorded, so ``id`` hashes (time, title).
- Telegram pump-and-dump events (La Morgia et al.: symbol, group, date, hour UTC, exchange)
  -> events of kind ``pump`` at the announced time.
- DefiLlama's hacks record (as CSV, or as the ``api.llama.fi/hacks`` JSON list) -> events of
  kind ``hack`` with the amount in USD and the write-up URL.
- A token allocation / vesting schedule (the issuer's table: who, percentage, lock-up, vesting
  months, interval, vesting start) -> one ``unlock`` event per vesting step.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd

from crypto_assets.sentiment.texts import parse_cryptopanic_time
from crypto_assets.social.source import canonical_events, canonical_posts, stable_hash

_VOTE = re.compile(r"(\d+)\s+(\w+):")


def parse_votes(value: object) -> dict[str, int]:
    """'10 positive: votes, 8 important: votes' -> {'positive': 10, 'important': 8}."""
    return {kind: int(n) for n, kind in _VOTE.findall(str(value))}


def cryptopanic_csv(path: Path) -> pd.DataFrame:
    """Scraped CryptoPanic headlines; exact duplicate rows collapse to one (same id)."""
    raw = pd.read_csv(path)
    times = pd.to_datetime(raw["Time"].map(parse_cryptopanic_time), utc=True)
    title = raw["Title"].astype(str).str.strip()
    votes = raw["Votes"].map(parse_votes)
    frame = pd.DataFrame(
        {
            "source": "cryptopanic",
            "time": times,
            "text": title,
            "channel": raw["Source"],
            "engagement": votes.map(lambda v: float(sum(v.values()))),
            "ref": [f"{path.name}#row={i}" for i in raw.index],
        }
    )
    frame = frame[frame["time"].notna() & title.str.len().gt(0)]
    frame["id"] = [
        stable_hash("cryptopanic", t.isoformat(), x)
        for t, x in zip(frame["time"], frame["text"], strict=True)
    ]
    frame = frame.drop_duplicates("id").reset_index(drop=True)
    return canonical_posts(frame)


def pump_events_csv(path: Path) -> pd.DataFrame:
    """Announced Telegram pumps: the coin, the group and the exchange, at the hour (UTC)."""
    raw = pd.read_csv(path)
    times = pd.to_datetime(raw["date"] + " " + raw["hour"], format="%Y-%m-%d %H:%M", utc=True)
    frame = pd.DataFrame(
        {
            "source": "pump_groups",
            "time": times,
            "kind": "pump",
            "coin": raw["symbol"].astype(str).str.upper(),
            "title": "pump of "
            + raw["symbol"].astype(str)
            + "/BTC announced by group "
            + raw["group"].astype(str)
            + " on "
            + raw["exchange"].astype(str),
            "ref": [f"{path.name}#row={i}" for i in raw.index],
        }
    )
    frame["id"] = [
        stable_hash("pump", c, g, t.isoformat())
        for c, g, t in zip(frame["coin"], raw["group"], frame["time"], strict=True)
    ]
    return canonical_events(frame[frame["time"].notna()].drop_duplicates("id"))


def _chains(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    try:
        parsed = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        return str(value)
    return ", ".join(map(str, parsed)) if isinstance(parsed, list) else str(parsed)


def hacks_frame(raw: pd.DataFrame, ref_prefix: str) -> pd.DataFrame:
    """DefiLlama hack records (CSV columns or API JSON fields) -> events of kind ``hack``."""
    if pd.api.types.is_numeric_dtype(raw["date"]):
        times = pd.to_datetime(raw["date"], unit="s", utc=True)  # the API: unix seconds
    else:
        times = pd.to_datetime(raw["date"], utc=True)
    technique = raw.get("technique", pd.Series("", index=raw.index)).fillna("").astype(str)
    chains = raw.get("chain", pd.Series("", index=raw.index)).map(_chains)
    frame = pd.DataFrame(
        {
            "source": "defillama_hacks",
            "time": times,
            "kind": "hack",
            "coin": pd.NA,
            "title": raw["name"].astype(str) + " hacked: " + technique + " (" + chains + ")",
            "amount_usd": pd.to_numeric(raw.get("amount"), errors="coerce"),
            "url": raw.get("source"),
            "ref": [f"{ref_prefix}#row={i}" for i in raw.index],
            "name": raw["name"].astype(str),
        }
    )
    frame["id"] = [
        stable_hash("hack", n, t.isoformat())
        for n, t in zip(frame["name"], frame["time"], strict=True)
    ]
    return canonical_events(frame[frame["time"].notna()].drop_duplicates("id"))


def hacks_csv(path: Path) -> pd.DataFrame:
    return hacks_frame(pd.read_csv(path), path.name)


def vesting_schedule_csv(path: Path, coin: str) -> pd.DataFrame:
    """One ``unlock`` event per vesting step of an allocation table.

    ``Vesting Start`` is the first day tokens vest (the lock-up is already behind it, as the
    recorded GGP table shows: 12-month lock-ups start vesting a year after the 0-lock-up rows).
    Each of ``Vesting (months) / interval`` steps releases an equal share of the allocation at
    the END of its interval; ``Day 1 tokens`` > 0 is an unlock on the start date itself.
    """
    raw = pd.read_csv(path)
    rows: list[dict[str, object]] = []
    for i, row in raw.iterrows():
        start = pd.to_datetime(row["Vesting Start"], format="%m/%d/%Y", utc=True)
        share = float(str(row["Percentage"]).rstrip("%"))
        months, interval = (
            int(row["Vesting (months)"]),
            max(int(row["Vesting Interval in Months"]), 1),
        )
        steps = max(months // interval, 1)
        for step in range(1, steps + 1):
            rows.append(
                _unlock(
                    coin,
                    str(row["Who"]),
                    start + pd.DateOffset(months=step * interval),
                    share / steps,
                    f"{path.name}#row={i}",
                    step,
                    steps,
                )
            )
        if float(row.get("Day 1 tokens", 0) or 0) > 0:
            rows.append(
                _unlock(
                    coin, str(row["Who"]), start, float("nan"), f"{path.name}#row={i}", 0, steps
                )
            )
    return canonical_events(pd.DataFrame(rows))


def _unlock(
    coin: str, who: str, time: pd.Timestamp, percent: float, ref: str, step: int, steps: int
) -> dict:
    share = "" if pd.isna(percent) else f" {percent:.3f}% of supply"
    return {
        "source": "token_unlocks",
        "id": stable_hash("unlock", coin, who, time.isoformat()),
        "time": time,
        "kind": "unlock",
        "coin": coin.upper(),
        "title": f"{coin.upper()} unlock: {who} step {step}/{steps}{share}",
        "ref": ref,
    }
