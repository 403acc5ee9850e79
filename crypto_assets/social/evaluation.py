"""Measurements of the text rules on hand-labelled REAL data (labels are ours; the texts stay in
the unlicensed source files and are re-read from them by file + row id).

- linking precision: ``data/linking_labels.csv`` (file, row, coin, correct) against the linker
  built on the Kraken universe of the newest recorded AssetPairs response;
- event classification: ``crypto_assets/news/data/event_labels.csv`` (file, row, label, stratum:
  ``random`` / ``keyword`` were seen while the rules were written, ``holdout`` was labelled
  afterwards and never used to change a rule).
"""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path

import pandas as pd

from crypto_assets.news.classify import EVENT_CLASSES, classify_headlines
from crypto_assets.news.records import cryptopanic_csv
from crypto_assets.settings import SHARED_DATA_DIR
from crypto_assets.social import records
from crypto_assets.social.linking import CoinLinker

KRAKEN_ASSETPAIRS = "kraken_api/assetpairs/AssetPairs_2026-03-06.json.gz"
CCXT_CODES = {"XBT": "BTC", "XDG": "DOGE"}  # Kraken's legacy codes, as ccxt unifies them
READERS = {
    "reddit_rCryptoCurrency_posts_2025-04.csv.gz": ("social", records.reddit_posts_csv),
    "reddit_rCryptoCurrency_bitcoin_search_2019-2024.csv.gz": ("social", records.reddit_search_csv),
    "crypto_tweets_2021.csv.gz": ("social", records.tweets_csv),
    "cryptopanic_news_feb2025.csv.gz": ("news", cryptopanic_csv),
}


def kraken_universe(data_dir: Path = SHARED_DATA_DIR) -> list[str]:
    """Base coins of the USD/USDT/USDC pairs of the newest recorded Kraken AssetPairs."""
    with gzip.open(data_dir / KRAKEN_ASSETPAIRS, "rt", encoding="utf-8") as handle:
        raw = json.load(handle)
    pairs = raw.get("result", raw)
    bases = set()
    for pair in pairs.values():
        base, _, quote = str(pair.get("wsname") or "").partition("/")
        if quote in ("USD", "USDT", "USDC") and base:
            bases.add(CCXT_CODES.get(base, base))
    return sorted(bases)


def read_posts(file: str, data_dir: Path = SHARED_DATA_DIR) -> pd.DataFrame:
    """A recorded file's posts with ``row`` (the 0-based CSV row in ``ref``)."""
    folder, reader = READERS[file]
    frame = reader(data_dir / folder / file)
    frame["row"] = frame["ref"].str.rsplit("=", n=1).str[1].astype(int)
    return frame


def _labels(package: str, name: str) -> pd.DataFrame:
    with resources.as_file(resources.files(package) / "data" / name) as path:
        return pd.read_csv(Path(path))


def linking_precision(data_dir: Path = SHARED_DATA_DIR) -> dict:
    """Share of the labelled (post, coin) links that are correct, and whether the linker still
    proposes each labelled link (a link it no longer makes is reported, not counted)."""
    labels = _labels("crypto_assets.social", "linking_labels.csv")
    linker = CoinLinker.for_universe(kraken_universe(data_dir))
    texts = pd.concat(
        [read_posts(f, data_dir).assign(file=f) for f in labels["file"].unique()], ignore_index=True
    )
    merged = labels.merge(texts[["file", "row", "text"]], on=["file", "row"], how="left")
    if merged["text"].isna().any():
        raise ValueError(
            f"{int(merged['text'].isna().sum())} labelled rows not found in their files"
        )
    proposed = [
        coin in {x.coin for x in linker.link(text)}
        for coin, text in zip(merged["coin"], merged["text"], strict=True)
    ]
    merged["proposed"] = proposed
    kept = merged[merged["proposed"]]
    by_source = kept.groupby("file")["correct"].agg(["size", "mean"]).round(3)
    return {
        "n": len(kept),
        "precision": float(kept["correct"].mean()) if len(kept) else float("nan"),
        "no_longer_proposed": int((~merged["proposed"]).sum()),
        "by_file": by_source.to_dict(orient="index"),
    }


def event_classifier_report(data_dir: Path = SHARED_DATA_DIR) -> dict:
    """Accuracy and per-class F1 of the headline rules per stratum of the labelled set."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    labels = _labels("crypto_assets.news", "event_labels.csv")
    texts = read_posts("cryptopanic_news_feb2025.csv.gz", data_dir)
    merged = labels.merge(texts[["row", "text"]], on="row", how="left")
    merged["pred"] = classify_headlines(merged["text"]).astype(str)
    out: dict = {}
    for stratum, part in [("all", merged), *merged.groupby("stratum")]:
        present = sorted(set(part["label"]) | set(part["pred"]))
        p, r, f, n = precision_recall_fscore_support(
            part["label"], part["pred"], labels=present, zero_division=0
        )
        out[str(stratum)] = {
            "n": len(part),
            "accuracy": float((part["label"] == part["pred"]).mean()),
            "macro_f1_present_classes": float(
                f1_score(
                    part["label"], part["pred"], labels=present, average="macro", zero_division=0
                )
            ),
            "per_class": {
                c: {
                    "precision": float(pp),
                    "recall": float(rr),
                    "f1": float(ff),
                    "support": int(nn),
                }
                for c, pp, rr, ff, nn in zip(present, p, r, f, n, strict=True)
                if c in EVENT_CLASSES
            },
        }
    return out
