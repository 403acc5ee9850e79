"""Which profile a database file belongs to, so demo and live results never share one.

Settings give each profile its own file (``Settings.resolved_duckdb_path``), but paths are the
user's to set: two commands run with different ``CRYPTO_ASSETS_DATA_DIR`` values can still point
the demo and the live profile at the same file. So the first write stamps the file with its
profile (``meta.profile``) and every later write of the other profile is refused, in the same
transaction, before a row changes.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

META_SCHEMA = "meta"
PROFILE_TABLE = f"{META_SCHEMA}.profile"


class ProfileMismatch(RuntimeError):
    """The database holds the other profile's results (one line, with the remedy)."""


def stored_profile(conn: duckdb.DuckDBPyConnection) -> str | None:
    """The profile the database was stamped with, or None (new, or written before stamps)."""
    found = conn.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = ? and table_name = 'profile'",
        [META_SCHEMA],
    ).fetchone()
    if not found or not found[0]:
        return None
    row = conn.execute(f"select profile from {PROFILE_TABLE} limit 1").fetchone()
    return str(row[0]) if row else None


def claim_profile(conn: duckdb.DuckDBPyConnection, profile: str, database: str | Path) -> None:
    """Stamp the database with ``profile`` on its first write; refuse a write of another one.

    Call inside the writer's transaction, before the write: a refusal rolls nothing forward.
    """
    owner = stored_profile(conn)
    if owner == profile:
        return
    if owner is not None:
        raise ProfileMismatch(
            f"{database} holds the {owner} profile's results; the {profile} profile never writes "
            "into it: give each profile its own file (CRYPTO_ASSETS_DATA_DIR / "
            "CRYPTO_ASSETS_DUCKDB_PATH; by default data/ and data/demo/)"
        )
    conn.execute(f"create schema if not exists {META_SCHEMA}")
    conn.execute(
        f"create table if not exists {PROFILE_TABLE} (profile varchar, claimed_at timestamptz)"
    )
    conn.execute(
        f"insert into {PROFILE_TABLE} values (?, ?)",
        [profile, pd.Timestamp.now(tz="UTC").to_pydatetime()],
    )
