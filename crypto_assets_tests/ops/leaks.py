"""Searching everything the product wrote for planted secrets, each file read the way its format
stores text: SQLite databases row by row (zlib-compressed blobs, as Dagster keeps its job
snapshots, decompressed), DuckDB databases and Parquet files through DuckDB, everything else as
raw bytes. A format-blind byte search would miss a secret inside a compressed column or blob."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterable
from pathlib import Path

import duckdb

_SQLITE = b"SQLite format 3\x00"


def _kind(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(_SQLITE):
        return "sqlite"
    if head[8:12] == b"DUCK":
        return "duckdb"
    if head.startswith(b"PAR1"):
        return "parquet"
    return "bytes"


def _cell(value: object) -> str:
    if isinstance(value, bytes):
        try:
            return zlib.decompress(value).decode("utf-8", "replace")
        except zlib.error:
            return value.decode("utf-8", "replace")
    return str(value)


def sqlite_text(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        parts = []
        for table in tables:
            for row in conn.execute(f'select * from "{table}"'):
                parts.append("\t".join(_cell(v) for v in row))
        return "\n".join(parts)
    finally:
        conn.close()


def duckdb_text(path: Path, parquet: bool = False) -> str:
    with duckdb.connect(":memory:" if parquet else str(path), read_only=not parquet) as conn:
        if parquet:
            return repr(conn.execute("select * from read_parquet(?)", [str(path)]).fetchall())
        tables = conn.execute(
            "select table_catalog, table_schema, table_name from information_schema.tables"
        ).fetchall()
        return "\n".join(
            repr(conn.execute(f'select * from "{c}"."{s}"."{t}"').fetchall()) for c, s, t in tables
        )


def file_text(path: Path) -> str:
    """The file's text as its format stores it, plus its raw bytes."""
    raw = path.read_bytes().decode("utf-8", "replace")
    kind = _kind(path)
    if kind == "sqlite":
        return raw + sqlite_text(path)
    if kind in ("duckdb", "parquet"):
        return raw + duckdb_text(path, parquet=kind == "parquet")
    return raw


def leaks_in(text: str, secrets: Iterable[str]) -> list[str]:
    return [secret for secret in secrets if secret in text]


def leaks_in_tree(root: Path, secrets: list[str], skip: Iterable[str] = ()) -> dict[str, list]:
    """``{relative path: [secrets found]}`` for every regular file under ``root``."""
    skipped = set(skip)
    found = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.name in skipped:
            continue
        hits = leaks_in(file_text(path), secrets)
        if hits:
            found[str(path.relative_to(root))] = hits
    return found
