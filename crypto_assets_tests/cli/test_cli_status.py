"""`crypto-assets status`: the signal models' table."""

from __future__ import annotations

from rich.console import Console

import crypto_assets.cli as cli


def test_status_shows_the_stored_days_only_for_models_trained_with_history(monkeypatch) -> None:
    monkeypatch.setattr(cli, "_print_onchain_summary", lambda settings: None)
    monkeypatch.setattr(cli, "out", Console(width=250))  # every column in full
    plain = {"horizon": "7d", "model": "m7", "in_use": "1", "rank_ic": 0.09, "ece": 0.02}
    deeper = {**plain, "horizon": "30d", "stored_rank_ic": 0.1353, "stored_ece": 0.1055}
    for models, shown in (([plain], False), ([plain, deeper], True)):
        with cli.out.capture() as captured:
            cli._print_status_tables(None, [], models)
        text = captured.get()
        assert ("ECE (stored days)" in text) is shown and "0.02" in text
        assert ("0.1055" in text) is shown
