"""`crypto-assets sentiment ...`: train, evaluate and score from the command line.

Machine-readable output only on stdout (one JSON object with --json); progress and logs go to
stderr so that `... --json | jq` works. `evaluate` uses the MLflow champion; when none exists
it trains the full model first (minutes on CPU) unless --no-train is given, in which case it
exits with code 2 and says so.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from crypto_assets.settings import Settings

sentiment_app = typer.Typer(help="Crypto text sentiment: fine-tuned MiniLM scorer.")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    if verbose:
        logging.getLogger("crypto_assets").setLevel(logging.INFO)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@sentiment_app.command("train")
def train_cmd(
    data: Annotated[
        Path | None, typer.Option(help="labelled CSV(.gz) with text,label (default: shared set)")
    ] = None,
    preset: Annotated[str, typer.Option(help="full (product) or tiny (smoke test)")] = "full",
    json_out: Annotated[bool, typer.Option("--json", help="print a JSON summary")] = False,
) -> None:
    """Fine-tune, evaluate, register in MLflow; promote only if macro-F1 improves."""
    _setup_logging(True)
    from crypto_assets.sentiment import service
    from crypto_assets.sentiment.training import TrainConfig

    try:
        registered = service.train(Settings(), data, TrainConfig.preset_named(preset))
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    summary = {
        "version": registered.version,
        "promoted": registered.promoted,
        "champion_version": registered.champion_version,
        "decision": registered.reason,
        "run_id": registered.run_id,
        "device": registered.result.device,
        **registered.result.metrics,
    }
    if json_out:
        typer.echo(json.dumps(summary))
    else:
        for key, value in summary.items():
            typer.echo(f"{key}: {value}")


@sentiment_app.command("evaluate")
def evaluate_cmd(
    labels: Annotated[Path, typer.Option(help="CSV(.gz) with text,label (0/1/2)")],
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    no_train: Annotated[
        bool, typer.Option("--no-train", help="fail instead of training when no model exists")
    ] = False,
    batch_size: Annotated[int | None, typer.Option(help="inference batch size")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda")] = None,
) -> None:
    """Accuracy, macro-F1 and per-class F1 of the champion scorer on a labelled file."""
    _setup_logging(True)
    from crypto_assets.sentiment import service
    from crypto_assets.sentiment.evaluation import LabelFileError
    from crypto_assets.sentiment.model import ModelNotAvailableError
    from crypto_assets.sentiment.tracking import NoChampionError

    try:
        result = service.evaluate(
            Settings(), labels, train_if_missing=not no_train, device=device, batch_size=batch_size
        )
    except (LabelFileError, NoChampionError, ModelNotAvailableError, ValueError) as exc:
        _fail(str(exc))
    keys = ("n", "accuracy", "macro_f1", "per_class_f1", "model", "texts_per_second", "device")
    out = {k: result[k] for k in keys}
    if json_out:
        typer.echo(json.dumps(out))
    else:
        typer.echo(
            f"n={out['n']} accuracy={out['accuracy']:.4f} macro_f1={out['macro_f1']:.4f} "
            f"per_class_f1={out['per_class_f1']} model={out['model']} "
            f"device={out['device']} texts/s={out['texts_per_second']:.1f}"
        )


@sentiment_app.command("score")
def score_cmd(
    text: Annotated[str, typer.Argument(help="the text to score")],
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Class and score (P(bullish) - P(bearish), in [-1, 1]) of one text."""
    _setup_logging(False)
    from crypto_assets.sentiment import service
    from crypto_assets.sentiment.model import ModelNotAvailableError
    from crypto_assets.sentiment.tracking import NoChampionError

    try:
        label, value = service.score(Settings(), text)
    except (NoChampionError, ModelNotAvailableError, ValueError) as exc:
        _fail(str(exc))
    if json_out:
        typer.echo(json.dumps({"label": label, "score": value}))
    else:
        typer.echo(f"{label} {value:+.4f}")
